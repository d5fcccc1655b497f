"""The oracle: what the real API answers, operation by operation, and what its callbacks carry.

Re-typed from the official SDKs' recorded bodies and tests (`recorded.py` cites one body of each
operation; the research behind the majority calls is summarised in docs/conformance.md) and from
the API's documentation pages (callback events and parameters). For each operation: the success
status, the body's keys with their JSON types (``null`` where a value may be null; a key that may
be missing is listed in `OPTIONAL`), and the texts of its messages. For each kind of callback:
its `EventName` values and its parameter names.
"""

from __future__ import annotations

from typing import Any

# JSON types, as the recorded bodies show them ("number" would be a non-integer number: none is).
STR, INT, BOOL, NULL = "string", "integer", "boolean", "null"

#: The MPC object (Get MPC without api_id; each object of List MPCs): 16 keys in every recorded
#: Get and List body of go, ruby, php, dotnet, java and node.
MPC: dict[str, Any] = {
    "billed_amount": (STR, NULL),  # a five-decimal string ("0.00500"); python's number rejected
    "billed_duration": (INT, NULL),
    "creation_time": (STR, NULL),
    "duration": (INT, NULL),
    "end_time": (STR, NULL),
    "friendly_name": (STR,),
    "mpc_uuid": (STR,),
    "participants": (STR,),
    "recording": (STR, NULL),  # "not-recording" while live, null once ended
    "resource_uri": (STR,),
    "start_time": (STR, NULL),
    "status": (STR,),
    "stay_alone": (BOOL,),
    "sub_account": (STR, NULL),
    "termination_cause": (STR, NULL),
    "termination_cause_code": (INT, NULL),
}
#: The participant object (Get Participant without api_id; each object of List Participants):
#: 17 keys with member_address (go, dotnet, java and the current docs).
PARTICIPANT: dict[str, Any] = {
    "billed_amount": (STR, NULL),
    "billed_duration": (INT, NULL),
    "call_uuid": (STR,),
    "coach_mode": (BOOL, NULL),  # null for an exited participant
    "duration": (INT, NULL),
    "end_mpc_on_exit": (BOOL,),
    "exit_cause": (STR, NULL),
    "exit_time": (STR, NULL),
    "hold": (BOOL, NULL),
    "join_time": (STR, NULL),  # null only while the call rings (mpcmix lists ringing members)
    "member_address": (STR,),
    "member_id": (STR,),
    "mpc_uuid": (STR,),
    "mute": (BOOL, NULL),
    "resource_uri": (STR,),
    "role": (STR,),
    "start_mpc_on_enter": (BOOL,),
}
META = {"count": (INT,), "limit": (INT,), "next": (STR, NULL), "offset": (INT,),
        "previous": (STR, NULL)}
RECORDING_STARTED = {"api_id": (STR,), "message": (STR,), "recording_id": (STR,),
                     "recording_url": (STR,)}
QUEUED = {"api_id": (STR,), "message": (STR,), "mpcMemberId": [(STR,)], "mpcName": (STR,)}

#: operation -> its shape (None: no body) and success status.
SHAPES: dict[str, dict[str, Any] | None] = {
    "list": {"api_id": (STR,), "meta": META, "objects": [MPC]},
    "get": {"api_id": (STR,), **MPC},
    "start": None,
    "end": None,
    "add_participant": {"api_id": (STR,), "calls": [{"to": (STR,), "from": (STR,),
                                                     "call_uuid": (STR,)}],
                        "message": (STR,), "request_uuid": (STR,)},
    "list_participants": {"api_id": (STR,), "meta": META, "objects": [PARTICIPANT]},
    "get_participant": {"api_id": (STR,), **PARTICIPANT},
    # one string per setting given (the recorded body gave mute and hold)
    "update_participant": {"api_id": (STR,), "mute": (STR,), "hold": (STR,),
                           "coach_mode": (STR,)},
    "kick_participant": None,
    "start_recording": RECORDING_STARTED,
    "stop_recording": None,
    "pause_recording": None,
    "resume_recording": None,
    "start_participant_recording": RECORDING_STARTED,
    "stop_participant_recording": None,
    "pause_participant_recording": None,
    "resume_participant_recording": None,
    "start_play_audio": QUEUED,
    "stop_play_audio": None,
    "start_speak": QUEUED,
    "stop_speak": None,
}
#: Keys of a shape a body may leave out.
OPTIONAL: dict[str, set[str]] = {
    "update_participant": {"mute", "hold", "coach_mode"},
    # 0 of 7 recorded Get Participant bodies have it, the current docs and List bodies do
    "get_participant": {"member_address"},
}
#: The success status of each operation, as the SDKs' tests mock it (go, ruby, php, dotnet, java
#: agree; python alone differs for start, end, add, update and start_recording, with
#: hand-written bodies) and the documentation pages state it.
STATUS: dict[str, int] = {
    "list": 200, "get": 200, "start": 204, "end": 204, "add_participant": 201,
    "list_participants": 200, "get_participant": 200, "update_participant": 202,
    "kick_participant": 204, "start_recording": 202, "stop_recording": 204,
    "pause_recording": 204, "resume_recording": 204, "start_participant_recording": 200,
    "stop_participant_recording": 204, "pause_participant_recording": 204,
    "resume_participant_recording": 204, "start_play_audio": 202, "stop_play_audio": 204,
    "start_speak": 202, "stop_speak": 204,
}
#: Refusals whose status a documentation page states.
ERROR_STATUS = {
    # "Returns 404 Not Found if the MPC is not found for the given name or UUID in the initiated
    # state." (Activate a multiparty call)
    "start_not_initialized": 404,
    # "Updating coach_mode is permitted only when invoking the API on a specific participant's
    # member ID. Triggering the API on all participants returns a 400 Bad Request error
    # response." (Update participant state)
    "coach_mode_on_all": 400,
}
#: Message texts, `{name}` the MPC's friendly name (recorded bodies; "succeded" sic in all six
#: recorded update bodies, the docs spell it "succeeded"; coach_mode's text is the docs' own).
MESSAGES = {
    "add_participant": "add participant action initiated",
    "update_participant.mute": "MPC: {name} mute/unmute member(s) succeded",
    "update_participant.hold": "MPC: {name} hold/unhold member(s) succeded",
    "update_participant.coach_mode": "MPC: {name} coach_mode enable/disable succeeded",
    "start_recording": "MPC: {name} record started",
    "start_participant_recording": "MPC: {name} participant record started",
    "start_play_audio": "play queued into MPC",
    "start_speak": "speak queued into MPC",
    "async": "async api spawned",
}
ASYNC = {"api_id": (STR,), "message": (STR,)}

# --- callbacks ---------------------------------------------------------------------------------

#: status_callback_events groups and their events (the XML MultiPartyCall page).
STATUS_EVENTS = {
    "mpc-state-changes": {"MPCInitialized", "MPCStart", "MPCEnd"},
    "participant-state-changes": {
        "ParticipantJoin", "ParticipantExit", "ParticipantMute", "ParticipantUnmute",
        "ParticipantHold", "ParticipantUnhold", "ParticipantCoachModeStart",
        "ParticipantCoachModeStop"},
    "participant-speak-events": {"ParticipantSpeakStart", "ParticipantSpeakStop"},
    "participant-digit-input-events": {"ParticipantDigitInput"},
    "add-participant-api-events": {"AddParticipantByAPIActionInitiated",
                                   "AddParticipantByAPIActionCompleted"},
}
#: Status callback parameters: those the XML page lists, and those a real MPC callback receiver
#: reads (the page's per-event tables could not be read).
STATUS_PARAMS_DOCUMENTED = {
    "EventName", "EventTimestamp", "MPCUUID", "MPCName", "MemberID", "ParticipantRole",
    "ParticipantCallUUID", "ParticipantCoachMode", "MPCDuration", "MPCBilledDuration",
    "MPCBilledAmount",
}
STATUS_PARAMS_OBSERVED = {
    "SequenceNumber", "DigitInput", "MPCTerminationCause", "MPCTerminationCauseCode",
    "AddParticipantAPIRequestOutcome", "MemberAddress", "ParticipantCallFrom",
    "ParticipantCallTo", "ParticipantCallDirection",
}
#: Parameters mpcmix adds (docs/conformance.md, "knowingly differs"): each event's own time and
#: cause under the names the on-exit request and the MPC object use.
STATUS_PARAMS_MPCMIX = {
    "MPCStartTime", "MPCEndTime", "ParticipantJoinTime", "ParticipantExitTime",
    "ParticipantExitCause", "RequestUUID",
}
#: What every status callback carries, and every participant's own event besides.
STATUS_PARAMS_ALWAYS = {"EventName", "EventTimestamp", "MPCUUID", "MPCName", "SequenceNumber"}
STATUS_PARAMS_PARTICIPANT = {"MemberID", "ParticipantRole", "ParticipantCallUUID",
                             "ParticipantCoachMode"}

#: Recording callbacks: the MPC's recording (MPC recording "Start recording" page) and a
#: participant's (participant-level recording "Start recording" page): events and parameters.
MPC_RECORDING_EVENTS = {"MPCRecordingInitiated", "MPCRecordingPaused", "MPCRecordingResumed",
                        "MPCRecordingCompleted", "MPCRecordingFailed"}
MPC_RECORDING_PARAMS = {
    "EventName", "EventTimestamp", "MPCName", "MPCUUID", "RecordingDuration",
    "RecordingEndTime", "RecordingFormat", "RecordingResourceURL", "RecordingStartTime",
    "RecordingURL", "RecordingUUID", "SequenceNumber",
}
PARTICIPANT_RECORDING_EVENTS = {
    "ParticipantRecordingInitiated", "ParticipantRecordingPaused",
    "ParticipantRecordingResumed", "ParticipantRecordingCompleted",
    "ParticipantRecordingFailed"}
PARTICIPANT_RECORDING_PARAMS = {
    "EventName", "EventTimestamp", "MemberID", "RecordingDuration", "RecordingEndTime",
    "RecordingFormat", "RecordingResourceURL", "RecordingStartTime", "RecordingURL",
    "RecordingUUID", "SequenceNumber",
}
#: The on-exit request (XML page, "On Exit Parameters").
ON_EXIT_PARAMS = {"MPCUUID", "MPCFriendlyName", "MemberID", "ParticipantCallUUID",
                  "ParticipantJoinTime", "ParticipantEndTime", "ParticipantRole"}


# --- checking a body against a shape -----------------------------------------------------------


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, integers and other numbers told apart."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return STR
    return "array" if isinstance(value, list) else "object"


def problems(body: Any, shape: Any, optional: set[str] = frozenset(), where: str = "body"
             ) -> list[str]:
    """How `body` differs from `shape`: keys missing or extra, values of another type."""
    if isinstance(shape, tuple):
        kind = json_type(body)
        return [] if kind in shape else [f"{where}: {kind}, expected {' or '.join(shape)}"]
    if isinstance(shape, list):
        if not isinstance(body, list):
            return [f"{where}: {json_type(body)}, expected an array"]
        return [p for i, item in enumerate(body) for p in problems(item, shape[0], set(),
                                                                     f"{where}[{i}]")]
    if not isinstance(body, dict):
        return [f"{where}: {json_type(body)}, expected an object"]
    out = [f"{where}.{k}: missing" for k in shape if k not in body and k not in optional]
    out += [f"{where}.{k}: not in the real API's body" for k in body if k not in shape]
    for key, value in body.items():
        if key in shape:
            out += problems(value, shape[key], set(), f"{where}.{key}")
    return out


def check(op: str, body: Any) -> list[str]:
    """`problems` of a body of operation `op` (a 204's body must be empty: None)."""
    shape = SHAPES[op]
    if shape is None:
        return [] if body is None else [f"{op}: a body where the API answers 204 without one"]
    return problems(body, shape, OPTIONAL.get(op, set()), op)
