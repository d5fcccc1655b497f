"""Scenario files: loading and validation, before anything is rendered (docs/scenarios.md).

A scenario names the MPC, the audio settings, what each called line says, and a timed list of
operations using the API's own names. Loading checks the shape of the file (types, times, known
operations, audio settings); the rules of the call itself (unknown members, limits, roles) are the
call model's and are judged while the scenario runs.
"""

from __future__ import annotations

import json
import math
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from mpcmix.errors import ScenarioError, ValidationError
from mpcmix.live import StreamSpec, stream_spec
from mpcmix.model import LIVE_PREFIX
from mpcmix.model.params import ALIASES, OPERATIONS, operation

SAMPLE_RATES = (8000, 16000, 24000, 48000)
FRAME_MS = (10, 20, 40, 60)
DEFAULT_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
DEFAULT_AUTH_ID = "MAMPCMIXEMULATOR0001"  # 20 characters starting MA, as the SDK requires
#: The latest epoch: later ones leave no room for a call's timestamps before datetime's year 9999.
LATEST_EPOCH = datetime(9000, 1, 1)
#: The highest rate_per_minute: billed amounts are decimals of 28 digits, five after the point.
MAX_RATE_PER_MINUTE = 10**6

#: Operations that act on one MPC through the API, named as the plivo SDK names its methods
#: (the table of mpcmix.model.params, and the SDK's `stop` for `end`).
API_OPS = frozenset({name for name, op in OPERATIONS.items() if not op.emulator} | set(ALIASES))
#: The far end's actions (the participant's phone), not API calls.
FAR_END_OPS = frozenset(name for name, op in OPERATIONS.items() if op.emulator)
#: Operations whose response is written to responses.jsonl even when they succeed.
LOOKUP_OPS = frozenset({"get", "list", "get_participant", "list_participants"})
#: Operations that name a participant with `member`: those whose path names members, and the
#: far end's (which act on the member's call).
MEMBER_OPS = frozenset(name for name, op in OPERATIONS.items()
                       if "{member_id}" in op.path or op.emulator)
_EVENT_KEYS = frozenset({"at", "op", "as", "member", "expect_error", "friendly_name", "uuid"})
#: The longest `as` name in UTF-8 bytes: `listeners/<as>.wav` must fit a file name's 255 bytes.
MAX_NAME_BYTES = 251
#: The most participants (add_participant events) one scenario may have: each is a listener
#: stream, open and written for the whole render (docs/reliability.md, Rendering).
MAX_PARTICIPANTS = 10_000
#: The largest scenario file read (it is read whole; a scenario document is bounded far below).
MAX_SCENARIO_BYTES = 32 << 20
#: Names no event parameter may take: the call model's own arguments, which the API has not.
_RESERVED_PARAMS = frozenset({"label", "now_ms", "self"})
_TOP_KEYS = frozenset(
    {"mpc", "sample_rate", "frame_ms", "lines", "events", "seed", "epoch", "auth_id",
     "rate_per_minute", "description", "expect"}
)
#: The kinds of `expect:` entries: the checks of mpcmix.testing, by the same names.
EXPECT_KINDS = ("hears", "never_hears")
#: The listener name of a conference recording in expectations and who-heard-whom.
RECORDING_LISTENER = "recording"


#: A stream line's voice is ``live:stream:<number>`` (mpcmix.engine.live; the server connects
#: its stream when the engine opens it).
STREAM_TAG = LIVE_PREFIX + "stream:"


@dataclass(frozen=True)
class LineSpec:
    """What the phone at one number does once it is called: say `audio`, or, a stream line,
    connect the provider's audio stream to `stream`'s URL (a bot: its voice is live)."""

    audio: str | None = None
    answer_after_s: Fraction | None = Fraction(0)  # None: never answers
    stream: StreamSpec | None = None


@dataclass(frozen=True)
class ScenarioEvent:
    """One timed operation. `params` holds the API parameters exactly as written."""

    index: int
    at_s: Fraction
    op: str
    params: Mapping[str, Any]
    as_name: str | None = None
    member: str | None = None
    friendly_name: str | None = None
    uuid: str | None = None
    expect_error: int | None = None

    def describe(self) -> str:
        """How error messages name this event: "update_participant at 9.0 s (event 6)"."""
        return f"{self.op} at {float(self.at_s):g} s (event {self.index + 1})"


@dataclass(frozen=True)
class Expectation:
    """One `expect:` entry: `listener` hears (or never hears) `source`'s voice, within `during`
    (seconds; None: the whole call). `min_coverage` is the share of `during` a `hears` needs."""

    kind: str  # "hears" | "never_hears"
    listener: str
    source: str
    during: tuple[Fraction, Fraction] | None = None
    min_coverage: float = 1.0
    index: int = 0

    def describe(self) -> str:
        """How messages name it: ``never_hears [customer, boss] during [4, 9] (expect 1)``."""
        during = "" if self.during is None else \
            f" during [{float(self.during[0]):g}, {float(self.during[1]):g}]"
        coverage = f" min_coverage {self.min_coverage:g}" if self.min_coverage != 1.0 else ""
        return f"{self.kind} [{self.listener}, {self.source}]{during}{coverage} (expect {self.index + 1})"

    def as_dict(self) -> dict[str, Any]:
        """The entry in the scenario-file shape."""
        out: dict[str, Any] = {self.kind: [self.listener, self.source]}
        if self.during is not None:
            out["during"] = [float(self.during[0]), float(self.during[1])]
        if self.min_coverage != 1.0:
            out["min_coverage"] = self.min_coverage
        return out


@dataclass(frozen=True)
class LoadedScenario:
    """A loaded, shape-checked scenario. Paths in it are resolved against `base_dir`."""

    mpc: str
    base_dir: Path
    events: tuple[ScenarioEvent, ...]
    lines: Mapping[str, LineSpec] = field(default_factory=dict)
    sample_rate: int = 16000
    frame_ms: int = 20
    seed: int = 0
    epoch: datetime = DEFAULT_EPOCH
    auth_id: str = DEFAULT_AUTH_ID
    rate_per_minute: str = "0.00500"
    source: str = "<scenario>"
    warnings: tuple[str, ...] = ()
    expectations: tuple[Expectation, ...] = ()


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read a YAML or JSON scenario file and check its shape (ScenarioError naming the problem)."""
    path = Path(path)
    try:
        if "\x00" in str(path):
            raise ScenarioError(f"{str(path)!r}: a NUL character is not allowed in a path")
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or a device would block or never end
            raise ScenarioError(f"{path}: not a regular file (a folder, a FIFO or a device); "
                                "a scenario is read from a file")
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError(f"{path}: {path.stat().st_size} bytes; a scenario file is at "
                                f"most {MAX_SCENARIO_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc})") from None
    data = _parse(text, path)
    return scenario_from_dict(data, base_dir=path.resolve().parent, source=str(path))


def scenario_from_text(text: str, path: str | Path, *, source: str | None = None) -> LoadedScenario:
    """A scenario given as the text of a file at `path` (its suffix chooses JSON or YAML, its
    folder is the base of relative paths), as `load_scenario` reads the file itself; `source`
    names it in messages (default: `path`)."""
    path = Path(path)
    data = _parse(text, path)
    return scenario_from_dict(data, base_dir=path.resolve().parent,
                              source=str(path) if source is None else source)


def parse_document(text: str, path: Path) -> Any:
    """The YAML or JSON document `text` of the file at `path` (its suffix decides), as plain
    values; ScenarioError naming the file, the line and the problem."""
    return _parse(text, path)


def _parse(text: str, path: Path) -> Any:
    try:
        if path.suffix.lower() == ".json":
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ScenarioError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}"
                                    ) from None
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
                where = f" at character {exc.position}"
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ScenarioError(f"{path}: malformed YAML{where}: {problem}") from None
    except ValueError as exc:
        # A value the parser recognises but cannot build: a YAML date such as 2020-02-30, or a
        # number of more than 4300 digits (Python's limit on int parsing), in YAML or JSON.
        raise ScenarioError(f"{path}: a value cannot be read ({exc})") from None
    except RecursionError:
        raise ScenarioError(f"{path}: the document is nested too deeply") from None


def scenario_from_dict(
    data: Any, *, base_dir: str | Path = ".", source: str = "<scenario>"
) -> LoadedScenario:
    """Check a scenario given as a dict (the scenario-file shape, docs/scenarios.md) and return
    it as a `LoadedScenario`."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping with `mpc`, `lines` and `events`")
    _check_document(data, source)
    warnings = [
        f"{source}: unknown top-level key {key!r} ignored" for key in data if key not in _TOP_KEYS
    ]
    mpc = data.get("mpc")
    if not isinstance(mpc, str) or not mpc.strip():
        raise ScenarioError(f"{source}: `mpc` (the MPC's friendly_name) must be a non-empty string")
    sample_rate = _choice(data, "sample_rate", 16000, SAMPLE_RATES, source)
    frame_ms = _choice(data, "frame_ms", 20, FRAME_MS, source)
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ScenarioError(f"{source}: `seed` must be an integer, not {seed!r}")
    epoch = _epoch(data.get("epoch"), source)
    auth_id = data.get("auth_id", DEFAULT_AUTH_ID)
    if not (isinstance(auth_id, str) and len(auth_id) == 20 and auth_id[:2] in ("MA", "SA")):
        raise ScenarioError(
            f"{source}: `auth_id` must be 20 characters starting MA or SA, not {auth_id!r}"
        )
    rate = str(data.get("rate_per_minute", "0.00500"))
    try:
        if not math.isfinite(float(rate)) or not 0 <= float(rate) <= MAX_RATE_PER_MINUTE:
            raise ValueError
    except ValueError:
        raise ScenarioError(f"{source}: `rate_per_minute` must be a number from 0 to "
                            f"{MAX_RATE_PER_MINUTE}, not {rate!r}") from None
    lines = parse_lines(data.get("lines", {}), source)
    events = _events(data.get("events"), source)
    adds = sum(1 for e in events if e.op == "add_participant")
    if adds > MAX_PARTICIPANTS:
        raise ScenarioError(f"{source}: {adds} add_participant events; a scenario has at most "
                            f"{MAX_PARTICIPANTS} participants (each is a listener stream written "
                            "for the whole render)")
    expectations = _expectations(data.get("expect"), events, source)
    return LoadedScenario(
        mpc=mpc,
        base_dir=Path(base_dir),
        events=events,
        lines=lines,
        sample_rate=sample_rate,
        frame_ms=frame_ms,
        seed=seed,
        epoch=epoch,
        auth_id=auth_id,
        rate_per_minute=rate,
        source=source,
        warnings=tuple(warnings),
        expectations=expectations,
    )


def _expectations(value: Any, events: tuple[ScenarioEvent, ...], source: str
                  ) -> tuple[Expectation, ...]:
    """Check `expect:`: a list of ``{never_hears: [listener, source], during: [a, b]}`` or
    ``{hears: [...], during: [...], min_coverage: c}``; names are participants' `as` names (the
    listener may also be ``recording``)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ScenarioError(f"{source}: `expect` must be a list of {{hears: [listener, source]}} or "
                            "{never_hears: [listener, source]} entries")
    names = [e.as_name for e in events if e.op == "add_participant" and e.as_name is not None]
    out = []
    for index, raw in enumerate(value):
        where = f"{source}: expect {index + 1}"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where} must be a mapping such as {{never_hears: [customer, boss], "
                                f"during: [4, 9]}}, not {raw!r}")
        kinds = [k for k in EXPECT_KINDS if k in raw]
        if len(kinds) != 1:
            raise ScenarioError(f"{where} must have exactly one of `hears` and `never_hears`")
        kind = kinds[0]
        unknown = set(raw) - {kind, "during", "min_coverage"}
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {sorted(map(str, unknown))} (an "
                                "expectation has `hears` or `never_hears`, `during` and, for "
                                "`hears`, `min_coverage`)")
        pair = raw[kind]
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(n, str) for n in pair)):
            raise ScenarioError(f"{where}: `{kind}` must be [listener, source], two participant "
                                f"names, not {pair!r}")
        listener, voice = pair
        known = ", ".join(names) or "none"
        if listener not in names and listener != RECORDING_LISTENER:
            raise ScenarioError(f"{where}: the listener {listener!r} is no participant's `as` name "
                                f"nor `{RECORDING_LISTENER}` (participants: {known})")
        if voice not in names:
            raise ScenarioError(f"{where}: the source {voice!r} is no participant's `as` name "
                                f"(participants: {known})")
        during = None
        if "during" in raw:
            span = raw["during"]
            if not (isinstance(span, list) and len(span) == 2):
                raise ScenarioError(f"{where}: `during` must be [start, end] in seconds, not {span!r}")
            start = to_seconds(span[0], f"{where}: `during` start")
            end = to_seconds(span[1], f"{where}: `during` end")
            if not end > start:
                raise ScenarioError(f"{where}: `during` [{span[0]}, {span[1]}]: the end must come "
                                    "after the start")
            during = (start, end)
        coverage = raw.get("min_coverage", 1.0)
        if "min_coverage" in raw and kind != "hears":
            raise ScenarioError(f"{where}: `min_coverage` applies only to `hears`")
        if isinstance(coverage, bool) or not isinstance(coverage, int | float) \
                or not 0 < coverage <= 1:
            raise ScenarioError(f"{where}: `min_coverage` must be a number in (0, 1], not {coverage!r}")
        out.append(Expectation(kind=kind, listener=listener, source=voice, during=during,
                               min_coverage=float(coverage), index=index))
    return tuple(out)


#: Bounds on a scenario document, counting each use of a YAML alias anew: a few YAML lines of
#: nested aliases stand for billions of values, which would be copied into DIR/scenario.json.
MAX_DOCUMENT_VALUES = 1_000_000
MAX_DOCUMENT_DEPTH = 64


def _check_document(data: Any, source: str) -> None:
    """Refuse a document too large or too deep once its aliases are expanded (or cyclic), one
    whose text is not valid Unicode (a lone surrogate, which no UTF-8 file can hold), or one with
    a mapping key that is not text or a number (a YAML date). Walks without recursion, and stops
    at the first problem or at the bounds."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_DOCUMENT_VALUES:
            raise ScenarioError(f"{source}: the document holds more than {MAX_DOCUMENT_VALUES} "
                                "values once its YAML aliases are expanded")
        if depth > MAX_DOCUMENT_DEPTH:
            raise ScenarioError(f"{source}: the document is nested more than "
                                f"{MAX_DOCUMENT_DEPTH} levels deep")
        if isinstance(value, str):
            _check_text(value, source)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    _check_text(key, source)
                elif key is not None and not isinstance(key, int | float):
                    raise ScenarioError(f"{source}: the key {key!r} is not text or a number")
                stack.append((item, depth + 1))
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend((item, depth + 1) for item in value)


def _check_text(text: str, source: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ScenarioError(f"{source}: the text {text[:40]!r} holds a lone surrogate "
                            f"({text[exc.start]!r}), which is not valid Unicode") from None


def _choice(data: dict[str, Any], key: str, default: int, allowed: tuple[int, ...], source: str) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or value not in allowed:
        options = ", ".join(map(str, allowed))
        raise ScenarioError(f"{source}: `{key}` must be one of {options}, not {value!r}")
    return int(value)


def _epoch(value: Any, source: str) -> datetime:
    if value is None:
        return DEFAULT_EPOCH
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise ScenarioError(
                f"{source}: `epoch` must be a timestamp like '2020-01-01 00:00:00+00:00', "
                f"not {value!r}"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.replace(tzinfo=None) > LATEST_EPOCH:
        # A call's timestamps run up to 10**7 s (about 116 days) and more past the epoch.
        raise ScenarioError(f"{source}: `epoch` must be before {LATEST_EPOCH:%Y-%m-%d}, not "
                            f"{value!r}")
    return parsed


def frame_boundary_ms(at_s: Fraction, frame_ms: int) -> int:
    """The first frame boundary at or after `at_s`, in milliseconds (exact)."""
    frames = -(-(at_s * 1000) // frame_ms)
    return int(frames) * frame_ms


def to_seconds(value: Any, what: str) -> Fraction:
    """A time in seconds as an exact fraction (0.1 is 1/10); ScenarioError if it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ScenarioError(f"{what} must be a number of seconds, not {value!r}")
    try:
        seconds = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise ScenarioError(f"{what} must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise ScenarioError(f"{what} must not be negative ({value!r})")
    if seconds > 10**7:
        raise ScenarioError(f"{what} is beyond any call's length ({value!r} s)")
    return seconds


def parse_lines(value: Any, source: str) -> dict[str, LineSpec]:
    """Check a `lines` mapping (number -> {audio, answer_after}), as scenarios and the server's
    lines file give it; ScenarioError naming `source` and the line otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{source}: `lines` must map phone numbers to {{audio, answer_after}}")
    out: dict[str, LineSpec] = {}
    for number, spec in value.items():
        where = f"{source}: line {number!r}"
        if spec is None:
            spec = {}
        if isinstance(spec, str):
            spec = {"audio": spec}
        if not isinstance(spec, dict):
            raise ScenarioError(f"{where} must be a mapping with `audio` and `answer_after`")
        unknown = set(spec) - {"audio", "answer_after", "stream"}
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {sorted(unknown, key=repr)}; a line "
                                "has `audio` or `stream`, and `answer_after`")
        stream = None
        if "stream" in spec:
            if "audio" in spec:
                raise ScenarioError(f"{where}: a line has `audio` or `stream`, not both (a "
                                    "stream line's voice is what its stream server sends)")
            if not isinstance(spec["stream"], dict):
                raise ScenarioError(f"{where}: `stream` must be a mapping with `url` "
                                    "(content_type, bidirectional, extra_headers...)")
            try:
                stream = stream_spec(spec["stream"], where=f"{where}: stream")
            except ValidationError as exc:
                raise ScenarioError(exc.message) from None
            if stream.audio_track != "inbound":
                raise ScenarioError(f"{where}: stream: a stream line sends the mix its "
                                    "participant hears as its inbound track; audio_track must be "
                                    f"inbound, not {stream.audio_track!r}")
        audio = spec.get("audio")
        if audio is not None and (not isinstance(audio, str) or not audio):
            raise ScenarioError(f"{where}: `audio` must be a path or file:// URL, not {audio!r}")
        answer = spec.get("answer_after", 0)
        if answer == "never":
            answer_s = None
        else:
            answer_s = to_seconds(answer, f"{where}: `answer_after`")
        out[str(number)] = LineSpec(audio=audio, answer_after_s=answer_s, stream=stream)
    return out


def stream_voice(number: str) -> str:
    """The live voice reference of stream line `number` (what the call model is told)."""
    return f"{STREAM_TAG}{number}"


def stream_lines(lines: Mapping[str, LineSpec]) -> list[str]:
    """The numbers of the stream lines among `lines`."""
    return [number for number, spec in lines.items() if spec.stream is not None]


def to_model_lines(lines: Mapping[str, LineSpec], frame_ms: int) -> dict[str, Any]:
    """The call model's `Line`s: answer times rounded up to frame boundaries."""
    from mpcmix.model import Line

    return {
        number: Line(
            audio=stream_voice(number) if spec.stream is not None else spec.audio,
            answer_after_ms=None if spec.answer_after_s is None
            else frame_boundary_ms(spec.answer_after_s, frame_ms),
        )
        for number, spec in lines.items()
    }


def _events(value: Any, source: str) -> tuple[ScenarioEvent, ...]:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise ScenarioError(f"{source}: `events` must be a list of operations")
    events: list[ScenarioEvent] = []
    last = Fraction(0)
    for index, raw in enumerate(value):
        where = f"{source}: event {index + 1}"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where} must be a mapping with `at` and `op`, not {raw!r}")
        op = raw.get("op")
        if not isinstance(op, str) or (op not in API_OPS and op not in FAR_END_OPS):
            raise ScenarioError(f"{where}: unknown operation {op!r} (known: "
                                f"{', '.join(sorted(API_OPS | FAR_END_OPS))})")
        where = f"{source}: {op} (event {index + 1})"
        if "at" not in raw:
            raise ScenarioError(f"{where} has no `at` time")
        at_s = to_seconds(raw["at"], f"{where}: `at`")
        if at_s < last:
            raise ScenarioError(
                f"{where}: `at` {raw['at']} s is before the previous event's {float(last):g} s "
                "(events must be in time order)"
            )
        last = at_s
        as_name = raw.get("as")
        if as_name is not None:
            if op != "add_participant":
                raise ScenarioError(f"{where}: `as` names a participant only on add_participant")
            if not isinstance(as_name, str) or not _is_safe_name(as_name):
                raise ScenarioError(
                    f"{where}: `as` must be a name usable as a file name (letters, digits, "
                    f"'-', '_', '.'; at most 128 characters and {MAX_NAME_BYTES} bytes in "
                    f"UTF-8), not {as_name!r}"
                )
        member = raw.get("member", raw.get("member_id", raw.get("participant_id")))
        if op in MEMBER_OPS:
            if member is None:
                raise ScenarioError(f"{where} needs `member` (an `as` name, a member_id, a "
                                    "comma-separated list of them, or `all`)")
            member = str(member)
        elif member is not None:
            raise ScenarioError(f"{where}: {op} takes no `member`")
        expect = raw.get("expect_error")
        if expect is not None and (isinstance(expect, bool) or not isinstance(expect, int)
                                   or not 400 <= expect <= 599):
            raise ScenarioError(f"{where}: `expect_error` must be an HTTP status such as 400 or "
                                f"404, not {expect!r}")
        friendly_name = raw.get("friendly_name")
        uuid = raw.get("uuid")
        for key, val in (("friendly_name", friendly_name), ("uuid", uuid)):
            if val is not None and not isinstance(val, str):
                raise ScenarioError(f"{where}: `{key}` must be a string, not {val!r}")
        params = {
            k: v for k, v in raw.items()
            if k not in _EVENT_KEYS and k not in ("member_id", "participant_id")
        }
        for key in params:
            if not isinstance(key, str):
                raise ScenarioError(f"{where}: the key {key!r} is not a parameter name (a "
                                    "parameter is named by text)")
            if key in _RESERVED_PARAMS:
                raise ScenarioError(f"{where}: `{key}` is not an API parameter"
                                    + (" (name a participant with `as`)" if key == "label" else ""))
        unknown = operation(op).unknown(params)
        if unknown:
            known = ", ".join(sorted(operation(op).by_name)) or "none"
            raise ScenarioError(f"{where}: unknown parameter(s) {', '.join(map(repr, unknown))} "
                                f"of {op} (its parameters: {known})")
        events.append(
            ScenarioEvent(
                index=index,
                at_s=at_s,
                op=op,
                params=params,
                as_name=as_name,
                member=member,
                friendly_name=friendly_name,
                uuid=uuid,
                expect_error=expect,
            )
        )
    return tuple(events)


def _is_safe_name(name: str) -> bool:
    return (
        0 < len(name) <= 128
        and name not in (".", "..")
        and all(c.isalnum() or c in "-_." for c in name)
        and len(name.encode("utf-8")) <= MAX_NAME_BYTES
        and name != "recording"
    )
