"""Callbacks the call model reports: their names, groups and shape.

Status events use Plivo's MPC event names, grouped as `status_callback_events` subscribes to them
(https://www.plivo.com/docs/voice/xml/multipartycall, "Status Callback Events"); recording events
use the names of the API's recording callback. Parameters carry the API's names and, as an HTTP
callback carries them (form fields or a query string), every value is a string: booleans
``"true"``/``"false"``, numbers in decimal, absent values ``""``.

A few events are mpcmix's own report of what happened, with no real callback behind them
(`url` is always None): `MPCPlayStarted`, `MPCPlayEnded`, `MPCPlayFailed`, `MPCMediaFailed`,
`MPCSpeakStarted`, `MPCSpeakEnded`, `MPCSpeakSilent` (no text-to-speech engine: silence) and
`MPCMediaDelayed` (a medium was ready only after the moment it was first needed: the server
prepares media off the real-time clock's path).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# mpc-state-changes
MPC_INITIALIZED = "MPCInitialized"
MPC_START = "MPCStart"
MPC_END = "MPCEnd"
# participant-state-changes
PARTICIPANT_JOIN = "ParticipantJoin"
PARTICIPANT_EXIT = "ParticipantExit"
PARTICIPANT_MUTE = "ParticipantMute"
PARTICIPANT_UNMUTE = "ParticipantUnmute"
PARTICIPANT_HOLD = "ParticipantHold"
PARTICIPANT_UNHOLD = "ParticipantUnhold"
PARTICIPANT_COACH_MODE_START = "ParticipantCoachModeStart"
PARTICIPANT_COACH_MODE_STOP = "ParticipantCoachModeStop"
# participant-speak-events
PARTICIPANT_SPEAK_START = "ParticipantSpeakStart"
PARTICIPANT_SPEAK_STOP = "ParticipantSpeakStop"
# participant-digit-input-events
PARTICIPANT_DIGIT_INPUT = "ParticipantDigitInput"
# add-participant-api-events
ADD_PARTICIPANT_INITIATED = "AddParticipantByAPIActionInitiated"
ADD_PARTICIPANT_COMPLETED = "AddParticipantByAPIActionCompleted"
# recording_callback_url: the MPC's recording
RECORDING_INITIATED = "MPCRecordingInitiated"
RECORDING_PAUSED = "MPCRecordingPaused"
RECORDING_RESUMED = "MPCRecordingResumed"
RECORDING_COMPLETED = "MPCRecordingCompleted"
RECORDING_FAILED = "MPCRecordingFailed"
# recording_callback_url: a participant's recording (the API's participant-level recording page)
PARTICIPANT_RECORDING_INITIATED = "ParticipantRecordingInitiated"
PARTICIPANT_RECORDING_PAUSED = "ParticipantRecordingPaused"
PARTICIPANT_RECORDING_RESUMED = "ParticipantRecordingResumed"
PARTICIPANT_RECORDING_COMPLETED = "ParticipantRecordingCompleted"
PARTICIPANT_RECORDING_FAILED = "ParticipantRecordingFailed"
#: A participant recording's event of each MPC recording event.
PARTICIPANT_RECORDING = {
    RECORDING_INITIATED: PARTICIPANT_RECORDING_INITIATED,
    RECORDING_PAUSED: PARTICIPANT_RECORDING_PAUSED,
    RECORDING_RESUMED: PARTICIPANT_RECORDING_RESUMED,
    RECORDING_COMPLETED: PARTICIPANT_RECORDING_COMPLETED,
    RECORDING_FAILED: PARTICIPANT_RECORDING_FAILED,
}
#: Recording events that open (initiated) and close (completed, failed) a recording.
RECORDING_OPENED = frozenset({RECORDING_INITIATED, PARTICIPANT_RECORDING_INITIATED})
RECORDING_CLOSED = frozenset({RECORDING_COMPLETED, RECORDING_FAILED,
                              PARTICIPANT_RECORDING_COMPLETED, PARTICIPANT_RECORDING_FAILED})
# on_exit_action_url: the request the API makes when a participant leaves
ON_EXIT_ACTION = "OnExitAction"
# mpcmix's own reports (never sent anywhere)
PLAY_STARTED = "MPCPlayStarted"
PLAY_ENDED = "MPCPlayEnded"
PLAY_FAILED = "MPCPlayFailed"
MEDIA_FAILED = "MPCMediaFailed"
MEDIA_DELAYED = "MPCMediaDelayed"
SPEAK_STARTED = "MPCSpeakStarted"
SPEAK_ENDED = "MPCSpeakEnded"
SPEAK_SILENT = "MPCSpeakSilent"

#: The `status_callback_events` group each status event belongs to.
EVENT_GROUPS: dict[str, str] = {
    MPC_INITIALIZED: "mpc-state-changes",
    MPC_START: "mpc-state-changes",
    MPC_END: "mpc-state-changes",
    PARTICIPANT_JOIN: "participant-state-changes",
    PARTICIPANT_EXIT: "participant-state-changes",
    PARTICIPANT_MUTE: "participant-state-changes",
    PARTICIPANT_UNMUTE: "participant-state-changes",
    PARTICIPANT_HOLD: "participant-state-changes",
    PARTICIPANT_UNHOLD: "participant-state-changes",
    PARTICIPANT_COACH_MODE_START: "participant-state-changes",
    PARTICIPANT_COACH_MODE_STOP: "participant-state-changes",
    PARTICIPANT_SPEAK_START: "participant-speak-events",
    PARTICIPANT_SPEAK_STOP: "participant-speak-events",
    PARTICIPANT_DIGIT_INPUT: "participant-digit-input-events",
    ADD_PARTICIPANT_INITIATED: "add-participant-api-events",
    ADD_PARTICIPANT_COMPLETED: "add-participant-api-events",
}

#: Every group `status_callback_events` may name, and the default subscription.
EVENT_GROUP_NAMES = (
    "mpc-state-changes",
    "participant-state-changes",
    "participant-speak-events",
    "participant-digit-input-events",
    "add-participant-api-events",
)
DEFAULT_EVENT_GROUPS = frozenset({"mpc-state-changes", "participant-state-changes"})


@dataclass(frozen=True)
class Event:
    """One callback the API would send (or, with `url` None, would report).

    `at_ms` is the timeline time; `name` the event name (also ``params["EventName"]`` where the
    callback carries one); `url`/`method` where it is sent (`url` None where none was given);
    `params` the callback's parameters, every value a string.
    """

    at_ms: int
    name: str
    url: str | None
    method: str
    params: dict[str, str]
    #: The MPC the event belongs to, where its parameters do not name it (a participant
    #: recording's callback carries no MPCUUID).
    mpc_uuid: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"at_ms", "name", "url", "method", "params"}``."""
        return {
            "at_ms": self.at_ms,
            "name": self.name,
            "url": self.url,
            "method": self.method,
            "params": dict(self.params),
        }


def callback_value(value: Any) -> str:
    """A parameter value as an HTTP callback carries it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def recording_failed_at_restart(initiated: dict[str, Any], seconds: float, timestamp: str,
                                sequence: int) -> dict[str, Any]:
    """The failure callback of a recording a server's stop cut short, from its Initiated
    callback's parameters: `seconds` a decoder plays of its file (its duration and end time),
    sent at `timestamp` (the restart's wall time) with `sequence` as its SequenceNumber."""
    participant = initiated.get("EventName") == PARTICIPANT_RECORDING_INITIATED
    return {
        **initiated,
        "EventName": PARTICIPANT_RECORDING_FAILED if participant else RECORDING_FAILED,
        "EventTimestamp": timestamp,
        "RecordingDuration": str(round(seconds)),
        "RecordingEndTime": _plus_seconds(initiated.get("RecordingStartTime"), seconds),
        "SequenceNumber": str(sequence),
    }


def _plus_seconds(timestamp: Any, seconds: float) -> Any:
    if not isinstance(timestamp, str):
        return timestamp
    try:
        start = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    return (start + timedelta(seconds=int(seconds))).isoformat(sep=" ", timespec="seconds")
