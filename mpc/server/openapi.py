"""The server's OpenAPI document: what every endpoint takes and answers, in the API's shapes.

FastAPI lists the routes; this module finishes the document so that it describes what the server
really answers (schemathesis checks it, tests/reliability_server/test_api_fuzzing.py): the MPC and
participant objects of the API text, every success body, the API's error JSON for 400, 401, 404,
405 and 413, HTTP Basic as the security scheme, patterns for the path parameters, and OpenAPI
links from the operations that create things to those that use them (stateful testing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from mpcmix.model import params as P
from mpcmix.model.serialize import MPC_FIELDS, PARTICIPANT_FIELDS
from mpcmix.model.values import MAX_TEXT

#: The SDK accepts only these auth ids (plivo.utils), and so does the server's configuration.
AUTH_ID_PATTERN = r"^(MA|SA)[A-Za-z0-9]{18}$"
MPC_ID_PATTERN = r"^(name|uuid)_.+$"
#: One member id (the ids are numeric strings), or, where the API allows, a list or `all`.
MEMBER_PATTERN = r"^[0-9]+$"
MEMBERS_PATTERN = r"^(all|[0-9]+(,[0-9]+)*)$"
FILENAME_PATTERN = r"^[A-Za-z0-9_-]{1,200}\.(wav|mp3)$"
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _null(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def _object(properties: Mapping[str, Any], required: tuple[str, ...] | None = None,
            description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties if required is None else required),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


_STRING = {"type": "string"}
_TEXT = {"type": "string", "minLength": 1}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_TIMESTAMP = {"type": "string", "pattern": TIMESTAMP_PATTERN,
              "description": "YYYY-MM-DD HH:mm:ss±hh:mm"}
_AMOUNT = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{5}$", "description": "USD, five decimals"}
_API_ID = _TEXT

_MPC_FIELDS: dict[str, Any] = {
    "billed_amount": _null(_AMOUNT),
    "billed_duration": _null({"type": "integer", "minimum": 60}),
    "creation_time": _TIMESTAMP,
    "duration": _null({"type": "integer", "minimum": 0}),
    "end_time": _null(_TIMESTAMP),
    "friendly_name": _STRING,
    "mpc_uuid": _TEXT,
    "participants": _TEXT,
    "recording": _null({"enum": ["not-recording", "recording", "paused"]}),
    "resource_uri": _TEXT,
    "start_time": _null(_TIMESTAMP),
    "status": {"enum": ["Initialized", "Active", "Ended"]},
    "stay_alone": _BOOL,
    "sub_account": _null(_STRING),
    "termination_cause": _null({"enum": ["No Active Participants", "Stay Alone Not Permitted",
                                         "Max Duration Reached", "Hangup API Triggered"]}),
    "termination_cause_code": _null({"enum": [1000, 1010, 2000, 3000]}),
}
_ROLE = {"enum": ["agent", "supervisor", "customer", "ai-agent"]}
_PARTICIPANT_FIELDS: dict[str, Any] = {
    "billed_amount": _null(_AMOUNT),
    "billed_duration": _null({"type": "integer", "minimum": 60}),
    "call_uuid": _TEXT,
    "coach_mode": _null(_BOOL),
    "duration": _null({"type": "integer", "minimum": 0}),
    "end_mpc_on_exit": _BOOL,
    "exit_cause": _null({"enum": ["Participant Call Hangup", "Kicked Out of Multiparty Call",
                                  "Multiparty Call Ended", "Participant Call Transferred"]}),
    "exit_time": _null(_TIMESTAMP),
    "hold": _null(_BOOL),
    "join_time": _null(_TIMESTAMP),
    "member_address": _STRING,
    "member_id": {"type": "string", "pattern": MEMBER_PATTERN},
    "mpc_uuid": _TEXT,
    "mute": _null(_BOOL),
    "resource_uri": _TEXT,
    "role": _ROLE,
    "start_mpc_on_enter": _BOOL,
}

SCHEMAS: dict[str, Any] = {
    "Error": _object({"api_id": _API_ID, "error": _TEXT},
                     description="Every refusal: what was refused and which rule"),
    "MultiPartyCall": _object({"api_id": _API_ID, **_MPC_FIELDS},
                              description="The MPC object, as the recorded bodies show it"),
    "MultiPartyCallListItem": _object({k: _MPC_FIELDS[k] for k in MPC_FIELDS}),
    "MultiPartyCallList": _object({
        "api_id": _API_ID,
        "meta": _object({"count": {"type": "integer", "minimum": 0},
                         "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                         "next": _null(_STRING),
                         "offset": {"type": "integer", "minimum": 0},
                         "previous": _null(_STRING)}),
        "objects": {"type": "array", "maxItems": 20, "items": _ref("MultiPartyCallListItem")},
    }),
    "Participant": _object({"api_id": _API_ID, **_PARTICIPANT_FIELDS},
                           description="The participant object of the API text"),
    "ParticipantListItem": _object({k: _PARTICIPANT_FIELDS[k] for k in PARTICIPANT_FIELDS}),
    "ParticipantList": _object({
        "api_id": _API_ID,
        "meta": _object({"count": {"type": "integer", "minimum": 0},
                         "limit": {"type": "integer", "minimum": 1},
                         "next": _null(_STRING),
                         "offset": {"type": "integer", "minimum": 0},
                         "previous": _null(_STRING)}),
        "objects": {"type": "array", "items": _ref("ParticipantListItem")},
    }),
    "AsyncSpawned": _object({"api_id": _API_ID, "message": {"enum": ["async api spawned"]}},
                            description="Asynchronous mode (callback_url given): the answer "
                                        "goes to callback_url"),
    "ParticipantAdded": _object({
        "api_id": _API_ID,
        "calls": {"type": "array", "minItems": 1, "items": _object(
            {"to": _STRING, "from": _null(_STRING), "call_uuid": _TEXT})},
        "message": _TEXT,
        "request_uuid": _TEXT,
    }),
    "ParticipantUpdated": {
        **_object({"api_id": _API_ID, "mute": _TEXT, "hold": _TEXT, "coach_mode": _TEXT},
                  required=("api_id",)),
        "minProperties": 2,
        "description": "One message for each of mute, hold and coach_mode that was given",
    },
    "RecordingStarted": _object({"api_id": _API_ID, "message": _TEXT, "recording_id": _TEXT,
                                 "recording_url": _TEXT}),
    "SpeakQueued": _object({"api_id": _API_ID, "message": _TEXT,
                            "mpcMemberId": {"type": "array", "minItems": 1, "items": {
                                "type": "string", "pattern": MEMBER_PATTERN}},
                            "mpcName": _STRING}),
    "PlayQueued": _object({"api_id": _API_ID, "message": _TEXT,
                           "mpcMemberId": {"type": "array", "minItems": 1, "items": {
                               "type": "string", "pattern": MEMBER_PATTERN}},
                           "mpcName": _STRING}),
    "Recording": _object({"api_id": _API_ID, "recording_format": {"enum": ["mp3", "wav"]},
                          "recording_id": _TEXT, "recording_url": _TEXT, "resource_uri": _TEXT},
                         description="A recording's resource (its RecordingResourceURL)"),
    "Advanced": _object({"api_id": _API_ID, "now": {"type": "number", "minimum": 0},
                         "now_ms": {"type": "integer", "minimum": 0}}),
    "Clock": _object({"api_id": _API_ID, "clock": {"enum": ["virtual", "realtime"]},
                      "now": {"type": "number", "minimum": 0},
                      "now_ms": {"type": "integer", "minimum": 0},
                      "frame_ms": {"enum": [10, 20, 40, 60]},
                      "sample_rate": {"enum": [8000, 16000, 24000, 48000]}}),
    "Event": {
        "type": "object",
        "required": ["seq", "at_ms", "at", "name", "mpc_uuid", "url", "method", "params",
                     "delivery"],
        "properties": {
            "seq": {"type": "integer", "minimum": 1},
            "at_ms": {"type": "integer", "minimum": 0},
            "at": {"type": "number", "minimum": 0},
            "name": _TEXT,
            "mpc_uuid": _null(_STRING),
            "url": _null(_STRING),
            "method": {"enum": ["GET", "POST"]},
            "params": {"type": "object", "additionalProperties": _STRING},
            "delivery": {"type": "object", "required": ["status"], "properties": {"status": {
                "enum": ["no-url", "queued", "retrying", "delivered", "failed", "dropped",
                         "undelivered"]}}},
        },
    },
    "Events": _object({"api_id": _API_ID, "count": {"type": "integer", "minimum": 0},
                       "events": {"type": "array", "items": _ref("Event")}}),
    "FarEnd": _object({"api_id": _API_ID, "message": _TEXT, "call_uuid": _TEXT}),
    "Stats": _object({
        "api_id": _API_ID,
        "clock": {"enum": ["virtual", "realtime"]},
        "now_ms": {"type": "integer", "minimum": 0},
        "elapsed_ms": {"type": "number", "minimum": 0,
                       "description": "unrounded time since the clock's 0 (real time; 0 virtual)"},
        "ticker": {"type": "object", "required": ["frame_ms", "ticks", "late_ticks", "window"],
                   "description": "tick lateness in ms: how long after the frame boundary that "
                                  "made it due each tick of the real-time clock finished"},
        "costs": {"type": "object",
                  "required": ["ticker_s", "flush_s", "parts_s", "ticks", "live_mpcs"],
                  "description": "CPU seconds the real-time ticker's thread spent since the start, "
                                 "by part of the work (parts_s), and the MPCs live now"},
        "callbacks": _object({"pending": {"type": "integer", "minimum": 0},
                              "queue_size": {"type": "integer", "minimum": 1}}),
        "media": _object({"cached_bytes": {"type": "integer", "minimum": 0},
                          "cache_bytes": {"type": "integer", "minimum": 1},
                          "cached_files": {"type": "integer", "minimum": 0}},
                         description="decoded media kept in memory (shared by all accounts)"),
        "streams": _object({name: {"type": "integer", "minimum": 0} for name in (
            "connecting", "streaming", "stopped", "dropped", "dropped_samples")},
            description="audio streams by state, and the audio their queues dropped (samples)"),
    }),
    "Health": _object({"status": {"enum": ["ok"]}, "version": _TEXT}),
    "LiveMpc": _object({
        "auth_id": _TEXT,
        "mpc": _object(_MPC_FIELDS),
        "participants": {"type": "array", "items": _object({
            **_PARTICIPANT_FIELDS, "label": _TEXT,
            "phase": {"enum": ["ringing", "answered", "exited"]}})},
        "matrix": _object({
            "listeners": {"type": "array", "items": _object({
                "label": _TEXT, "member_id": _null(_TEXT), "recording": _BOOL})},
            "sources": {"type": "array", "items": _object({
                "label": _TEXT, "kind": _TEXT, "owner": _null(_TEXT),
                "member_id": _null(_TEXT)})},
            "gains": {"type": "array", "items": {"type": "array", "items": {
                "type": "integer", "minimum": 0}}},
            "reasons": {"type": "array", "items": {"type": "array", "items": _TEXT}},
        }, description="the routing matrix now: gains[i][j] from sources[j] to listeners[i], "
                       "with each cell's reason (mpcmix.routing.build_matrix and explain)"),
    }, description="a live MPC as the console shows it"),
    "Live": _object({
        "api_id": _API_ID,
        "clock": {"enum": ["virtual", "realtime"]},
        "now_ms": {"type": "integer", "minimum": 0},
        "frame_ms": {"enum": [10, 20, 40, 60]},
        "sample_rate": {"enum": [8000, 16000, 24000, 48000]},
        "auth_id": _TEXT,
        "mpcs": {"type": "array", "items": _ref("LiveMpc")},
    }),
}

#: The body schema of each API operation's success (None: no body, 204).
BODIES: dict[str, str | None] = {
    "list": "MultiPartyCallList",
    "get": "MultiPartyCall",
    "start": None,
    "end": None,
    "list_participants": "ParticipantList",
    "add_participant": "ParticipantAdded",
    "start_recording": "RecordingStarted",
    "stop_recording": None,
    "pause_recording": None,
    "resume_recording": None,
    "get_participant": "Participant",
    "update_participant": "ParticipantUpdated",
    "kick_participant": None,
    "start_participant_recording": "RecordingStarted",
    "stop_participant_recording": None,
    "pause_participant_recording": None,
    "resume_participant_recording": None,
    "start_play_audio": "PlayQueued",
    "stop_play_audio": None,
    "start_speak": "SpeakQueued",
    "stop_speak": None,
}
#: operationId -> (success status, its body schema; None: no body; a media type: a file), for the
#: endpoints that are not API operations.
_OTHER_SUCCESS: dict[str, tuple[int, str | None]] = {
    "download_recording": (200, "audio/mpeg audio/wav"),
    "download_listener_stream": (200, "audio/wav"),
    "get_recording": (200, "Recording"),
    "emulator_advance": (200, "Advanced"),
    "emulator_clock": (200, "Clock"),
    "emulator_events": (200, "Events"),
    "emulator_stats": (200, "Stats"),
    "emulator_hangup": (200, "FarEnd"),
    "emulator_answer": (200, "FarEnd"),
    "emulator_dtmf": (200, "FarEnd"),
    "emulator_health": (200, "Health"),
    "emulator_live": (200, "Live"),
}
_OPEN = {"emulator_health"}


def _api_operation(operation_id: str) -> P.Operation | None:
    """The table's operation behind an operationId (the SDK's `stop` is the table's `end`)."""
    op = P.OPERATIONS.get(P.ALIASES.get(operation_id, operation_id))
    return None if op is None or op.emulator else op


def success_of(operation_id: str) -> tuple[int, str | None] | None:
    """(status, body) of an endpoint's success, or None for an endpoint not documented here."""
    op = _api_operation(operation_id)
    if op is not None:
        return op.status, BODIES[op.name]
    return _OTHER_SUCCESS.get(operation_id)


_ERROR_WHEN = {
    "400": "a parameter is missing, malformed, out of range or not supported, or a rule of the "
           "call refused the request",
    "401": "no or wrong HTTP Basic credentials, or credentials that may not act on this auth_id",
    "404": "no such MPC, participant, call, play, recording or path in this account (another "
           "account's are 404 too)",
    "405": "the path exists but not with this method (the Allow header lists those it takes)",
    "413": "the request body is larger than the server takes (1 MiB by default)",
}
_HEADERS = {
    "401": {"WWW-Authenticate": {"schema": {"type": "string", "pattern": "^Basic"},
                                 "required": True}},
    "405": {"Allow": {"schema": {"type": "string", "minLength": 1}, "required": True}},
}


def _error(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERROR_WHEN[status],
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


def _success(operation_id: str, summary: str) -> tuple[str, dict[str, Any]]:
    found = success_of(operation_id)
    assert found is not None
    status, body = found
    response: dict[str, Any] = {"description": summary or "success"}
    if body is not None and "/" in body:
        response["content"] = {media: {"schema": {"type": "string", "format": "binary"}}
                               for media in body.split()}
    elif body is not None:
        response["content"] = {"application/json": {"schema": _ref(body)}}
    return str(status), response


def _path_parameter(operation_id: str, name: str) -> dict[str, Any] | None:
    if name == "auth_id":
        return {"type": "string", "pattern": AUTH_ID_PATTERN,
                "description": "the account (MA...) or subaccount (SA...) auth id"}
    op = _api_operation(operation_id)
    if name == "mpc_id":
        if op is not None and op.bare_name:
            return {"type": "string", "minLength": 1,
                    "description": "name_<friendly_name>, uuid_<mpc_uuid>, or the bare name"}
        return {"type": "string", "pattern": MPC_ID_PATTERN,
                "description": "name_<friendly_name> (a live MPC) or uuid_<mpc_uuid>"}
    if name == "member_id":
        if op is not None and op.members == "many":
            return {"type": "string", "pattern": MEMBERS_PATTERN,
                    "description": "a member id, a comma-separated list of them, or all"}
        return {"type": "string", "pattern": MEMBER_PATTERN, "description": "a member id"}
    if name == "filename":
        return {"type": "string", "pattern": FILENAME_PATTERN,
                "description": "<recording_id>.<mp3|wav> as in the recording_url, or "
                               "<recording_id>-<participant|all>.<ext> for track type both"}
    if name == "recording_id":
        return {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,200}$",
                "description": "a recording_id"}
    if name == "call_uuid":
        return {"type": "string", "minLength": 1, "description": "a participant's call_uuid"}
    return None


def _links() -> dict[tuple[str, str], dict[str, Any]]:
    """OpenAPI links: (operationId, status) -> links, from what creates to what uses it."""
    auth = "$request.path.auth_id"
    mpc = "$request.path.mpc_id"

    def to(operation_id: str, **parameters: str) -> dict[str, Any]:
        return {"operationId": operation_id, "parameters": {"auth_id": auth, **parameters}}

    def by_uuid(operation_id: str, **parameters: str) -> dict[str, Any]:
        return to(operation_id, mpc_id="uuid_{$response.body#/mpc_uuid}", **parameters)

    member = "$response.body#/objects/0/member_id"
    call = "$response.body#/calls/0/call_uuid"
    same_member = "$request.path.member_id"
    return {
        ("add_participant", "201"): {
            "GetMPC": to("get", mpc_id=mpc),
            "ListParticipants": to("list_participants", mpc_id=mpc),
            "AddAnother": to("add_participant", mpc_id=mpc),
            "Activate": to("start", mpc_id=mpc),
            "StartRecording": to("start_recording", mpc_id=mpc),
            "EndMPC": to("stop", mpc_id=mpc),
            "HangUp": {"operationId": "emulator_hangup", "parameters": {"call_uuid": call}},
            "Answer": {"operationId": "emulator_answer", "parameters": {"call_uuid": call}},
            "Dtmf": {"operationId": "emulator_dtmf", "parameters": {"call_uuid": call}},
        },
        ("get", "200"): {
            "GetByUuid": by_uuid("get"),
            "ListParticipantsByUuid": by_uuid("list_participants"),
            "EndByUuid": by_uuid("stop"),
        },
        ("list_participants", "200"): {
            "GetParticipant": to("get_participant", mpc_id=mpc, member_id=member),
            "UpdateParticipant": to("update_participant", mpc_id=mpc, member_id=member),
            "KickParticipant": to("kick_participant", mpc_id=mpc, member_id=member),
            "RecordParticipant": to("start_participant_recording", mpc_id=mpc, member_id=member),
            "Play": to("start_play_audio", mpc_id=mpc, member_id=member),
            "Listener": to("download_listener_stream", mpc_id=mpc, member_id=member),
        },
        ("start_recording", "202"): {
            "DownloadMp3": to("download_recording", filename="{$response.body#/recording_id}.mp3"),
            "DownloadWav": to("download_recording", filename="{$response.body#/recording_id}.wav"),
            "Pause": to("pause_recording", mpc_id=mpc),
            "Resume": to("resume_recording", mpc_id=mpc),
            "Stop": to("stop_recording", mpc_id=mpc),
        },
        ("start_participant_recording", "200"): {
            "DownloadMp3": to("download_recording", filename="{$response.body#/recording_id}.mp3"),
            "DownloadWav": to("download_recording", filename="{$response.body#/recording_id}.wav"),
            "Pause": to("pause_participant_recording", mpc_id=mpc, member_id=same_member),
            "Resume": to("resume_participant_recording", mpc_id=mpc, member_id=same_member),
            "Stop": to("stop_participant_recording", mpc_id=mpc, member_id=same_member),
        },
        ("start_play_audio", "202"): {
            "StopPlay": to("stop_play_audio", mpc_id=mpc, member_id=same_member),
        },
    }


def build_document(app: FastAPI) -> dict[str, Any]:
    """The finished OpenAPI document of `app` (see the module docstring)."""
    document = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes)
    components = document.setdefault("components", {})
    components["schemas"] = {**SCHEMAS}  # FastAPI's own validation schemas are never answered
    components["securitySchemes"] = {"basicAuth": {
        "type": "http", "scheme": "basic",
        "description": "auth_id as the user name, auth_token as the password",
    }}
    document["security"] = [{"basicAuth": []}]
    links = _links()
    for item in document["paths"].values():
        for method, operation in item.items():
            operation_id = operation.get("operationId")
            if success_of(operation_id) is None:
                continue
            api_op = _api_operation(operation_id)
            if api_op is not None:
                _document_arguments(operation, api_op)
            status, success = _success(operation_id, operation.get("summary", ""))
            if (operation_id, status) in links:
                success["links"] = links[(operation_id, status)]
            responses = {status: success}
            if api_op is not None:
                _document_async(responses)
            if operation_id in _OPEN:
                operation["security"] = []
            else:
                responses.update({code: _error(code) for code in ("400", "401", "404", "405")})
                if method in ("post", "delete"):
                    responses["413"] = _error("413")
            operation["responses"] = responses
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    schema = _path_parameter(operation_id, parameter["name"])
                    if schema is not None:
                        parameter["schema"] = schema
    return document


def _document_async(responses: dict[str, Any]) -> None:
    """Every API operation also answers 200 `AsyncSpawned` when given a callback_url."""
    spawned = _ref("AsyncSpawned")
    if "200" not in responses:
        responses["200"] = {"description": "asynchronous mode: the answer goes to callback_url",
                            "content": {"application/json": {"schema": spawned}}}
        return
    schema = responses["200"]["content"]["application/json"]["schema"]
    responses["200"]["content"]["application/json"]["schema"] = {"anyOf": [schema, spawned]}


def install(app: FastAPI) -> None:
    """Serve `build_document(app)` at /openapi.json (built once, on first request)."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        document = cache.get("document")
        if document is None:
            document = cache["document"] = build_document(app)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


# --- the arguments, from the parameter table ----------------------------------------------------


def _document_arguments(operation: dict[str, Any], op: P.Operation) -> None:
    """An API operation's query parameters (GET) or request body (JSON or form), as the server
    reads them: every parameter of the table, with every form the server takes for its value."""
    if not op.params:
        return
    if op.http == "GET":
        path = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
        operation["parameters"] = path + [
            {"name": p.name, "in": "query", "required": False, "schema": value_schema(p, query=True)}
            for p in op.params]
        return
    needed = set(op.required) | set(op.one_of)
    properties = {}
    for p in op.params:
        for name in (p.name, *p.aliases):
            properties[name] = value_schema(p, required=name in needed)
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": True}
    if op.required:
        schema["required"] = list(op.required)
    if op.one_of:
        schema["anyOf"] = [{"required": [name]} for name in op.one_of]
    operation["requestBody"] = {
        "required": bool(op.required or op.one_of),
        "content": {media: {"schema": schema}
                    for media in ("application/json", "application/x-www-form-urlencoded")},
    }


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def _words(words: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "pattern": r"^\s*(" + "|".join(_any_case(w) for w in words) + r")\s*$"}


#: A list filter's time as the table takes it (seconds and a fraction optional).
_TIME = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?\s*$"


def _forms(p: P.Param, required: bool) -> list[dict[str, Any]]:
    """Every form the server takes for a value of `p` (text for booleans and numbers, as forms
    send them)."""
    limits = {k: v for k, v in (("minimum", p.low), ("maximum", p.high)) if v is not None}
    if p.kind == P.BOOL:
        return [{"type": "boolean"}, _words(("true", "false"))]
    if p.kind == P.INT:
        return [{"type": "integer", **limits}, {"type": "string", "pattern": r"^\s*-?[0-9]+\s*$"}]
    if p.kind == P.INTS:
        return [{"type": "integer"}, {"type": "string", "pattern": r"^\s*[0-9]+\s*(<\s*[0-9]+\s*)*$"}]
    if p.kind in (P.CHOICE, P.TIME, P.METHOD):
        # An empty value (a form's empty field) is the same as leaving the parameter out.
        main = ({"type": "string", "pattern": _TIME} if p.kind == P.TIME
                else _words(("GET", "POST") if p.kind == P.METHOD else p.choices))
        return [main] if required else [main, {"type": "string", "maxLength": 0}]
    if p.kind == P.URL:
        # A callback URL is checked when given (values.as_url: http or https, a host): described
        # as text, not by a pattern, so that a fuzzer's invalid requests do not carry a valid
        # callback_url, which puts a request in asynchronous mode (answered 200 at once, its
        # refusal sent to that URL).
        return [{"type": "string", "maxLength": MAX_TEXT, "pattern": _NO_NUL,
                 "description": "an http(s) URL"}]
    # Text holds no NUL (values.check_text; a lone surrogate is refused too, which JSON Schema
    # cannot say) and, when required, something besides spaces.
    text: dict[str, Any] = {"type": "string", "maxLength": MAX_TEXT if p.max_len is None else p.max_len,
                            "pattern": r"^[^\x00]*\S[^\x00]*$" if required else _NO_NUL}
    return [text, {"type": "number"}, {"type": "boolean"}]  # text; numbers taken as their text


#: Text without a NUL character.
_NO_NUL = r"^[^\x00]*$"


def value_schema(p: P.Param, *, query: bool = False, required: bool = False) -> dict[str, Any]:
    """A JSON Schema for parameter `p`: the API's type and range, and the forms the server also
    takes for it (a one-element list, as the SDK's `start` sends; null, the same as leaving it
    out). Query values are text on the wire."""
    forms = _forms(p, required)
    if query:
        schema: dict[str, Any] = forms[0] if len(forms) == 1 else {"anyOf": forms}
    else:
        one = forms if required else [*forms, {"type": "null"}]
        schema = {"anyOf": [*one, {"type": "array", "minItems": 1, "maxItems": 1,
                                   "items": {"anyOf": one}}]}
    if p.default is not None:
        schema["default"] = p.default
    if p.description:
        schema["description"] = p.description
    return schema
