"""Hypothesis strategies shared by the test suite (one place, tests/README.md)."""

from __future__ import annotations

import itertools
import random

import numpy as np
from hypothesis import strategies as st
from mpcmix.routing import (
    CallPhase,
    CallState,
    MpcStatus,
    Overlay,
    OverlayKind,
    ParticipantState,
    Role,
    RoutingMatrix,
)

roles = st.sampled_from(list(Role))
phases = st.sampled_from(list(CallPhase))
statuses = st.sampled_from(list(MpcStatus))


@st.composite
def participant_states(draw, name: str) -> ParticipantState:
    """One participant with a random role, phase and flags (coach_mode for any role)."""
    return ParticipantState(
        name=name,
        role=draw(roles),
        phase=draw(st.sampled_from([CallPhase.ANSWERED] * 3 + [CallPhase.RINGING, CallPhase.EXITED])),
        mute=draw(st.booleans()),
        hold=draw(st.booleans()),
        coach_mode=draw(st.booleans()),
    )


@st.composite
def call_states(draw, min_participants: int = 2, max_participants: int = 12) -> CallState:
    """A random call state: 2..12 participants, random roles, flags, overlays and MPC status."""
    n = draw(st.integers(min_participants, max_participants))
    people = tuple(draw(participant_states(f"p{i}")) for i in range(n))
    names = [p.name for p in people]
    overlays = []
    for k in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(list(OverlayKind)))
        targets = tuple(draw(st.lists(st.sampled_from(names), unique=True))) if kind is OverlayKind.PLAY else ()
        overlays.append(Overlay(f"{kind.value}:{k}", kind, targets))
    status = draw(st.sampled_from([MpcStatus.ACTIVE] * 3 + [MpcStatus.INITIALIZED, MpcStatus.ENDED]))
    return CallState(status, people, tuple(overlays))


# --- mixer: signals, routing matrices and block splits ----------------------------------------

#: How a random int16 signal sounds: quiet, speech-like, loud, or pinned at full scale.
SIGNAL_LEVELS = {"quiet": 300.0, "speech": 5000.0, "loud": 20000.0, "full": 40000.0}


@st.composite
def int16_signals(draw, min_size: int = 0, max_size: int = 2000, levels=tuple(SIGNAL_LEVELS)) -> np.ndarray:
    """A random int16 (n,) signal: Gaussian noise at one of `levels` (clipped to int16, so
    "full" spends much of its time at +-32767), with random silent stretches. Drawn from a seed so
    long signals stay cheap; hypothesis shrinks the length, the level and the seed."""
    n = draw(st.integers(min_size, max_size))
    level = SIGNAL_LEVELS[draw(st.sampled_from(list(levels)))]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = np.clip(np.rint(rng.standard_normal(n) * level), -32768, 32767)
    if n and draw(st.booleans()):
        lo = draw(st.integers(0, n - 1))
        x[lo : draw(st.integers(lo, n))] = 0
    return x.astype(np.int16)


@st.composite
def routing_matrices(
    draw, min_listeners: int = 2, max_listeners: int = 12, min_sources: int = 1, max_sources: int = 12
) -> RoutingMatrix:
    """A RoutingMatrix with random 0/1 gains: listeners ``l0..``, sources ``s0..``."""
    n_listeners = draw(st.integers(min_listeners, max_listeners))
    n_sources = draw(st.integers(min_sources, max_sources))
    bits = draw(st.lists(st.integers(0, 1), min_size=n_listeners * n_sources, max_size=n_listeners * n_sources))
    gains = tuple(tuple(bits[i * n_sources : (i + 1) * n_sources]) for i in range(n_listeners))
    return RoutingMatrix(
        listeners=tuple(f"l{i}" for i in range(n_listeners)),
        sources=tuple(f"s{j}" for j in range(n_sources)),
        gains=gains,
    )


@st.composite
def block_splits(draw, total: int, max_blocks: int = 8) -> list[tuple[int, int]]:
    """``[start, stop)`` blocks covering ``[0, total)`` in order, cut at random points (empty
    blocks allowed: a zero-length render must change nothing)."""
    cuts = sorted(draw(st.lists(st.integers(0, total), max_size=max_blocks - 1)))
    edges = [0, *cuts, total]
    return list(itertools.pairwise(edges))


# --- scenario files, valid and broken, and broken audio files (tests/reliability) -------------
#
# The scenario strategies draw plain dicts in the scenario-file shape (docs/scenarios.md). Audio is named through the
# `FuzzMedia` a test passes in (files it wrote once per session), so the strategies stay pure.

#: The lines a fuzzed scenario calls.
FUZZ_NUMBERS = ("+1000", "+1001", "+1002", "+1003", "+1004", "+1005")
#: Time steps between fuzzed events (s): on and off the frame grid, several at one instant.
_FUZZ_STEPS = (0, 0, 0.05, 0.12, 0.12, 0.2, 0.3337, 0.5)
#: A participant counts as surely answered this long after its answer time (s): frame rounding
#: moves each time by at most one 60 ms frame.
_ANSWER_MARGIN = 0.13
_ROLES = ("customer", "agent", "supervisor", "ai-agent")


def _pick(draw, options):
    """One of `options`, drawn by index: much cheaper than a new `sampled_from` per draw."""
    return options[draw(st.integers(0, len(options) - 1))]


class FuzzMedia:
    """The audio files fuzzed scenarios may name (references as a scenario writes them)."""

    def __init__(self, voices, sounds, broken, alternates=None) -> None:
        self.voices = tuple(voices)  # decodable, short: lines' audio
        self.sounds = tuple(sounds)  # decodable, short: music, cues, Play
        self.broken = tuple(broken)  # each refused by load_audio, or missing
        self.alternates = dict(alternates or {})  # voice -> same length and format, other noise


_MPC_NAMES = st.one_of(st.sampled_from(["demo", "call-1"]),
                       st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and "\x00" not in s))


def _as_names(rnd, count):
    """`count` participant names a file name can carry (letters of several scripts, digits,
    '-_.'), distinct even without case."""
    names: list[str] = []
    while len(names) < count:
        name = "".join(rnd.choices("abcxyzABC019-_.éßжλ中", k=rnd.randint(1, 12)))
        if (name not in (".", "..", "recording") and not name.isdigit()
                and name.lower() not in ("all", *(n.lower() for n in names))):
            names.append(name)
    return names


@st.composite
def valid_scenarios(draw, media: FuzzMedia, *, coach: bool = False, muted: bool = False,
                    held: bool = False) -> dict:
    """A scenario that breaks no rule: it renders with exit status 0.

    Short (at most a few seconds, 8 or 16 kHz) so that thousands render in a test run. A small
    model of the call in the strategy keeps every operation legal: at least one participant stays
    (everyone has stay_alone), recordings and Plays are stopped only in the states that allow it,
    digits go to answered calls only, `end` comes last. With `coach`, participant ``boss`` is a
    supervisor coaching from its add to the end; with `muted` / `held`, participant ``quiet`` is
    muted / held throughout (the non-interference tests swap their voices).

    Drawn from one seed (a hypothesis draw for every choice would cost more than the render), so
    a failing scenario is reported whole rather than shrunk; the names are hypothesis's.
    """
    rnd = random.Random(draw(st.integers(0, 2**64 - 1)))
    mpc = draw(_MPC_NAMES)
    seed = draw(st.integers())
    lines = {}
    for number in FUZZ_NUMBERS:
        spec: dict = {"audio": rnd.choice(media.voices)}
        answer = rnd.choice([0, 0, 0, 0.12, 0.37, "never"])
        if answer != 0:
            spec["answer_after"] = answer
        lines[number] = spec
    manual_start = rnd.randint(0, 5) == 0
    count = rnd.randint(2, 5)
    names = _as_names(rnd, count)
    special = [n for n, on in (("boss", coach), ("quiet", muted or held)) if on]
    names = [n for n in names if n not in ("boss", "quiet")][: count - len(special)]
    people = []
    for i, name in enumerate(names + special):
        role = "supervisor" if name == "boss" else rnd.choice(_ROLES)
        number = FUZZ_NUMBERS[i % len(FUZZ_NUMBERS)]
        if name in special:  # answers at once, voice from the first line
            lines[number] = {"audio": lines[number]["audio"]}
        event: dict = {"op": "add_participant", "as": name, "role": role, "from": "+1",
                       "to": number, "stay_alone": True}
        if role == "agent" and name not in special and rnd.randint(0, 5) == 0:
            event["to"] = f"{number}<{FUZZ_NUMBERS[-1]}"  # the last line: nobody's first
        if name == "boss":
            event["coach_mode"] = True
        elif role == "supervisor":
            event["coach_mode"] = (rnd.random() < 0.5)
        if name == "quiet":
            event["mute" if muted else "hold"] = True
        elif rnd.randint(0, 3) == 0:
            event[rnd.choice(["mute", "hold"])] = True
        if manual_start:
            event["start_mpc_on_enter"] = False
        for key in ("enter_sound", "exit_sound"):
            if rnd.randint(0, 3) == 0:
                event[key] = rnd.choice(["beep:1", "beep:2", "none", *media.sounds])
        if name not in special and rnd.randint(0, 6) == 0:
            event["confirm_key"] = rnd.choice("5#")
        people.append(event)
    first = people[0]
    first["max_duration"] = rnd.choice([300, 14400, 28800])
    for key in ("wait_music_url", "agent_hold_music_url", "customer_hold_music_url"):
        if rnd.random() < 0.5:
            first[key] = rnd.choice(media.sounds)
    if rnd.randint(0, 4) == 0:
        first["record"] = True
        first["record_file_format"] = "wav"

    events: list[dict] = []
    t = 0.0
    alive: dict[str, dict] = {}  # name -> its add event
    added_at: dict[str, float] = {}
    recording = "recording" if first.get("record") else None
    tracks: dict[str, set] = {}  # name -> participant recording tracks running or paused
    play_forms: list[str] = []
    started = not manual_start
    pending = list(people)
    for _ in range(rnd.randint(len(people), len(people) + 12)):
        if pending and (not alive or (rnd.random() < 0.5)):
            event = pending.pop(0)
            events.append({"at": round(t, 4), **event})
            alive[event["as"]] = event
            added_at[event["as"]] = t
            t += rnd.choice(_FUZZ_STEPS)
            continue
        op = _legal_op(rnd, media, t, alive, added_at, lines, recording, tracks, play_forms,
                       started, special)
        if op is None:
            continue
        events.append({"at": round(t, 4), **op})
        kind = op["op"]
        if kind in ("hangup", "kick_participant"):
            alive.pop(op["member"])
            tracks.pop(op["member"], None)
        elif kind == "start_recording":
            recording = "recording"
        elif kind in ("pause_recording", "resume_recording"):
            recording = "paused" if kind == "pause_recording" else "recording"
        elif kind == "stop_recording":
            recording = None
        elif kind == "start_participant_recording":
            tracks.setdefault(op["member"], set()).update(
                {"both": ("participant", "all")}.get(op["record_track_type"],
                                                     (op["record_track_type"],)))
        elif kind == "stop_participant_recording":
            tracks[op["member"]].clear()
        elif kind == "start_play_audio":
            play_forms.append(op["member"])
        elif kind == "start":
            started = True
        t += rnd.choice(_FUZZ_STEPS)
    for event in pending:  # everyone is added
        events.append({"at": round(t, 4), **event})
    end = rnd.choice(["end", "stop", None])
    if end is not None:
        t += rnd.choice(_FUZZ_STEPS[2:])
        events.append({"at": round(t, 4), "op": end})
        if rnd.random() < 0.5:
            events.append({"at": round(t + 0.1, 4), "op": "get", "expect_error": 404})
    scenario = {"mpc": mpc, "lines": lines, "events": events}
    scenario["sample_rate"] = rnd.choice([8000, 8000, 8000, 16000])
    if rnd.random() < 0.5:
        scenario["frame_ms"] = rnd.choice([10, 20, 40, 60])
    if rnd.random() < 0.5:
        scenario["seed"] = seed
    if rnd.randint(0, 3) == 0:
        scenario["epoch"] = rnd.choice(
            ["2024-02-29 23:59:59+14:00", "1970-01-01 00:00:00-12:00", "2020-01-01T00:00:00",
             "0001-01-01 00:00:00+14:00", "8999-12-31 23:59:59-12:00"])
    return scenario


def _legal_op(rnd, media, t, alive, added_at, lines, recording, tracks, play_forms, started,
              special):
    """One operation that the call model must accept now, or None."""
    names = list(alive)

    def answered(name):
        line = lines[alive[name]["to"].split("<")[0]]
        after = line.get("answer_after", 0)
        return (after != "never" and "confirm_key" not in alive[name]
                and added_at[name] + after + _ANSWER_MARGIN <= t)

    choices = ["update", "play", "lookup", "recording"]
    free = [n for n in names if n not in special]
    if len(names) > 1 and free:
        choices.append("exit")
    if any(answered(n) for n in names):
        choices.append("dtmf")
    if not started:
        choices.append("start")
    if play_forms:
        choices.append("stop_play")
    kind = rnd.choice(choices)
    if kind == "update":
        supervisors = [n for n in names if alive[n]["role"] == "supervisor" and n not in special]
        if supervisors and (rnd.random() < 0.5):
            return {"op": "update_participant", "member": rnd.choice(supervisors),
                    "coach_mode": (rnd.random() < 0.5)}
        targets = free or names
        member = _member_forms(rnd, targets)
        if member == "all" and len(free) < len(names):
            member = ",".join(free) if free else None
        if member is None:
            return None
        return {"op": "update_participant", "member": member,
                rnd.choice(["mute", "hold"]): (rnd.random() < 0.5)}
    if kind == "exit":
        return {"op": rnd.choice(["hangup", "kick_participant"]),
                "member": rnd.choice(free)}
    if kind == "dtmf":
        return {"op": "dtmf", "member": rnd.choice([n for n in names if answered(n)]),
                "digits": "".join(rnd.choices("0123456789#*", k=rnd.randint(1, 4)))}
    if kind == "start":
        return {"op": "start", "status": rnd.choice(["active", "Active"])}
    if kind == "play":
        key = rnd.choice(["url", "urls"])
        return {"op": "start_play_audio", "member": _member_forms(rnd, names),
                key: rnd.choice(media.sounds)}
    if kind == "stop_play":
        return {"op": "stop_play_audio", "member": rnd.choice(play_forms)}
    if kind == "lookup":
        op = rnd.choice(["get", "list", "get_participant", "list_participants"])
        event: dict = {"op": op}
        if op == "get_participant":
            event["member"] = rnd.choice(names)
        if op == "list" and (rnd.random() < 0.5):
            event["status"] = rnd.choice(["active", "initialized", "ended"])
        return event
    # recordings: the MPC's, or one participant's
    if rnd.random() < 0.5:
        legal = {None: ["start_recording"], "recording": ["pause_recording", "stop_recording"],
                 "paused": ["resume_recording", "stop_recording"]}[recording]
        op = rnd.choice(legal)
        event = {"op": op}
        if op == "start_recording":
            event["file_format"] = rnd.choice(["wav", "wav", "mp3"])
        return event
    name = rnd.choice(names)
    if tracks.get(name):
        track = "both" if len(tracks[name]) == 2 else next(iter(tracks[name]))
        return {"op": "stop_participant_recording", "member": name, "record_track_type": track}
    return {"op": "start_participant_recording", "member": name, "file_format": "wav",
            "record_track_type": rnd.choice(["participant", "all", "both"])}


def _member_forms(rnd, names):
    """`member` as a scenario writes it: one name, a comma list, or all."""
    kind = rnd.randint(0, 2)
    if kind == 0:
        return rnd.choice(names)
    if kind == 1:
        return ",".join([n for n in names if (rnd.random() < 0.5)] or names[:1])
    return "all"


# Broken scenarios: a valid one, then one to three mutations. Each mutation is something a user
# (or a truncated download) could hand to `mpcmix render`; the render must refuse it (exit 2) or
# render it (exit 0), nothing else.

#: Values of the wrong type, out of range or absurd, for any place in a scenario.
_WEIRD_SCALARS = (
    None, True, False, 0, -1, 1, 2**31, 2**63, 10**30, -(10**30), 10**7 + 1, 0.5, -0.0, 1e-300,
    1e308, float("nan"), float("inf"), float("-inf"), "", " ", "0", "-1", "1e999", "nan", "true",
    "never", "all", "recording", "..", "/", "../../etc/passwd", "a,b", ",", "x" * 5000,
    "ü" * 300, "\u202e\u0000", "🙂" * 70, "\ud800x", "a\x85b\u2028", "beep:3", "file:///nonexistent.wav",
    "http://example.com/a.wav", "ftp://x/y", "default:wait", "2020-01-01 00:00:00+00:00",
)


_WEIRD = st.sampled_from(_WEIRD_SCALARS)
_WEIRD_VALUES = st.one_of(
    _WEIRD,
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.lists(_WEIRD, max_size=3),
    st.dictionaries(st.sampled_from(["a", "at", "op", "audio", 1]), _WEIRD, max_size=2),
)


def weird_values():
    """A value of the wrong type or out of range: scalars, empty and nested containers."""
    return _WEIRD_VALUES


def _paths(value, prefix=()):
    """Every (path, value) in a nested dict/list, the root included."""
    yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _set(doc, path, value):
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@st.composite
def broken_scenarios(draw, media: FuzzMedia) -> object:
    """A valid scenario with one to three mutations: wrong types, unknown ops, members and MPCs,
    out-of-range and huge values, times out of order, unicode and very long names, missing
    keys, and missing or broken audio. Often still renderable; usually refused."""
    import copy

    doc = copy.deepcopy(draw(valid_scenarios(media)))
    for _ in range(draw(st.integers(1, 3))):
        kind = _pick(draw, [
            "replace", "replace", "replace", "delete", "add_key", "unknown_op", "unknown_member",
            "other_mpc", "reorder", "duplicate", "audio", "audio", "huge_time", "long_name",
            "not_a_mapping",
        ])
        doc = _mutate(draw, doc, kind, media)
    return doc


def _mutate(draw, doc, kind, media):
    """`doc` with one mutation of `kind` (or unchanged where the kind finds no place)."""
    if not isinstance(doc, dict):
        return doc
    events = doc.get("events") if isinstance(doc.get("events"), list) else []
    event_dicts = [e for e in events if isinstance(e, dict)]
    if kind == "replace":
        places = list(_paths(doc))[1:]
        if not places:  # an earlier mutation emptied the document
            return doc
        path, _ = _pick(draw, places)
        return _set(doc, path, draw(weird_values()))
    if kind == "delete":
        holders = [(p, v) for p, v in _paths(doc) if isinstance(v, dict) and v]
        path, node = _pick(draw, holders)
        del node[_pick(draw, list(node))]
        return doc
    if kind == "add_key":
        holders = [v for _, v in _paths(doc) if isinstance(v, dict)]
        node = _pick(draw, holders)
        key = draw(st.one_of(st.sampled_from(["label", "now_ms", "self", "member_id", "as",
                                              "params", "friendly_name", "uuid", "at"]),
                             st.text(max_size=10), st.integers(), st.just(None)))
        node[key] = draw(weird_values())
        return doc
    if kind == "unknown_op" and event_dicts:
        _pick(draw, event_dicts)["op"] = draw(st.one_of(
            st.sampled_from(["dance", "ADD_PARTICIPANT", "update", "hangup ", "play"]),
            st.text(max_size=12)))
        return doc
    if kind == "unknown_member" and event_dicts:
        event = _pick(draw, event_dicts)
        event["member"] = _pick(draw, ["nobody", "999", "all,nobody", "", ",", "ALL"])
        return doc
    if kind == "other_mpc" and event_dicts:
        event = _pick(draw, event_dicts)
        key = _pick(draw, ["friendly_name", "uuid"])
        event[key] = _pick(draw, ["other", "", "00000000-0000-0000-0000-000000000000"])
        return doc
    if kind == "reorder" and len(event_dicts) >= 2:
        a, b = draw(st.lists(st.sampled_from(range(len(event_dicts))), min_size=2, max_size=2,
                             unique=True))
        event_dicts[a]["at"], event_dicts[b]["at"] = (event_dicts[b].get("at"),
                                                      event_dicts[a].get("at"))
        return doc
    if kind == "duplicate" and event_dicts:
        events.insert(draw(st.integers(0, len(events))), dict(_pick(draw, event_dicts)))
        return doc
    if kind == "audio":
        refs = [(p, v) for p, v in _paths(doc)
                if p and p[-1] in ("audio", "url", "urls", "wait_music_url", "enter_sound",
                                   "exit_sound", "agent_hold_music_url",
                                   "customer_hold_music_url")]
        if refs:
            path, _ = _pick(draw, refs)
            return _set(doc, path, _pick(draw, media.broken))
        return doc
    if kind == "huge_time" and event_dicts:
        event = _pick(draw, event_dicts)
        event["at"] = _pick(draw, [10**7 + 1, 1e300, "1e400", 10**100, -1e-9,
                                            "1/3", "0x10", "1_000"])
        return doc
    if kind == "long_name" and event_dicts:
        event = _pick(draw, event_dicts)
        key = _pick(draw, ["as", "member", "friendly_name", "to", "from"])
        event[key] = _pick(draw, ["x" * 129, "é" * 128, "中" * 85, "x" * 100_000,
                                           "a/b", "a\\b", "a\x00b", "\n", "CON", "-" * 300])
        return doc
    if kind == "not_a_mapping":
        return _pick(draw, [[], [doc], "mpc: x", 0, None, {"events": doc}])
    return doc


def scenario_texts(doc, form: str) -> str:
    """`doc` written as a scenario file: ``yaml`` or ``json`` (NaN written as JSON's NaN)."""
    import json

    import yaml

    if form == "json":
        return json.dumps(doc, default=str)  # ASCII: a lone surrogate travels as an escape
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@st.composite
def mangled_texts(draw, text: str) -> str:
    """A scenario file's text cut short, or with characters inserted."""
    if draw(st.booleans()):
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    at = draw(st.integers(0, len(text)))
    junk = draw(st.one_of(st.text(max_size=8), st.sampled_from(
        ["\t", ": :", "- [", "{", "&a", "*a", "!!python/object:os.system", "\ufeff", "%YAML 9",
         "\x00", "\x1f", "2020-02-30", "1" * 5000, "? [a]\n: 1\n"])))
    return text[:at] + junk + text[at:]


def nested_document(depth: int, form: str) -> str:
    """A scenario whose `events` is `depth` lists deep."""
    if form == "json":
        return '{"mpc": "x", "events": ' + "[" * depth + "]" * depth + "}"
    return "mpc: x\nevents: " + "[" * depth + "]" * depth + "\n"


def alias_bomb() -> str:
    """A YAML scenario of a few lines whose aliases stand for 9**9 values (the billion laughs)."""
    layers = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        layers.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return ("mpc: x\n" + "\n".join(layers) + "\nlines: {}\nevents:\n"
            "  - {at: 0, op: add_participant, as: a, role: agent, from: '+1', to: '+2', "
            "bomb: *a8}\n")


# Broken audio files: bytes written by hand so every header field can be wrong.

def _wav_bytes(tag: int, channels: int, rate: int, bits: int, payload: bytes, *,
               data_size: int | None = None, block_align: int | None = None) -> bytes:
    """A RIFF/WAVE file with a 16-byte fmt chunk and one data chunk; sizes may lie."""
    import struct

    align = block_align if block_align is not None else (channels * bits // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", tag & 0xFFFF, channels & 0xFFFF, rate & 0xFFFFFFFF,
                      (rate * align) & 0xFFFFFFFF, align, bits & 0xFFFF)
    size = len(payload) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack(
        "<I", size & 0xFFFFFFFF) + payload
    return b"RIFF" + struct.pack("<I", len(body) & 0xFFFFFFFF) + body


@st.composite
def audio_file_bytes(draw) -> bytes:
    """The bytes of an audio file, often broken: empty, text, random, truncated, NaN/inf,
    zero-length, one sample, 0 channels, huge or zero rates, lying sizes, flipped bytes."""
    import struct

    kind = _pick(draw, ["empty", "text", "random", "wav", "wav", "wav", "float", "flip",
                                 "truncate", "soundfile"])
    if kind == "empty":
        return b""
    if kind == "text":
        return _pick(draw, [b"hello", b"RIFF", b"RIFF\x00\x00\x00\x00WAVE",
                                     b"<Response><Play>x.wav</Play>", b"fLaC", b"OggS"])
    if kind == "random":
        return draw(st.binary(max_size=200))
    channels = _pick(draw, [1, 1, 2, 3, 0, 255, 1024, 65535])
    rate = _pick(draw, [8000, 16000, 44100, 1, 0, 7, 767_999, 768_000, 768_001,
                                 2**31, 2**32 - 1])
    frames = _pick(draw, [0, 1, 2, 100, 1000])
    if kind == "float":
        pattern = draw(st.lists(st.sampled_from([0.0, 0.5, -1.0, 2.0, float("nan"), float("inf"),
                                                 -float("inf"), 1e30]), min_size=1, max_size=4))
        count = min(frames * max(channels, 1), 5000)
        payload = b"".join(struct.pack("<f", pattern[i % len(pattern)]) for i in range(count))
        return _wav_bytes(3, channels, rate, 32, payload)
    tag, bits = _pick(draw, [(1, 16), (1, 16), (1, 8), (1, 24), (1, 32), (1, 12),
                                      (1, 0), (3, 32), (3, 64), (6, 8), (7, 8), (0xFFFE, 16),
                                      (2, 4), (0x55, 0)])
    payload_len = min(frames * max(channels, 1) * max(bits, 8) // 8, 20_000)
    payload = bytes(draw(st.binary(min_size=0, max_size=16))) * (payload_len // 16 + 1)
    payload = payload[:payload_len] if payload else b"\x00" * payload_len
    data_size = _pick(draw, [None, None, 0, 0xFFFFFFFF, payload_len + 2, 2**31])
    block_align = _pick(draw, [None, None, 0, 1, 65535])
    raw = _wav_bytes(tag, channels, rate, bits, payload, data_size=data_size,
                     block_align=block_align)
    if kind == "flip" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    elif kind == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif kind == "soundfile":
        import io

        import soundfile as sf

        fmt, subtype = _pick(draw, [("FLAC", "PCM_16"), ("OGG", "VORBIS"),
                                             ("AIFF", "PCM_24"), ("WAV", "FLOAT"),
                                             ("WAV", "ULAW"), ("W64", "DOUBLE")])
        samples = np.zeros((max(frames, 1), 2), dtype=np.float32)
        samples[::7] = 0.25
        buf = io.BytesIO()
        sf.write(buf, samples, 8000 if fmt != "OGG" else 16000, format=fmt, subtype=subtype)
        raw = buf.getvalue()
        if draw(st.booleans()):
            raw = raw[: draw(st.integers(0, len(raw)))]
    return raw
