"""The API's operations and their parameters: one table, read by everything that needs them.

Every operation the call model answers is an `Operation` here: its name (as the plivo SDK names
its method), its HTTP method, path and success status, and its `Param`s, each with its kind,
default, range, allowed values, and whether mpcmix honours it. From this one table:

- the call model parses its arguments (`Operation.parse`): values as JSON, form fields, query
  strings or YAML give them, checked against the kind and range, defaults filled in, and a
  parameter mpcmix cannot honour refused (400, naming it) unless it is at its default;
- the server reads a request's arguments (`Operation.known`: the keys the table names; others
  are ignored, as the SDK sends many);
- scenario files are checked (`Operation.unknown`: a misspelt parameter is an error naming it);
- the OpenAPI document (`mpcmix.server.openapi`) and the parameter list of docs/server.md
  (`parameters_markdown`) are generated.

Adding a parameter here makes it parsed, accepted by the server, documented in OpenAPI and in the
docs; what it does is then the call model's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from mpcmix.errors import ValidationError

from . import values as V

# Kinds of value. Each is read by one function of `mpcmix.model.values`.
STR, INT, BOOL, METHOD, CHOICE, INTS, SOUND, EVENTS, TIME, DIGITS, URLS, URL = (
    "str", "int", "bool", "method", "choice", "ints", "sound", "events", "time", "digits", "urls",
    "url")

#: Groups `status_callback_events` may name (the XML MultiPartyCall element's list).
EVENT_GROUPS = (
    "mpc-state-changes",
    "participant-state-changes",
    "participant-speak-events",
    "participant-digit-input-events",
    "add-participant-api-events",
)
CONFIRM_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "#", "*")
SOUND_KEYWORDS = ("beep:1", "beep:2", "none")
ROLES = ("agent", "supervisor", "customer", "ai-agent")
#: The most destinations one agent's `to` may list ('<'-separated).
MAX_DESTINATIONS = 20


@dataclass(frozen=True)
class Param:
    """One parameter of an operation.

    `kind` says how a value is read (see the module's kinds); `default` is what the API (and the
    SDK) takes when it is absent (None: absent stays None); `low`/`high` bound an integer;
    `choices` lists the allowed words (any case); `max_len` bounds a text's length. `supported`
    False marks a parameter mpcmix cannot honour: accepted at its default, refused (400, naming
    it and `why`) at any other value; a choice with a `why` is one whose other values the API
    takes and mpcmix cannot honour. `aliases` are other names it arrives under (the SDK's
    Python keywords ``from_``, ``to_``).
    """

    name: str
    kind: str = STR
    default: Any = None
    description: str = ""
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    max_len: int | None = None
    supported: bool = True
    why: str = ""
    aliases: tuple[str, ...] = ()

    def read(self, value: Any) -> Any:
        """`value` (as given: JSON, form, query or YAML) read as this parameter's kind; the
        default when it is absent (None or ""). ValidationError naming the parameter otherwise."""
        if not V.is_given(value):
            # The default is read like a given value, so both come out of the same kind.
            return None if self.default is None else _READERS[self.kind](self, self.default)
        if not self.supported:
            V.refuse_unless_default(self.name, value, self.default, self.why)
            return self.default
        return _READERS[self.kind](self, value)


def _read_str(p: Param, value: Any) -> Any:
    return V.as_str(p.name, value, max_len=p.max_len)


def _read_int(p: Param, value: Any) -> Any:
    return V.as_int(p.name, value, p.low, p.high)


def _read_choice(p: Param, value: Any) -> Any:
    try:
        return V.as_choice(p.name, value, p.choices)
    except ValidationError:
        if not p.why:  # a choice with a reason: the other values exist, mpcmix cannot honour them
            raise
    raise ValidationError(f"{p.name}={value!r} is not supported by mpcmix ({p.why}); use "
                          f"{' or '.join(p.choices)}")


def _read_ints(p: Param, value: Any) -> Any:
    assert p.low is not None and p.high is not None
    return tuple(V.as_int_list(p.name, value, p.low, p.high))


def _read_sound(p: Param, value: Any) -> Any:
    text = V.as_str(p.name, value)
    lowered = text.strip().lower()
    if lowered in SOUND_KEYWORDS:
        return lowered
    return text


def _read_events(p: Param, value: Any) -> Any:
    text = V.check_text(p.name, str(V.unwrap(p.name, value)), p.max_len)
    groups = set()
    for part in text.split(","):
        group = part.strip().lower()
        if not group:
            continue
        if group not in EVENT_GROUPS:
            raise ValidationError(f"{p.name} may name {', '.join(EVENT_GROUPS)}; not "
                                  f"{part.strip()!r}")
        groups.add(group)
    return frozenset(groups)


def _read_digits(p: Param, value: Any) -> Any:
    text = V.as_str(p.name, value)
    bad = [d for d in text if d not in CONFIRM_KEYS]
    if bad:
        raise ValidationError(f"{p.name} may hold 0-9, # and * only, not {''.join(bad)!r}")
    return text


def _read_urls(p: Param, value: Any) -> Any:
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise ValidationError(f"{p.name} names {len(value)} files; mpcmix plays one file per "
                                  "Play request")
        value = value[0]
    return V.as_str(p.name, value)


def _read_url(p: Param, value: Any) -> Any:
    return V.as_url(p.name, value)


_READERS = {
    STR: _read_str,
    INT: _read_int,
    BOOL: lambda p, v: V.as_bool(p.name, v),
    METHOD: lambda p, v: V.as_method(p.name, v),
    CHOICE: _read_choice,
    INTS: _read_ints,
    SOUND: _read_sound,
    EVENTS: _read_events,
    TIME: lambda p, v: V.parse_filter_time(p.name, v, None),
    DIGITS: _read_digits,
    URLS: _read_urls,
    URL: _read_url,
}


@dataclass(frozen=True)
class Operation:
    """One operation of the API (or of the emulator: the far end's actions).

    `name` is the SDK's method name and the call model's; `http` and `path` where the server
    answers it (the path below ``/v1/Account/{auth_id}/MultiPartyCall/``; ``{mpc_id}`` is
    ``name_<friendly_name>`` or ``uuid_<mpc_uuid>``, ``{member_id}`` one member, a list or
    ``all``); `status` its success status; `required` parameters that must be given; of
    `one_of`, at least one; `members` how its path names members; `bare_name` whether the MPC
    may be named without its ``name_``/``uuid_`` prefix.
    """

    name: str
    http: str
    path: str
    status: int
    summary: str
    params: tuple[Param, ...] = ()
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()
    emulator: bool = False  # the far end's actions: not part of the API, answered under /emulator
    #: How `{member_id}` names members: "one" member id, or "many" (one, a comma-separated list,
    #: or ``all``); "" where the path names no member.
    members: str = ""
    #: The MPC may also be named by its bare name (the API text's form of this path).
    bare_name: bool = False

    @property
    def by_name(self) -> dict[str, Param]:
        """Each parameter by its name and by each of its aliases."""
        out = {p.name: p for p in self.params}
        for p in self.params:
            out.update((alias, p) for alias in p.aliases)
        return out

    def known(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The entries of `raw` this operation has a parameter for (by name or alias)."""
        names = self.by_name
        return {k: v for k, v in raw.items() if k in names}

    def unknown(self, keys: Iterable[str]) -> list[str]:
        """The names among `keys` that are no parameter of this operation."""
        names = self.by_name
        return [k for k in keys if k not in names]

    def parse(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter's value, read from `raw` (unknown keys ignored), defaults filled in.

        A value under an alias counts as the parameter's own; a `required` one must be given,
        and at least one of `one_of` (ValidationError naming it, before anything changes).
        """
        out: dict[str, Any] = {}
        for p in self.params:
            value = raw.get(p.name)
            for alias in p.aliases:
                if not V.is_given(value):
                    value = raw.get(alias)
            out[p.name] = p.read(value)
        for name in self.required:
            if out.get(name) is None:
                raise ValidationError(f"{name} is required")
        if self.one_of and all(out.get(name) is None for name in self.one_of):
            first, *others = self.one_of
            raise ValidationError(f"{first} is required (or {', '.join(others)})")
        return out


# --- the table ------------------------------------------------------------------------------------

_TRANSCRIPTION = "transcription is not emulated"

#: Asynchronous mode, which every operation takes: with `callback_url`, the server answers
#: ``{"api_id", "message": "async api spawned"}`` at once and sends the operation's own answer
#: to `callback_url` (docs/server.md, Asynchronous mode). The call model ignores both.
CALLBACK = (
    Param("callback_url", URL, None, "asynchronous mode: URL the answer is sent to"),
    Param("callback_method", METHOD, "POST", "method for callback_url"),
)
ASYNC_PARAMS = ("callback_url", "callback_method")
_TRANSCRIBE = (
    Param("transcription_url", URL, None, "URL for transcription events", supported=False,
          why=_TRANSCRIPTION),
    Param("transcript", BOOL, False, "transcribe", supported=False, why=_TRANSCRIPTION),
)
_FILE_FORMAT = Param("file_format", CHOICE, "mp3", "mp3 or wav", choices=("mp3", "wav"))
_TRACK_TYPE = Param("record_track_type", CHOICE, "all", "participant, all or both",
                    choices=("participant", "all", "both"))


def _method(name: str, default: str, what: str) -> Param:
    return Param(name, METHOD, default, f"HTTP method for {what}")


_ADD_PARTICIPANT = (
    Param("role", CHOICE, None, "agent, supervisor, customer (or ai-agent, routed as an agent)",
          choices=ROLES),
    Param("from", STR, None, "caller ID of the outbound call", aliases=("from_",)),
    Param("to", STR, None, "the number to call; '<'-separated destinations for an agent",
          aliases=("to_",)),
    Param("call_uuid", STR, None, "add an answered call of another MPC instead of dialling"),
    Param("caller_name", STR, None, "caller name (default: from)", max_len=50),
    Param("call_status_callback_url", URL, None, "URL told of the call leg's progress"),
    _method("call_status_callback_method", "POST", "call_status_callback_url"),
    Param("sip_headers", STR, None, "SIP headers of the outbound call", supported=False,
          why="there is no SIP leg to carry them"),
    Param("confirm_key", CHOICE, None, "DTMF key the callee presses to join", choices=CONFIRM_KEYS),
    Param("confirm_key_sound_url", STR, None, "played until the confirm key is pressed"),
    _method("confirm_key_sound_method", "GET", "confirm_key_sound_url"),
    Param("dial_music", CHOICE, "real", "what the caller hears while the call connects",
          choices=("real", "none"), why="nobody hears dial music in the emulator"),
    Param("ring_timeout", INTS, 45, "seconds to ring before giving up ('<'-list per destination)",
          low=1, high=28800),
    Param("delay_dial", INTS, 0, "seconds to wait before dialling ('<'-list per destination)",
          low=0, high=28800),
    Param("max_duration", INT, 14400, "MPC limit in seconds", low=300, high=28800),
    Param("max_participants", INT, 10, "MPC limit", low=2, high=10),
    Param("record_min_member_count", INT, 1, "participants in conference before the recording "
          "begins", low=1, high=2),
    Param("wait_music_url", STR, None, "heard while the MPC is not yet active"),
    _method("wait_music_method", "GET", "wait_music_url"),
    Param("agent_hold_music_url", STR, None, "hold music of agents and supervisors"),
    _method("agent_hold_music_method", "GET", "agent_hold_music_url"),
    Param("customer_hold_music_url", STR, None, "hold music of customers"),
    _method("customer_hold_music_method", "GET", "customer_hold_music_url"),
    Param("recording_callback_url", URL, None, "URL of the MPC's recording events"),
    _method("recording_callback_method", "GET", "recording_callback_url"),
    Param("status_callback_url", URL, None, "URL of MPC and participant status events"),
    _method("status_callback_method", "GET", "status_callback_url"),
    Param("on_exit_action_url", URL, None, "URL requested when the participant exits"),
    _method("on_exit_action_method", "POST", "on_exit_action_url"),
    Param("record", BOOL, False, "record the MPC from its creation"),
    Param("record_participant_track", BOOL, False, "record this participant's track"),
    Param("record_file_format", CHOICE, "mp3", "mp3 or wav", choices=("mp3", "wav")),
    Param("status_callback_events", EVENTS, "mpc-state-changes,participant-state-changes",
          "comma-separated event groups sent to status_callback_url"),
    Param("stay_alone", BOOL, False, "may this participant stay alone in the MPC"),
    Param("coach_mode", BOOL, True, "supervisors only: heard by agents only"),
    Param("mute", BOOL, False, "join muted"),
    Param("hold", BOOL, False, "join on hold"),
    Param("start_mpc_on_enter", BOOL, True, "the MPC starts when this participant enters"),
    Param("end_mpc_on_exit", BOOL, False, "the MPC ends when this participant exits"),
    Param("relay_dtmf_inputs", BOOL, False, "relay DTMF to the others", supported=False,
          why="DTMF tones are not relayed as audio"),
    Param("enter_sound", SOUND, "beep:1", "beep:1, beep:2, none or a URL"),
    _method("enter_sound_method", "GET", "enter_sound"),
    Param("exit_sound", SOUND, "beep:2", "beep:1, beep:2, none or a URL"),
    _method("exit_sound_method", "GET", "exit_sound"),
    Param("start_recording_audio", STR, None, "played when a recording starts"),
    _method("start_recording_audio_method", "GET", "start_recording_audio"),
    Param("stop_recording_audio", STR, None, "played when a recording stops"),
    _method("stop_recording_audio_method", "GET", "stop_recording_audio"),
    *CALLBACK,
    Param("create_mpc_with_single_participant", BOOL, True, "create the MPC with its first "
          "participant", supported=False, why="an MPC is always created by its first participant"),
    Param("send_digits", STR, None, "DTMF sent once the call is answered", supported=False,
          why="digits are not sent to the callee"),
    Param("send_on_preanswer", BOOL, False, "send send_digits on pre-answer", supported=False,
          why="digits are not sent to the callee"),
    *_TRANSCRIBE,
)

_LIST = (
    Param("sub_account", STR, None, "a subaccount's auth_id: its MPCs"),
    Param("friendly_name", STR, None, "only MPCs of this name"),
    Param("status", CHOICE, None, "initialized, active or ended",
          choices=("initialized", "active", "ended")),
    Param("termination_cause_code", INT, None, "1000, 1010, 2000 or 3000"),
    *(Param(f"{time}{op}", TIME, None, "YYYY-MM-DD HH:MM[:ss] (UTC)")
      for time in ("end_time", "creation_time") for op in ("", "__gt", "__gte", "__lt", "__lte")),
    Param("limit", INT, 20, "results per page", low=1, high=20),
    Param("offset", INT, 0, "results to skip", low=0),
    *CALLBACK,
)

_START_RECORDING = (
    _FILE_FORMAT,
    Param("recording_callback_url", URL, None, "URL of this recording's events (default: the "
          "MPC's recording_callback_url)"),
    Param("recording_callback_method", METHOD, "POST", "HTTP method for recording_callback_url"),
    *CALLBACK,
    *_TRANSCRIBE,
)

#: The voices Speak takes (the API's Speak on calls and conference members).
SPEAK_VOICES = ("WOMAN", "MAN")
_SPEAK = (
    Param("text", STR, None, "the text to speak", max_len=3000),
    Param("voice", CHOICE, "WOMAN", "WOMAN or MAN", choices=SPEAK_VOICES),
    Param("language", STR, "en-US", "language of the text, e.g. en-US, fr-FR", max_len=16),
    Param("mix", BOOL, True, "mix the speech with the conference (mpcmix always mixes it)"),
    Param("type", STR, None, "type of the text (accepted, not interpreted)"),
    *CALLBACK,
)

OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation("list", "GET", "", 200, "List multiparty calls", _LIST),
    Operation("get", "GET", "{mpc_id}/", 200, "Retrieve a multiparty call", CALLBACK),
    Operation("start", "POST", "{mpc_id}/", 204,
              "Start (activate) an Initialized multiparty call (404 in any other state)",
              (Param("status", CHOICE, None, "active (any case)", choices=("active",)),
               *CALLBACK), required=("status",)),
    Operation("end", "DELETE", "{mpc_id}/", 204, "End a multiparty call (the SDK's stop)",
              CALLBACK),
    Operation("list_participants", "GET", "{mpc_id}/Participant/", 200, "List participants",
              (Param("call_uuid", STR, None, "only the participant of this call"),
               Param("limit", INT, 20, "results per page", low=1, high=20),
               Param("offset", INT, 0, "results to skip", low=0),
               *CALLBACK)),
    Operation("add_participant", "POST", "{mpc_id}/Participant/", 201,
              "Add a participant (creates the MPC when no live MPC has the name)",
              _ADD_PARTICIPANT, required=("role",)),
    Operation("get_participant", "GET", "{mpc_id}/Participant/{member_id}/", 200,
              "Retrieve a participant", CALLBACK, members="one"),
    Operation("update_participant", "POST", "{mpc_id}/Participant/{member_id}/", 202,
              "Update participants: mute, hold, coach_mode",
              (Param("mute", BOOL, None, "true to mute, false to unmute"),
               Param("hold", BOOL, None, "true to hold (hold music), false to unhold"),
               Param("coach_mode", BOOL, None, "supervisors only, one member: heard by agents "
                     "only"),
               *CALLBACK), members="many"),
    Operation("kick_participant", "DELETE", "{mpc_id}/Participant/{member_id}/", 204,
              "Kick participants", CALLBACK, members="many"),
    Operation("start_recording", "POST", "{mpc_id}/Record/", 202, "Start recording the MPC",
              _START_RECORDING),
    Operation("stop_recording", "DELETE", "{mpc_id}/Record/", 204, "Stop recording the MPC",
              CALLBACK),
    Operation("pause_recording", "POST", "{mpc_id}/Record/Pause/", 204,
              "Pause the MPC's recording", CALLBACK),
    Operation("resume_recording", "POST", "{mpc_id}/Record/Resume/", 204,
              "Resume the MPC's recording", CALLBACK),
    Operation("start_participant_recording", "POST", "{mpc_id}/Participant/{member_id}/Record/",
              200, "Start recording a participant", (*_START_RECORDING, _TRACK_TYPE), members="one", bare_name=True),
    Operation("stop_participant_recording", "DELETE",
              "{mpc_id}/Participant/{member_id}/Record/", 204, "Stop recording a participant",
              (_TRACK_TYPE, *CALLBACK), members="one", bare_name=True),
    Operation("pause_participant_recording", "POST",
              "{mpc_id}/Participant/{member_id}/Record/Pause/", 204,
              "Pause a participant's recording", (_TRACK_TYPE, *CALLBACK), members="one", bare_name=True),
    Operation("resume_participant_recording", "POST",
              "{mpc_id}/Participant/{member_id}/Record/Resume/", 204,
              "Resume a participant's recording", (_TRACK_TYPE, *CALLBACK), members="one", bare_name=True),
    Operation("start_play_audio", "POST", "{mpc_id}/Member/{member_id}/Play/", 202,
              "Play an audio file to participants",
              (Param("urls", URLS, None, "URL of the audio file (the API's name)"),
               Param("url", URLS, None, "URL of the audio file (the SDK's name)"),
               *CALLBACK),
              one_of=("urls", "url"), members="many"),
    Operation("stop_play_audio", "DELETE", "{mpc_id}/Member/{member_id}/Play/", 204,
              "Stop playing audio (with the member form that started it)", CALLBACK,
              members="many"),
    Operation("start_speak", "POST", "{mpc_id}/Member/{member_id}/Speak/", 202,
              "Speak text to participants (text-to-speech)", _SPEAK, required=("text",),
              members="many"),
    Operation("stop_speak", "DELETE", "{mpc_id}/Member/{member_id}/Speak/", 204,
              "Stop speaking (with the member form that started it)", CALLBACK,
              members="many"),
    # The far end (the participant's phone): emulator only.
    Operation("hangup", "POST", "/emulator/calls/{call_uuid}/hangup", 200,
              "The participant's phone hangs up", emulator=True),
    Operation("answer", "POST", "/emulator/calls/{call_uuid}/answer", 200,
              "The participant's phone answers now", emulator=True),
    Operation("dtmf", "POST", "/emulator/calls/{call_uuid}/dtmf", 200,
              "The participant's phone presses digits",
              (Param("digits", DIGITS, None, "0-9, # and *"),), required=("digits",),
              emulator=True),
)}

#: The SDK's other names for operations (its `stop` is the model's `end`).
ALIASES = {"stop": "end"}


def operation(name: str) -> Operation:
    """The operation named `name` (or an alias of it); KeyError if there is none."""
    return OPERATIONS[ALIASES.get(name, name)]


def parse(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """`operation(name).parse(raw)`: the call model's way in."""
    return operation(name).parse(raw)


def with_param(name: str, param: Param) -> Operation:
    """Operation `name` with `param` added (or replacing the one of its name): a new value, for
    extending the table (``OPERATIONS[name] = with_param(name, Param(...))``)."""
    op = OPERATIONS[name]
    kept = tuple(p for p in op.params if p.name != param.name)
    return replace(op, params=(*kept, param))


def destinations(to: str) -> tuple[str, ...]:
    """The numbers one `to` dials: '<'-separated, for an agent that rings several phones."""
    return tuple(part.strip() for part in to.split("<"))


# --- docs ------------------------------------------------------------------------------------------


def describe(p: Param) -> str:
    """What a parameter takes, in words (for the docs)."""
    if p.kind in (CHOICE, METHOD):
        words = ", ".join(p.choices) if p.kind == CHOICE else "GET, POST"
        text = f"one of {words}"
    elif p.kind in (INT, INTS):
        bounds = [f"≥ {p.low}" if p.low is not None else "", f"≤ {p.high}" if p.high is not None else ""]
        text = "integer" + (" " + " and ".join(b for b in bounds if b) if any(bounds) else "")
        if p.kind == INTS:
            text += ", '<'-list"
    else:
        text = {STR: "text", BOOL: "true or false", SOUND: "beep:1, beep:2, none or a URL",
                EVENTS: "comma-separated groups", TIME: "YYYY-MM-DD HH:MM[:ss]",
                DIGITS: "0-9, #, *", URLS: "a URL (or a list of one)",
                URL: "an http(s) URL, checked when given"}[p.kind]
        if p.max_len is not None:
            text += f", at most {p.max_len} characters"
    return text


def _default_text(p: Param) -> str:
    if p.default is None:
        return ""
    if isinstance(p.default, bool):
        return "true" if p.default else "false"
    return str(p.default)


def parameters_markdown(operations: Mapping[str, Operation] | None = None) -> str:
    """The parameter list of docs/server.md, generated from the table."""
    table = OPERATIONS if operations is None else operations
    out: list[str] = []
    for op in table.values():
        where = op.path if op.emulator else f"/v1/Account/{{auth_id}}/MultiPartyCall/{op.path}"
        out.append(f"### `{op.name}`: {op.http} `{where}` → {op.status}\n")
        out.append(f"{op.summary}.\n")
        if not op.params:
            out.append("No parameters.\n")
            continue
        out.append("| parameter | takes | default | honoured |")
        out.append("|---|---|---|---|")
        for p in op.params:
            names = ", ".join(f"`{n}`" for n in (p.name, *p.aliases))
            needed = " (required)" if p.name in op.required else ""
            honoured = "yes" if p.supported else f"default only: {p.why}"
            out.append(f"| {names}{needed} | {describe(p)} | {_default_text(p)} | {honoured} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


__all__ = [
    "ALIASES",
    "ASYNC_PARAMS",
    "BOOL",
    "CHOICE",
    "CONFIRM_KEYS",
    "DIGITS",
    "DOCS_END",
    "DOCS_START",
    "EVENTS",
    "EVENT_GROUPS",
    "INT",
    "INTS",
    "MAX_DESTINATIONS",
    "METHOD",
    "OPERATIONS",
    "ROLES",
    "SOUND",
    "SPEAK_VOICES",
    "STR",
    "TIME",
    "URL",
    "Operation",
    "Param",
    "destinations",
    "operation",
    "parameters_markdown",
    "parse",
    "with_generated_docs",
    "with_param",
]


#: The markers around the generated parameter list in docs/server.md.
DOCS_START = "<!-- parameters: generated by `make docs` from mpcmix.model.params; do not edit -->"
DOCS_END = "<!-- parameters: end -->"


def with_generated_docs(text: str, operations: Mapping[str, Operation] | None = None) -> str:
    """`text` (docs/server.md) with the part between the markers made anew from the table."""
    head, start, rest = text.partition(DOCS_START)
    _, end, tail = rest.partition(DOCS_END)
    if not start or not end:
        raise ValueError("the parameter list's markers are missing")
    return f"{head}{DOCS_START}\n\n{parameters_markdown(operations)}\n{DOCS_END}{tail}"
