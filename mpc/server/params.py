"""Request arguments: reading JSON, form and query arguments, and the API's parameter tables.

The tables list, for every operation, each parameter the API text or the plivo SDK sends, with its
kind and the default the SDK sends. The server passes the call model the parameters its method
takes, ignores keys no table knows (the SDK sends ~38 keys on `add_participant` and repeats its
identifiers in some bodies), and refuses, naming it, a known parameter the model does not take when
it comes with a value other than its default: a feature the emulator cannot honour must never be
skipped silently.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from mpcmix.errors import ValidationError

STR, INT, BOOL, METHOD, INTS = "str", "int", "bool", "method", "ints"
_DIGITS = re.compile(r"-?[0-9]+")  # ASCII only: str.isdigit() also takes '²', which int() refuses
_UNSIGNED = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Param:
    """One API parameter: its kind (`str`, `int`, `bool`, `method`, `ints`) and SDK default."""

    name: str
    kind: str = STR
    default: Any = None
    description: str = ""
    #: What the API text allows, for the OpenAPI document: `choices` (any case), or JSON Schema
    #: keywords for the number (`minimum`, `maximum`), or a `pattern` for the text.
    choices: tuple[str, ...] = ()
    limits: tuple[tuple[str, Any], ...] = ()

    def is_default(self, value: Any) -> bool:
        if value is None:
            return True
        if self.default is None:
            return False
        if self.kind in (STR, METHOD) and isinstance(value, str):
            return value.lower() == str(self.default).lower()
        if self.kind == INTS:
            return str(value) == str(self.default)
        return bool(value == self.default)


#: A list filter's time as the API text gives it (seconds and a fraction optional).
_TIME = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?\s*$"


def _table(*params: Param) -> dict[str, Param]:
    return {p.name: p for p in params}


_CALLBACK = (
    Param("callback_url", STR, None, "URL told of the API request's outcome (SDK argument)"),
    Param("callback_method", METHOD, None, "method for callback_url"),
)

ADD_PARTICIPANT = _table(
    Param("role", STR, None, "agent, supervisor, customer (or ai-agent, routed as an agent)",
          choices=("agent", "supervisor", "customer", "ai-agent")),
    Param("from", STR, None, "caller ID for the outbound call"),
    Param("to", STR, None, "the number or SIP endpoint to call"),
    Param("call_uuid", STR, None, "add an existing call instead of dialling"),
    Param("caller_name", STR, None, "caller name for SIP endpoints (SDK default: from)"),
    Param("call_status_callback_url", STR, None, "URL for call status events"),
    Param("call_status_callback_method", METHOD, "POST"),
    Param("sip_headers", STR, None, "SIP headers for the outbound call"),
    Param("confirm_key", STR, None, "DTMF key the callee must press to join"),
    Param("confirm_key_sound_url", STR, None, "played until the confirm key is pressed"),
    Param("confirm_key_sound_method", METHOD, "GET"),
    Param("dial_music", STR, "real", "what the participant hears while the call connects"),
    Param("ring_timeout", INTS, 45, "seconds to ring before giving up"),
    Param("delay_dial", INTS, 0, "seconds to wait before dialling"),
    Param("max_duration", INT, 14400, "MPC limit in seconds (300..28800)",
          limits=(("minimum", 300), ("maximum", 28800))),
    Param("max_participants", INT, 10, "MPC limit (2..10)", limits=(("minimum", 2), ("maximum", 10))),
    Param("record_min_member_count", INT, 1, "participants needed before recording (1..2)",
          limits=(("minimum", 1), ("maximum", 2))),
    Param("wait_music_url", STR, None, "music while the MPC is not yet active"),
    Param("wait_music_method", METHOD, "GET"),
    Param("agent_hold_music_url", STR, None, "hold music for agents and supervisors"),
    Param("agent_hold_music_method", METHOD, "GET"),
    Param("customer_hold_music_url", STR, None, "hold music for customers"),
    Param("customer_hold_music_method", METHOD, "GET"),
    Param("recording_callback_url", STR, None, "URL for recording events"),
    Param("recording_callback_method", METHOD, "GET"),
    Param("status_callback_url", STR, None, "URL for MPC and participant status events"),
    Param("status_callback_method", METHOD, "GET"),
    Param("on_exit_action_url", STR, None, "URL fetched for XML when the participant exits"),
    Param("on_exit_action_method", METHOD, "POST"),
    Param("record", BOOL, False, "start recording the MPC when it starts"),
    Param("record_participant_track", BOOL, False, "record this participant's track"),
    Param("record_file_format", STR, "mp3", "mp3 or wav", choices=("mp3", "wav")),
    Param(
        "status_callback_events",
        STR,
        "mpc-state-changes,participant-state-changes",
        "comma-separated event families for status_callback_url",
    ),
    Param("stay_alone", BOOL, False, "may this participant stay alone in the MPC"),
    Param("coach_mode", BOOL, True, "supervisors only: heard by agents only"),
    Param("mute", BOOL, False, "join muted"),
    Param("hold", BOOL, False, "join on hold"),
    Param("start_mpc_on_enter", BOOL, True, "the MPC starts when this participant enters"),
    Param("end_mpc_on_exit", BOOL, False, "the MPC ends when this participant exits"),
    Param("relay_dtmf_inputs", BOOL, False, "relay this participant's DTMF to the others"),
    Param("enter_sound", STR, "beep:1", "beep:1, beep:2, none or a URL"),
    Param("enter_sound_method", METHOD, "GET"),
    Param("exit_sound", STR, "beep:2", "beep:1, beep:2, none or a URL"),
    Param("exit_sound_method", METHOD, "GET"),
    Param("start_recording_audio", STR, None, "played when a recording starts"),
    Param("start_recording_audio_method", METHOD, "GET"),
    Param("stop_recording_audio", STR, None, "played when a recording stops"),
    Param("stop_recording_audio_method", METHOD, "GET"),
    *_CALLBACK,
    Param("create_mpc_with_single_participant", BOOL, True, "create the MPC with one participant"),
    Param("send_digits", STR, None, "DTMF sent once the call is answered"),
    Param("send_on_preanswer", BOOL, False, "send send_digits on pre-answer"),
    Param("transcription_url", STR, None, "URL for transcription events"),
    Param("transcript", BOOL, False, "transcribe the call"),
)

UPDATE_PARTICIPANT = _table(
    Param("mute", BOOL, None, "true to mute, false to unmute"),
    Param("hold", BOOL, None, "true to hold (hold music), false to unhold"),
    Param("coach_mode", BOOL, None, "supervisors only, one member: heard by agents only"),
    *_CALLBACK,
)

START = _table(Param("status", STR, None, "Active (any case) to start the MPC", choices=("active",)),
               *_CALLBACK)

START_RECORDING = _table(
    Param("file_format", STR, "mp3", "mp3 or wav", choices=("mp3", "wav")),
    Param("recording_callback_url", STR, None, "URL for recording events"),
    Param("recording_callback_method", METHOD, "POST"),
    *_CALLBACK,
    Param("transcription_url", STR, None, "URL for transcription events"),
    Param("transcript", BOOL, False, "transcribe the recording"),
)

START_PARTICIPANT_RECORDING = _table(
    *START_RECORDING.values(),
    Param("record_track_type", STR, "all", "participant, all or both",
          choices=("participant", "all", "both")),
)

TRACK_TYPE = _table(Param("record_track_type", STR, "all", "participant, all or both",
                          choices=("participant", "all", "both")), *_CALLBACK)

PLAY = _table(
    Param("urls", STR, None, "URL of the audio file (API text)"),
    Param("url", STR, None, "URL of the audio file (plivo SDK)"),
)

LIST = _table(
    Param("sub_account", STR, None, "a subaccount's auth id: list its MPCs"),
    Param("friendly_name", STR, None, "filter by name"),
    Param("status", STR, None, "initialized, active or ended",
          choices=("initialized", "active", "ended")),
    Param("termination_cause_code", INT, None, "1000, 1010, 2000 or 3000 (other codes match nothing)"),
    *(
        Param(f"{field}__{op}", STR, None, "YYYY-MM-DD HH:MM[:ss]", limits=(("pattern", _TIME),))
        for field in ("end_time", "creation_time")
        for op in ("gt", "gte", "lt", "lte")
    ),
    Param("end_time", STR, None, "YYYY-MM-DD HH:MM[:ss]"),
    Param("creation_time", STR, None, "YYYY-MM-DD HH:MM[:ss]"),
    Param("limit", INT, 20, "results per page, 1..20", limits=(("minimum", 1), ("maximum", 20))),
    Param("offset", INT, 0, "records to skip", limits=(("minimum", 0),)),
    *_CALLBACK,
)

LIST_PARTICIPANTS = _table(Param("call_uuid", STR, None, "filter by call"), *_CALLBACK)

CALLBACK_ONLY = _table(*_CALLBACK)

EMPTY: dict[str, Param] = {}


# --- reading ------------------------------------------------------------------------------------


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The arguments of a POST/DELETE body: a JSON object or a form (an empty body is `{}`)."""
    if not body.strip():
        return {}
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return _form(body)
    if media_type in ("application/json", "") or media_type.endswith("+json"):
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            if media_type == "":
                return _form(body)
            raise ValidationError(f"the request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValidationError(
                f"the request body must be a JSON object of parameters, not {type(data).__name__}"
            )
        return data
    raise ValidationError(
        f"unsupported Content-Type {media_type!r}: send application/json or "
        "application/x-www-form-urlencoded"
    )


def _form(body: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ValidationError("the form body is not UTF-8") from None
    return query_args(pairs)


def query_args(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Key/value pairs as a dict; a key given more than once becomes the list of its values."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


def coerce(table: Mapping[str, Param], raw: Mapping[str, Any]) -> dict[str, Any]:
    """The known parameters of `raw`, converted to their kinds; unknown keys are dropped.

    Booleans come as JSON booleans or the strings true/false (forms); integers as JSON integers
    or decimal strings; a one-element list is its element (the SDK's `start` sends
    `{"status": ["active"]}`). A `null` is the same as leaving the parameter out.
    """
    out: dict[str, Any] = {}
    for name, value in raw.items():
        spec = table.get(name)
        if spec is None or value is None:
            continue
        if isinstance(value, list):
            if len(value) != 1:
                raise ValidationError(f"{name}: expected one value, got {len(value)}")
            value = value[0]
            if value is None:
                continue
        out[name] = _convert(spec, value)
    return out


def _convert(spec: Param, value: Any) -> Any:
    name = spec.name
    if spec.kind == BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValidationError(f"{name}: must be true or false, not {value!r}")
    if spec.kind == INT:
        if isinstance(value, bool):
            raise ValidationError(f"{name}: must be an integer, not {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            return int(value.strip())
        raise ValidationError(f"{name}: must be an integer, not {value!r}")
    if spec.kind == INTS:
        # ring_timeout / delay_dial: an integer, or '<'-separated integers (one per destination).
        if isinstance(value, bool):
            raise ValidationError(f"{name}: must be an integer, not {value!r}")
        if isinstance(value, int):
            return value
        text = str(value).strip()
        parts = text.split("<")
        if not all(_UNSIGNED.fullmatch(p.strip()) for p in parts):
            raise ValidationError(f"{name}: must be an integer or '<'-separated integers, not "
                                  f"{value!r}")
        return int(parts[0]) if len(parts) == 1 else text
    if spec.kind == METHOD:
        if not isinstance(value, str) or value.strip().upper() not in ("GET", "POST"):
            raise ValidationError(f"{name}: must be GET or POST, not {value!r}")
        return value.strip().upper()
    if isinstance(value, dict | list):
        raise ValidationError(f"{name}: must be a string, not {type(value).__name__}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- matching the call model ---------------------------------------------------------------------


def accepted_names(method: Callable[..., Any]) -> set[str] | None:
    """The keyword names `method` takes, or None when it takes any (`**kwargs`)."""
    try:
        sig = inspect.signature(method)
    except (TypeError, ValueError):
        return None
    names = set()
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            names.add(p.name)
    return names


def split_supported(
    table: Mapping[str, Param], args: Mapping[str, Any], accepted: set[str] | None, op: str
) -> dict[str, Any]:
    """The arguments to pass to the model; refuse (400) the unsupported ones not at default.

    `accepted` is what the model method takes (None: everything).
    """
    if accepted is None:
        return dict(args)
    passed: dict[str, Any] = {}
    refused: list[str] = []
    for name, value in args.items():
        if name in accepted:
            passed[name] = value
        elif not table[name].is_default(value):
            refused.append(name)
    if refused:
        names = ", ".join(sorted(refused))
        defaults = ", ".join(f"{n}={table[n].default!r}" for n in sorted(refused))
        raise ValidationError(
            f"{op}: the emulator cannot honour {names} at the value given; it accepts only the "
            f"default ({defaults})"
        )
    return passed


#: What the API text requires of each operation's body (Play: `urls`, or `url` as the SDK sends).
REQUIRED: dict[str, tuple[str, ...]] = {
    "add_participant": ("role", "from", "to"),
    "start": ("status",),
}
ONE_OF_REQUIRED: dict[str, tuple[str, ...]] = {"start_play_audio": ("urls", "url")}


def openapi_body(table: Mapping[str, Param], required: tuple[str, ...] = (),
                 one_of: tuple[str, ...] = ()) -> dict[str, Any]:
    """An OpenAPI requestBody for a parameter table (JSON or form), as the server reads it.

    Each value is described with every form the server accepts (see `value_schema`); keys no
    table knows are ignored, so the object takes additional properties. `required` names must be
    given (not null or empty); of `one_of`, at least one.
    """
    needed = set(required) | set(one_of)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: value_schema(p, required=p.name in needed) for p in table.values()},
        "additionalProperties": True,
    }
    if required:
        schema["required"] = list(required)
    if one_of:
        schema["anyOf"] = [{"required": [name]} for name in one_of]
    required = required + one_of
    return {
        "required": bool(required),
        "content": {
            "application/json": {"schema": schema},
            "application/x-www-form-urlencoded": {"schema": schema},
        },
    }


def openapi_query(table: Mapping[str, Param]) -> list[dict[str, Any]]:
    """OpenAPI query parameters for a parameter table."""
    return [
        {"name": p.name, "in": "query", "required": False, "schema": value_schema(p, query=True)}
        for p in table.values()
    ]


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def _words(words: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "pattern": r"^\s*(" + "|".join(_any_case(w) for w in words) + r")\s*$"}


def value_schema(p: Param, *, query: bool = False, required: bool = False) -> dict[str, Any]:
    """A JSON Schema for parameter `p`: the API's type and range, and the forms the server also
    takes for it (text for booleans and numbers, as forms send them; a one-element list, as the
    SDK's `start` sends; null, the same as leaving it out). Query values are text on the wire."""
    limits = dict(p.limits)
    if p.kind == BOOL:
        forms: list[dict[str, Any]] = [{"type": "boolean"}, _words(("true", "false"))]
    elif p.kind == INT:
        forms = [{"type": "integer", **limits}, {"type": "string", "pattern": r"^\s*-?[0-9]+\s*$"}]
    elif p.kind == INTS:
        forms = [{"type": "integer"},
                 {"type": "string", "pattern": r"^\s*[0-9]+\s*(<\s*[0-9]+\s*)*$"}]
    elif p.kind == METHOD:
        forms = [_words(("GET", "POST"))]
    elif p.choices or "pattern" in limits:
        # An empty value (a form's empty field) is the same as leaving the parameter out.
        forms = [_words(p.choices) if p.choices else {"type": "string", **limits}]
        if not required:
            forms.append({"type": "string", "maxLength": 0})
    else:  # text; numbers and booleans are taken as their text
        forms = [{"type": "string", **({"pattern": r"\S"} if required else limits)},
                 {"type": "number"}, {"type": "boolean"}]
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
