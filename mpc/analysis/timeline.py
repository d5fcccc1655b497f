"""A scenario's call states over time, from the call model alone (no audio is mixed).

`state_timeline(scenario)` runs the scenario exactly as `mpcmix render` does, through the same
driver and the same engine timing, with an engine that mixes nothing: its `on_span` hook records
the model's `MixState` of every span. The result, a `StateTimeline`, answers what routing decided at any time:
`matrix_at(t)`, `explain_at(t)`, the spans in which a listener may hear a source
(`allowed_spans`), and what began and ended each of them (`hearing_spans`). `mpcmix inspect`
prints it; the who-heard-whom report takes its allowed spans from it.

Times are integer milliseconds on the scenario timeline (frame boundaries), as in the call model;
`*_at(t)` take seconds. A state holds over ``[start_ms, end_ms)``: at an instant where something
changes, the state after the change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

from mpcmix.errors import MpcError
from mpcmix.model import MixState
from mpcmix.routing import (
    CallPhase,
    CallState,
    MpcStatus,
    RoutingMatrix,
    build_matrix,
    explain,
    stack,
    voice_source,
)
from mpcmix.scenario import (
    CollectingSink,
    LoadedScenario,
    ScenarioDriver,
    ScenarioEvent,
    frame_boundary_ms,
    load_scenario,
    scenario_engine,
    scenario_from_dict,
)

#: The lane states of a participant, in the report's timeline and `participant_state`.
RINGING, WAITING, IN_CONFERENCE, HELD, EXITED = "ringing", "waiting", "in conference", "held", "exited"
VOICE = voice_source("")


@dataclass(frozen=True)
class Span:
    """The state of every live MPC over ``[start_ms, end_ms)``."""

    start_ms: int
    end_ms: int
    state: MixState

    @cached_property
    def matrix(self) -> RoutingMatrix:
        """The routing matrix of the span (every live MPC's, stacked)."""
        return stack(build_matrix(c) for c in self.state.calls)

    @cached_property
    def reasons(self) -> dict[tuple[str, str], tuple[bool, str]]:
        """``(listener, source) -> (heard, reason)`` for every cell of `matrix`."""
        out: dict[tuple[str, str], tuple[bool, str]] = {}
        for call in self.state.calls:
            matrix = build_matrix(call)
            words = explain(call)
            for i, listener in enumerate(matrix.listeners):
                for j, source in enumerate(matrix.sources):
                    out[(listener, source)] = (bool(matrix.gains[i][j]), words[(listener, source)])
        return out

    def call_of(self, name: str) -> CallState | None:
        """The call in which `name` is a participant or the recording row (None if none)."""
        for call in self.state.calls:
            if name == call.recording_name or any(p.name == name for p in call.participants):
                return call
        return None

    def decide(self, listener: str, source: str) -> tuple[bool, str]:
        """Whether `source` reaches `listener` in this span, and why (also across calls)."""
        found = self.reasons.get((listener, source))
        if found is not None:
            return found
        if self.call_of(listener) is None:
            return False, f"{listener} is not in a live MPC"
        if source.startswith(VOICE):
            return False, f"{source[len(VOICE):]} is not a participant of {listener}'s MPC (yet)"
        return False, f"{source} is not a source of {listener}'s MPC"


@dataclass(frozen=True)
class HearingSpan:
    """One span in which a listener may hear a source, and what began and ended it."""

    start_ms: int
    end_ms: int
    reason: str  # why it is heard (the rule, at the start of the span)
    began: str  # what happened at start_ms
    ended: str  # what happened at end_ms, and why it is no longer heard


@dataclass
class StateTimeline:
    """The routing states of one scenario, span by span (see the module docstring)."""

    scenario: LoadedScenario
    spans: tuple[Span, ...]
    end_ms: int
    final_state: MixState
    callbacks: tuple[Any, ...]  # mpcmix.events.Event, in order
    member_labels: dict[str, str] = field(default_factory=dict)  # member_id -> label

    # -- lookups ---------------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.scenario.sample_rate

    @property
    def frame_ms(self) -> int:
        return self.scenario.frame_ms

    def span_at(self, t_s: float | str | Fraction) -> Span | None:
        """The span holding time `t_s` (seconds); None before 0 or from the end on."""
        t_ms = Fraction(str(t_s)) * 1000
        for span in self.spans:
            if span.start_ms <= t_ms < span.end_ms:
                return span
        return None

    def state_at(self, t_s: float | str | Fraction) -> MixState:
        """The call states at `t_s` (the final state from the scenario's end on)."""
        span = self.span_at(t_s)
        return self.final_state if span is None else span.state

    def matrix_at(self, t_s: float | str | Fraction) -> RoutingMatrix:
        """The routing matrix at `t_s`, with its labels (every live MPC's, stacked)."""
        span = self.span_at(t_s)
        if span is not None:
            return span.matrix
        return stack(build_matrix(c) for c in self.final_state.calls)

    def listeners(self) -> tuple[str, ...]:
        """Every listener row that ever exists: participants in order of appearance, then the
        conference recordings."""
        people: dict[str, None] = {}
        recordings: dict[str, None] = {}
        for span in self.spans:
            for call in span.state.calls:
                people.update((p.name, None) for p in call.participants)
                recordings[call.recording_name] = None
        return (*people, *recordings)

    def participants(self) -> tuple[str, ...]:
        """Every participant's label, in order of appearance."""
        rows = set(self.recording_rows())
        return tuple(name for name in self.listeners() if name not in rows)

    def recording_rows(self) -> tuple[str, ...]:
        """The conference recordings' listener rows (``recording`` for the scenario's MPC)."""
        return tuple(dict.fromkeys(c.recording_name for s in self.spans for c in s.state.calls))

    def same_call(self, a: str, b: str) -> bool:
        """Whether listener/participant `a` and participant `b` ever share an MPC."""
        return any(
            (call := span.call_of(a)) is not None and call is span.call_of(b) for span in self.spans
        )

    # -- spans of a cell -------------------------------------------------------------------------

    def allowed_spans(self, listener: str, source: str, *, capturing_only: bool = True
                      ) -> list[tuple[int, int]]:
        """The spans (ms) in which the rules let `source` reach `listener`, merged.

        `source` is a source label or a participant's name (its voice). For a conference
        recording's row, and `capturing_only`, only while that recording captures (a file is
        being written): what the recording file holds.
        """
        source = self.source_label(source)
        out: list[tuple[int, int]] = []
        for span in self.spans:
            if span.decide(listener, source)[0] and (
                not capturing_only or self.is_capturing(span, listener)
            ):
                out.append((span.start_ms, span.end_ms))
        return merge_spans(out)

    def hearing_spans(self, listener: str, source: str) -> list[HearingSpan]:
        """Like `allowed_spans` (rules only), each span with the rule and what began and ended
        it, in words."""
        source = self.source_label(source)
        out: list[HearingSpan] = []
        run: list[Span] = []
        for span in [*self.spans, None]:
            if span is not None and span.decide(listener, source)[0]:
                run.append(span)
                continue
            if run:
                first, last = run[0], run[-1]
                reason = first.decide(listener, source)[1]
                before = self._span_before(first)
                began = self.changes_at(first.start_ms)
                if before is not None:
                    began += f"; before: {before.decide(listener, source)[1]}"
                if span is None:
                    ended = self.changes_at(last.end_ms) or "the scenario ends"
                    if last.end_ms >= self.end_ms:
                        ended = _join(ended, "end of the scenario")
                else:
                    ended = _join(self.changes_at(span.start_ms),
                                  f"now: {span.decide(listener, source)[1]}")
                out.append(HearingSpan(first.start_ms, last.end_ms, reason, began, ended))
                run = []
        return out

    def not_heard_reasons(self, listener: str, source: str) -> list[tuple[int, int, str]]:
        """The spans in which `source` does not reach `listener`, merged by reason."""
        source = self.source_label(source)
        out: list[tuple[int, int, str]] = []
        for span in self.spans:
            heard, reason = span.decide(listener, source)
            if heard:
                continue
            if out and out[-1][1] == span.start_ms and out[-1][2] == reason:
                out[-1] = (out[-1][0], span.end_ms, reason)
            else:
                out.append((span.start_ms, span.end_ms, reason))
        return out

    def source_label(self, source: str) -> str:
        """A participant's name as its voice label; a source label as it is."""
        return voice_source(source) if ":" not in source else source

    def is_capturing(self, span: Span, listener: str) -> bool:
        """True for a participant; for a conference recording row, whether it captures in `span`."""
        return is_capturing(span.state, listener)

    def capture_spans(self, recording_row: str) -> list[tuple[int, int]]:
        """The spans (ms) in which the conference recording `recording_row` is written."""
        return merge_spans(
            [(s.start_ms, s.end_ms) for s in self.spans if is_capturing(s.state, recording_row)]
        )

    # -- what happened when ----------------------------------------------------------------------

    def operations_at(self, t_ms: int) -> list[str]:
        """The scenario's operations that take effect at `t_ms`, described."""
        return [
            describe_event(e) for e in self.scenario.events
            if frame_boundary_ms(e.at_s, self.frame_ms) == t_ms
        ]

    def callbacks_at(self, t_ms: int) -> list[str]:
        """The API events reported at `t_ms` (each once), e.g. ``ParticipantJoin (agent)``."""
        seen: dict[str, None] = {}
        for e in self.callbacks:
            if e.at_ms != t_ms:
                continue
            member = e.params.get("MemberID")
            who = self.member_labels.get(member, member) if member else None
            seen[f"{e.name} ({who})" if who else e.name] = None
        return list(seen)

    def changes_at(self, t_ms: int) -> str:
        """What happened at `t_ms`, in words (operations, then API events); "" if nothing."""
        parts = []
        ops = self.operations_at(t_ms)
        if ops:
            parts.append("; ".join(ops))
        calls = self.callbacks_at(t_ms)
        if calls:
            parts.append("events: " + ", ".join(calls))
        if not parts:
            return f"at {t_ms / 1000:g} s"
        return f"at {t_ms / 1000:g} s: " + "; ".join(parts)

    def _span_before(self, span: Span) -> Span | None:
        i = self.spans.index(span)
        return self.spans[i - 1] if i > 0 else None


def participant_state(call: CallState, name: str) -> str:
    """A participant's lane state: ringing, waiting, in conference, held or exited."""
    p = call.participant(name)
    if p.phase is CallPhase.RINGING:
        return RINGING
    if p.phase is CallPhase.EXITED or call.status is MpcStatus.ENDED:
        return EXITED
    if p.hold:
        return HELD
    if call.status is MpcStatus.INITIALIZED:
        return WAITING
    return IN_CONFERENCE


def recording_state(state: MixState, recording_row: str) -> str:
    """``recording`` (a file is being written), ``started`` (started, not capturing: paused, or
    waiting for record_min_member_count) or ``not recording``."""
    specs = _conference_recordings(state, recording_row)
    if any(r.capturing for r in specs):
        return "recording"
    return "started" if specs else "not recording"


def is_capturing(state: MixState, listener: str) -> bool:
    """True for a participant's row; for a conference recording's row, whether it captures."""
    rows = {c.recording_name for c in state.calls}
    if listener not in rows:
        return True
    return any(r.capturing for r in _conference_recordings(state, listener))


def _conference_recordings(state: MixState, recording_row: str) -> list[Any]:
    uuids = {u for u, c in zip(state.mpc_uuids, state.calls, strict=True)
             if c.recording_name == recording_row}
    return [r for r in state.recordings if r.track == "conference" and r.mpc_uuid in uuids]


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Touching or overlapping (start, end) spans joined, in order."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def describe_event(event: ScenarioEvent) -> str:
    """A scenario event in words: ``update_participant at 12 s (event 8): member=customer hold=True``."""
    parts = []
    if event.as_name:
        parts.append(f"as={event.as_name}")
    if event.member:
        parts.append(f"member={event.member}")
    for key, value in event.params.items():
        if key in ("from", "to") or key.endswith(("_url", "_method")):
            continue
        text = str(value)
        parts.append(f"{key}={text if len(text) <= 24 else text[:21] + '...'}")
    return event.describe() + (": " + " ".join(parts) if parts else "")


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


# -- running the model alone ---------------------------------------------------------------------


class _SpanRecorder:
    """The engine's `on_span` hook: the spans of constant state, joined where nothing changed."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    def __call__(self, start_ms: int, end_ms: int, state: MixState) -> None:
        if self.spans and self.spans[-1].state == state and self.spans[-1].end_ms == start_ms:
            self.spans[-1] = Span(self.spans[-1].start_ms, end_ms, state)
        else:
            self.spans.append(Span(start_ms, end_ms, state))


def state_timeline(scenario: LoadedScenario | str | Path | dict[str, Any]) -> StateTimeline:
    """Run `scenario` through the call model alone and return its states over time.

    The scenario is driven exactly as `mpcmix render` drives it (the same driver and engine
    timing), with an engine that mixes nothing and records each span's state. Its rules are
    judged as in a render (a broken rule raises `ScenarioError`); media are read for their
    durations only.
    """
    if isinstance(scenario, dict):
        scenario = scenario_from_dict(scenario)
    elif not isinstance(scenario, LoadedScenario):
        scenario = load_scenario(scenario)
    recorder = _SpanRecorder()
    engine = scenario_engine(scenario, None, mix=False, on_span=recorder, detect_speech=False)
    sink = CollectingSink()
    ScenarioDriver(scenario, engine, sink).run()
    model = engine.model
    labels = {}
    for e in sink.events:
        member = e.params.get("MemberID")
        if member and member not in labels:
            try:
                labels[member] = model.member_label(member)
            except MpcError:  # a member the model no longer knows keeps its id
                labels[member] = member
    return StateTimeline(
        scenario=scenario,
        spans=tuple(recorder.spans),
        end_ms=engine.now_ms,
        final_state=model.mix_state(),
        callbacks=tuple(sink.events),
        member_labels=labels,
    )
