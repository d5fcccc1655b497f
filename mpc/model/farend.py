"""The far end: what a participant's phone does (answer, hang up, press digits).

Not API operations: a scenario's `hangup`, `answer` and `dtmf`, and the server's
``/emulator/calls/{call_uuid}/...``. Each acts on a call by its `call_uuid`.
"""

from __future__ import annotations

from typing import Any

from mpcmix.errors import ValidationError

from . import events as ev
from .lifecycle import Lifecycle
from .params import parse
from .records import EXIT_HANGUP, EndedParticipant, ParticipantRecord


class FarEnd(Lifecycle):
    """The participant's phone."""

    def answer(self, now_ms: int, call_uuid: str) -> None:
        """The phone of `call_uuid` answers now (whatever its line says)."""
        self._begin(now_ms)
        p = self._live_call(call_uuid, "answer")
        if p.answered_ms is not None:
            raise ValidationError(f"call {call_uuid!r} is already answered")
        leg = next(leg for leg in p.legs if leg.call_uuid == call_uuid)
        self._answer(p, now_ms, leg)
        self._changed(now_ms)

    def hangup(self, now_ms: int, call_uuid: str) -> None:
        """The phone of `call_uuid` hangs up (Participant Call Hangup). A call that has already
        ended is left as it is."""
        self._begin(now_ms)
        p = self._far_end_call(call_uuid)
        if isinstance(p, EndedParticipant) or p.exited_ms is not None:
            return
        self._exit(p, now_ms, EXIT_HANGUP)
        self._changed(now_ms)

    def dtmf(self, now_ms: int, call_uuid: str, digits: Any) -> None:
        """The phone of `call_uuid` presses `digits` (0-9, #, *).

        A participant waiting for its confirm_key enters at that key (other keys do nothing);
        one in the MPC reports each digit (ParticipantDigitInput, if subscribed).
        """
        self._begin(now_ms)
        text: str = parse("dtmf", {"digits": digits})["digits"]
        p = self._live_call(call_uuid, "send digits")
        if p.answered_ms is None:
            raise ValidationError(f"call {call_uuid!r} is ringing: it cannot send digits "
                                  "before it answers")
        for digit in text:
            if p.is_awaiting_confirm:
                if digit == p.confirm_key:
                    self._enter(p, now_ms)
            elif p.is_entered:
                self._status_event(ev.PARTICIPANT_DIGIT_INPUT, p, now_ms, {"DigitInput": digit})
        self._changed(now_ms)

    def _live_call(self, call_uuid: str, action: str) -> ParticipantRecord:
        """The participant of a call that has not ended (400 naming `action` if it has)."""
        p = self._far_end_call(call_uuid)
        if isinstance(p, EndedParticipant) or p.exited_ms is not None:
            raise ValidationError(f"call {call_uuid!r} has ended ({p.exit_cause}); it cannot "
                                  f"{action}")
        return p
