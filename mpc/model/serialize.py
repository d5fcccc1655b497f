"""The API's JSON objects, exactly as the real API's recorded bodies show them.

Field names, `null`s and types follow the bodies the official SDKs keep as recorded responses
(docs/conformance.md): an MPC object has 16 fields (no `max_duration` or `max_participants`,
which only the attribute table lists), a participant 17 (with `member_address`); list items are
these full objects. Timestamps are ``YYYY-MM-DD HH:MM:SS+hh:mm``, the epoch plus the timeline time,
truncated to the second. Durations are whole seconds between those truncated timestamps, so a
serialised `duration` always equals `end_time - start_time` as a reader computes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .records import MpcRecord, ParticipantRecord

#: The fields of an MPC object (Get MPC without api_id, and each item of `list()`).
MPC_FIELDS = (
    "billed_amount", "billed_duration", "creation_time", "duration", "end_time",
    "friendly_name", "mpc_uuid", "participants", "recording", "resource_uri", "start_time",
    "status", "stay_alone", "sub_account", "termination_cause", "termination_cause_code",
)
#: The fields of a participant object (Get Participant without api_id, and each item of
#: `list_participants()`).
PARTICIPANT_FIELDS = (
    "billed_amount", "billed_duration", "call_uuid", "coach_mode", "duration", "end_mpc_on_exit",
    "exit_cause", "exit_time", "hold", "join_time", "member_address", "member_id", "mpc_uuid",
    "mute", "resource_uri", "role", "start_mpc_on_enter",
)


def whole_seconds(start_ms: int, end_ms: int) -> int:
    """Seconds from `start_ms` to `end_ms`, as the difference of their truncated timestamps."""
    return end_ms // 1000 - start_ms // 1000


def billed_duration(duration_s: int) -> int:
    """The duration rounded up to whole minutes, in seconds, at least 60."""
    return max(60, -(-duration_s // 60) * 60)


def list_uri(auth_id: str, limit: int, offset: int) -> str:
    """A page of account `auth_id`'s MPC list, as `meta.next`/`meta.previous` give it."""
    return f"/v1/Account/{auth_id}/MultiPartyCall/?limit={limit}&offset={offset}"


@dataclass(frozen=True)
class Serializer:
    """Turns records into the API's JSON for one account.

    `epoch` is the wall-clock time of timeline 0 (timezone-aware); `rate_per_minute` the price of
    a billed minute, in USD.
    """

    auth_id: str
    epoch: datetime
    rate_per_minute: Decimal

    # -- scalars ---------------------------------------------------------------------------------

    def timestamp(self, ms: int | None) -> str | None:
        """``YYYY-MM-DD HH:MM:SS+hh:mm`` for timeline time `ms`, truncated to the second."""
        if ms is None:
            return None
        moment = self.epoch + timedelta(milliseconds=ms)
        return moment.isoformat(sep=" ", timespec="seconds")

    def moment(self, ms: int) -> datetime:
        """The wall-clock time of timeline time `ms`, truncated to the second."""
        return (self.epoch + timedelta(milliseconds=ms)).replace(microsecond=0)

    def amount(self, billed_s: int) -> str:
        """The billed amount of `billed_s` seconds (whole minutes), five decimals."""
        minutes = Decimal(billed_s // 60)
        value = (self.rate_per_minute * minutes).quantize(Decimal("0.00001"), ROUND_HALF_UP)
        return f"{value:.5f}"

    # -- URIs ------------------------------------------------------------------------------------

    def mpc_uri(self, mpc: MpcRecord) -> str:
        """The MPC's resource URI: by name while it is live, by uuid once it has ended.

        A name finds an MPC only while it is live, so an ended MPC's URI names its uuid.
        """
        ident = f"name_{mpc.name}" if mpc.is_live else f"uuid_{mpc.uuid}"
        return f"/v1/Account/{self.auth_id}/MultiPartyCall/{ident}/"

    def participants_uri(self, mpc: MpcRecord) -> str:
        """The URI of the MPC's participant list."""
        return self.mpc_uri(mpc) + "Participant/"

    def participant_uri(self, p: ParticipantRecord) -> str:
        """The participant's resource URI."""
        return self.participants_uri(p.mpc) + f"{p.member_id}/"

    def list_uri(self, limit: int, offset: int) -> str:
        """A page of the MPC list, as `meta.next`/`meta.previous` give it."""
        return list_uri(self.auth_id, limit, offset)

    def participants_page_uri(self, participants_uri: str, limit: int, offset: int) -> str:
        """A page of an MPC's participant list, as `meta.next`/`meta.previous` give it."""
        return f"{participants_uri}?limit={limit}&offset={offset}"

    def recording_resource_uri(self, recording_id: str) -> str:
        """The recording's resource (`RecordingResourceURL` of the recording callbacks)."""
        return f"/v1/Account/{self.auth_id}/Recording/{recording_id}/"

    # -- objects ---------------------------------------------------------------------------------

    def mpc_billing(self, mpc: MpcRecord) -> tuple[int | None, int | None, str | None]:
        """(duration, billed_duration, billed_amount): set once the MPC has ended."""
        if mpc.end_ms is None:
            return None, None, None
        duration = 0 if mpc.start_ms is None else whole_seconds(mpc.start_ms, mpc.end_ms)
        billed = billed_duration(duration)
        return duration, billed, self.amount(billed)

    def mpc_object(self, mpc: MpcRecord) -> dict[str, Any]:
        """The MPC as Get MPC returns it, without api_id (`MPC_FIELDS`)."""
        duration, billed, amount = self.mpc_billing(mpc)
        return {
            "billed_amount": amount,
            "billed_duration": billed,
            "creation_time": self.timestamp(mpc.created_ms),
            "duration": duration,
            "end_time": self.timestamp(mpc.end_ms),
            "friendly_name": mpc.name,
            "mpc_uuid": mpc.uuid,
            "participants": self.participants_uri(mpc),
            "recording": recording_status(mpc),
            "resource_uri": self.mpc_uri(mpc),
            "start_time": self.timestamp(mpc.start_ms),
            "status": mpc.status.value,
            "stay_alone": mpc.stay_alone,
            "sub_account": None,
            "termination_cause": mpc.termination_cause,
            "termination_cause_code": mpc.termination_cause_code,
        }

    def participant_billing(
        self, p: ParticipantRecord
    ) -> tuple[int | None, int | None, str | None]:
        """(duration, billed_duration, billed_amount): set when a participant that joined exits."""
        if p.exited_ms is None or p.joined_ms is None:
            return None, None, None
        duration = whole_seconds(p.joined_ms, p.exited_ms)
        billed = billed_duration(duration)
        return duration, billed, self.amount(billed)

    def participant_object(self, p: ParticipantRecord) -> dict[str, Any]:
        """The participant as Get Participant returns it, without api_id.

        An exited participant's coach_mode, hold and mute read null (as the API documents).
        """
        duration, billed, amount = self.participant_billing(p)
        exited = p.exited_ms is not None
        return {
            "billed_amount": amount,
            "billed_duration": billed,
            "call_uuid": p.call_uuid,
            "coach_mode": None if exited else coach_mode(p),
            "duration": duration,
            "end_mpc_on_exit": p.end_mpc_on_exit,
            "exit_cause": p.exit_cause,
            "exit_time": self.timestamp(p.exited_ms),
            "hold": None if exited else p.hold,
            "join_time": self.timestamp(p.joined_ms),
            "member_address": p.to,
            "member_id": p.member_id,
            "mpc_uuid": p.mpc.uuid,
            "mute": None if exited else p.mute,
            "resource_uri": self.participant_uri(p),
            "role": p.role.value,
            "start_mpc_on_enter": p.start_mpc_on_enter,
        }


def coach_mode(p: ParticipantRecord) -> bool:
    """coach_mode as the API reads it: the supervisor's setting, false for every other role."""
    return p.coach_mode if p.is_supervisor else False


#: The `recording` field of an ended MPC.
ENDED_RECORDING = None


def recording_status(mpc: MpcRecord) -> str | None:
    """The MPC's `recording` field: not-recording, recording or paused; null once it has
    ended (as every recorded body of an ended MPC shows)."""
    if not mpc.is_live:
        return ENDED_RECORDING
    rec = mpc.recording
    if rec is None or rec.state == "stopped":
        return "not-recording"
    return "paused" if rec.state == "paused" else "recording"
