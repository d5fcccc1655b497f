"""The call model's callbacks: status, call-status, recording and mpcmix's own events.

Each event is queued (`Event`, in time order) with the parameters its callback carries, every
value a string as a form-encoded callback carries it, and a `SequenceNumber` rising per MPC.
Who receives what (subscriptions, per-participant copies) is decided here and only here.
"""

from __future__ import annotations

import bisect
from typing import Any

from mpcmix.routing import Role

from . import events as ev
from .events import Event, callback_value
from .records import MpcRecord, ParticipantRecord, RecordingRecord
from .serialize import coach_mode
from .state import ModelState

#: ParticipantRole in callbacks, spelt as the API's status callback documents it.
ROLE_IN_CALLBACKS = {Role.CUSTOMER: "Customer", Role.AGENT: "Agent",
                     Role.SUPERVISOR: "Supervisor", Role.AI_AGENT: "ai-agent"}


class Notifier(ModelState):
    """Queues the callbacks the API sends (see the module docstring)."""

    def _push(self, event: Event) -> None:
        if self._events and event.at_ms < self._events[-1].at_ms:
            bisect.insort(self._events, event, key=lambda e: e.at_ms)
        else:
            self._events.append(event)

    def _next_sequence(self, mpc: MpcRecord) -> str:
        mpc.sequence += 1
        return str(mpc.sequence)

    def _head(self, name: str, t: int) -> dict[str, str]:
        return {"EventName": name, "EventTimestamp": callback_value(self._fmt.timestamp(t))}

    def _participant_params(self, p: ParticipantRecord) -> dict[str, str]:
        return {
            "MemberID": p.member_id,
            "MemberAddress": p.to,
            "ParticipantRole": ROLE_IN_CALLBACKS[p.role],
            "ParticipantCallUUID": p.call_uuid,
            "ParticipantCallFrom": p.from_number,
            "ParticipantCallTo": p.to,
            "ParticipantCallDirection": "outbound",
            "ParticipantCoachMode": callback_value(coach_mode(p)),
        }

    def _status_event(self, name: str, p: ParticipantRecord, t: int,
                      extra: dict[str, Any] | None = None) -> None:
        """A participant's own event, to its status_callback_url if it subscribed."""
        if ev.EVENT_GROUPS[name] not in p.status_callback_events:
            return
        mpc = p.mpc
        params = {**self._head(name, t), "MPCUUID": mpc.uuid, "MPCName": mpc.name,
                  **self._participant_params(p)}
        params.update({k: callback_value(v) for k, v in (extra or {}).items()})
        params["SequenceNumber"] = self._next_sequence(mpc)
        self._push(Event(t, name, p.status_callback_url, p.status_callback_method, params))

    def _call_status(self, p: ParticipantRecord, call_uuid: str, to: str, status: str, t: int,
                     extra: dict[str, str] | None = None) -> None:
        """A call leg's status (ringing, in-progress, completed, no-answer) to the participant's
        call_status_callback_url, as the Call API reports a call's progress."""
        if not p.call_status_callback_url:
            return
        params = {"Event": "CallStatus", "CallUUID": call_uuid, "CallStatus": status,
                  "From": p.from_number, "To": to, "Direction": "outbound",
                  "Timestamp": callback_value(self._fmt.timestamp(t)), **(extra or {})}
        self._push(Event(t, "CallStatus", p.call_status_callback_url,
                         p.call_status_callback_method, params))

    def _mpc_event(self, name: str, mpc: MpcRecord, t: int,
                   extra: dict[str, Any] | None = None) -> None:
        """An MPC state change, to the status_callback_url of every participant in the MPC at
        that instant that subscribed (each carrying its own participant fields); participants
        that gave no URL share one report with url None."""
        group = ev.EVENT_GROUPS[name]
        recipients = [p for p in mpc.participants
                      if (p.exited_ms is None or p.exited_ms == t)
                      and group in p.status_callback_events]
        if not recipients:
            return
        base = {**self._head(name, t), "MPCUUID": mpc.uuid, "MPCName": mpc.name}
        tail = {k: callback_value(v) for k, v in (extra or {}).items()}
        tail["SequenceNumber"] = self._next_sequence(mpc)
        without_url = [p for p in recipients if not p.status_callback_url]
        for p in recipients:
            if p.status_callback_url:
                params = {**base, **self._participant_params(p), **tail}
                self._push(Event(t, name, p.status_callback_url, p.status_callback_method,
                                 params))
        if without_url:
            self._push(Event(t, name, None, without_url[0].status_callback_method,
                             {**base, **tail}))

    def _recording_event(self, name: str, rec: RecordingRecord, t: int) -> None:
        """A recording's event, with the parameters the API lists: the MPC's recording names
        its MPC (MPCName, MPCUUID), a participant's its member (MemberID) and sends the
        ParticipantRecording* event of `name` (the MPCRecording* one)."""
        mpc = rec.mpc
        if rec.member is None:
            params = {**self._head(name, t), "MPCName": mpc.name, "MPCUUID": mpc.uuid}
        else:
            name = ev.PARTICIPANT_RECORDING[name]
            params = {**self._head(name, t), "MemberID": rec.member.member_id}
        params.update({
            "RecordingDuration": str((rec.duration_ms(t) + 500) // 1000),
            "RecordingEndTime": callback_value(self._fmt.timestamp(rec.end_ms)),
            "RecordingFormat": rec.file_format,
            "RecordingResourceURL": self._api_base + self._fmt.recording_resource_uri(
                rec.recording_id),
            "RecordingStartTime": callback_value(self._fmt.timestamp(rec.begun_ms)),
            "RecordingURL": rec.url,
            "RecordingUUID": rec.recording_id,
            "SequenceNumber": self._next_sequence(mpc),
        })
        self._push(Event(t, name, rec.callback_url, rec.callback_method, params, mpc.uuid))

    def _report(self, name: str, mpc: MpcRecord, t: int, params: dict[str, Any]) -> None:
        """One of mpcmix's own reports (no real callback: url None)."""
        body = {**self._head(name, t), **{k: callback_value(v) for k, v in params.items()}}
        body["SequenceNumber"] = self._next_sequence(mpc)
        self._push(Event(t, name, None, "POST", body))

    def _media_failed(self, mpc: MpcRecord, p: ParticipantRecord, t: int, purpose: str,
                      ref: str, error: str) -> None:
        self._report(ev.MEDIA_FAILED, mpc, t, {
            "MPCUUID": mpc.uuid, "MPCName": mpc.name, "MemberID": p.member_id,
            "MediaPurpose": purpose, "MediaURL": ref, "Error": error,
        })
