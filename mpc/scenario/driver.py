"""Playing a scenario through a call engine: its events at their times, then until it ends.

`ScenarioDriver(scenario, engine, sink)` applies each event to the engine's call model at the
first frame boundary at or after its `at`, lets the engine render between them, and stops the
audio timeline when the scenario's MPC ends (or, with nothing left to end it, when every voice has
finished). It writes no file itself: what it observes goes to its `sink` (the callbacks, in
order; the responses of look-ups and of expected errors; warnings), and what the engine mixes
goes where the engine was told (files, a tap, a span hook). The folder writer (`render_scenario`),
the timeline (mpcmix.analysis.timeline) and the who-heard-whom measure all run scenarios this way.

`scenario_engine(scenario, out_dir, **options)` makes the engine a scenario runs on: its media
library (paths relative to the scenario's folder), its call model (lines, seed, epoch, billing)
and a `CallEngine` at its rate and frame.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from mpcmix.engine import CallEngine
from mpcmix.errors import MpcError, ScenarioError
from mpcmix.media import MediaLibrary
from mpcmix.model import CallModel, Event
from mpcmix.model.params import destinations

from .load import LOOKUP_OPS, LoadedScenario, ScenarioEvent, frame_boundary_ms, to_model_lines


class ScenarioSink(Protocol):
    """What a driver reports, as it happens."""

    def callbacks(self, events: list[Event]) -> None:
        """Callbacks the call model produced (in order)."""

    def response(self, record: dict[str, Any]) -> None:
        """``{"at", "event", "op", "status", "response"}`` of a look-up or an expected error."""


class CollectingSink:
    """A sink that keeps what it is told: `events`, `responses`."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.responses: list[dict[str, Any]] = []

    def callbacks(self, events: list[Event]) -> None:
        self.events.extend(events)

    def response(self, record: dict[str, Any]) -> None:
        self.responses.append(record)


def scenario_engine(scenario: LoadedScenario, out_dir: Path | None, **options: Any) -> CallEngine:
    """The call engine `scenario` runs on (see the module docstring); `options` go to
    `CallEngine` (`subtype`, `tap`, `on_span`, `mix`, `silence_voices`, `on_progress`)."""
    media = MediaLibrary(scenario.base_dir, scenario.sample_rate)
    model = CallModel(
        scenario.auth_id,
        frame_ms=scenario.frame_ms,
        seed=scenario.seed,
        epoch=scenario.epoch,
        lines=to_model_lines(scenario.lines, scenario.frame_ms),
        media=media,
        rate_per_minute=Decimal(scenario.rate_per_minute),
    )
    return CallEngine(model, media, out_dir, sample_rate=scenario.sample_rate,
                      frame_ms=scenario.frame_ms, **options)


class ScenarioDriver:
    """Runs one scenario through one engine (see the module docstring).

    After `run()`: `end_ms` (where the audio timeline stopped), `own_mpc` (the uuid of the
    scenario's MPC, None if it never created it), `warnings` (the scenario's, then the run's,
    then the media library's).
    """

    def __init__(self, scenario: LoadedScenario, engine: CallEngine,
                 sink: ScenarioSink | None = None) -> None:
        self.scenario = scenario
        self.engine = engine
        self.model = engine.model
        self.sink: ScenarioSink = sink if sink is not None else CollectingSink()
        self._warnings: list[str] = list(scenario.warnings)
        self.own_mpc: str | None = None
        self.end_ms: int | None = None
        adds = [e for e in scenario.events if e.op == "add_participant"]
        # Whether an event may create the scenario's own MPC; if none can, the audio ends when
        # no MPC is live and no add is left to come (`_ended`).
        self._creates_own = any(
            e.uuid is None and (e.friendly_name or scenario.mpc) == scenario.mpc for e in adds)
        self._adds_left = len(adds)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Everything worth telling about the run (unknown lines, media rendered as silence)."""
        return (*self._warnings, *self.engine.media.warnings)

    def run(self) -> None:
        """Play every event, then the rest of the call until the scenario ends; close the
        engine (its files complete). ScenarioError naming the event if a rule is broken."""
        try:
            self._run_events()
            self._run_out()
        finally:
            self.engine.close()

    # -- the timeline ---------------------------------------------------------------------------

    def _ended(self) -> bool:
        """Whether the audio timeline is over: the scenario's MPC has ended. A scenario that
        never creates its own MPC ends once no MPC is live and no add_participant is left (at
        once if it has none): its timeline is bounded by the MPCs it does create."""
        if self.own_mpc is not None:
            return self.own_mpc not in self.model.live_mpcs()
        if self._creates_own:
            return False
        return self._adds_left == 0 and not self.model.live_mpcs()

    def _advance(self, t_ms: int) -> None:
        """Render up to `t_ms`, stopping the audio timeline at the instant the MPC ends."""
        if self.end_ms is None and self._ended():
            self.end_ms = self.engine.now_ms
        if self.end_ms is None:
            while True:
                due = self.model.next_timer_ms()
                step = t_ms if due is None or due > t_ms else due
                self.sink.callbacks(self.engine.advance_to(step))
                if self._ended():
                    self.end_ms = self.engine.now_ms
                    break
                if step >= t_ms:
                    break
        else:
            # After the scenario's MPC has ended the audio stops; the model still answers
            # look-ups (and any other MPC keeps its state), so keep its clock moving.
            self.model.advance(t_ms)
            self.model.settle(t_ms)
            self.sink.callbacks(self.engine.drain_events())

    def _run_events(self) -> None:
        events = self.scenario.events
        frame_ms = self.scenario.frame_ms
        i = 0
        while i < len(events):
            t_ms = frame_boundary_ms(events[i].at_s, frame_ms)
            self._advance(t_ms)
            while i < len(events) and frame_boundary_ms(events[i].at_s, frame_ms) == t_ms:
                self._apply(events[i], t_ms)
                i += 1
            self.sink.callbacks(self.engine.settle(t_ms))
            if self.end_ms is None and self._ended():
                self.end_ms = t_ms

    def _run_out(self) -> None:
        """After the last event: until the MPC ends, or every voice has finished."""
        last_ms = self.engine.now_ms
        while self.end_ms is None:
            voices_end = self.model.last_voice_end_ms()
            target = max(last_ms, voices_end or 0)
            due = self.model.next_timer_ms()
            if due is not None and due <= target:
                self._advance(due)
                continue
            self._advance(target)
            voices_end = self.model.last_voice_end_ms()
            if voices_end is None or voices_end <= target:
                break

    # -- one operation --------------------------------------------------------------------------

    def _apply(self, event: ScenarioEvent, t_ms: int) -> None:
        if event.op == "add_participant":
            self._adds_left -= 1
        try:
            response = self._call(event, t_ms)
        except MpcError as exc:
            if event.expect_error == exc.status:
                self._respond(event, t_ms, exc.status, {"api_id": self.model.new_api_id(),
                                                         "error": exc.message})
                return
            raise ScenarioError(f"{event.describe()}: {exc.message}", exc.status) from None
        if event.expect_error is not None:
            raise ScenarioError(
                f"{event.describe()}: expected error {event.expect_error}, but the operation "
                "succeeded"
            )
        if event.op in LOOKUP_OPS:
            self._respond(event, t_ms, 200, response)

    def _respond(self, event: ScenarioEvent, t_ms: int, status: int, body: Any) -> None:
        self.sink.response({"at": t_ms / 1000, "event": event.index + 1, "op": event.op,
                            "status": status, "response": body})

    def _target(self, event: ScenarioEvent) -> dict[str, str]:
        if event.uuid is not None:
            return {"uuid": event.uuid}
        return {"friendly_name": event.friendly_name or self.scenario.mpc}

    def _members(self, event: ScenarioEvent) -> str:
        """`member` as the API takes it: as-names replaced by member_ids, lists kept as lists."""
        assert event.member is not None
        if event.member.strip() == "all":
            return "all"
        return ",".join(self.model.resolve_member(item.strip())
                        for item in event.member.split(","))

    def _call(self, event: ScenarioEvent, t_ms: int) -> Any:
        op, params = event.op, dict(event.params)
        model = self.model
        if op in ("hangup", "dtmf", "answer"):
            for member_id in self._members(event).split(","):
                call_uuid = model.call_uuid_of(member_id)
                if op == "dtmf":
                    model.dtmf(t_ms, call_uuid, str(params.get("digits", "")))
                else:
                    far_end: Callable[[int, str], None] = getattr(model, op)
                    far_end(t_ms, call_uuid)
            return None
        target = self._target(event)
        if op == "add_participant":
            response = model.add_participant(t_ms, label=event.as_name, **target, **params)
            for number in destinations(str(params.get("to", ""))):
                if number and not model.is_line_known(number):
                    self._warnings.append(f"{event.describe()}: no line for {number!r} in "
                                          "`lines`; it answers at once, silent")
            if self.own_mpc is None and target.get("friendly_name") == self.scenario.mpc:
                self.own_mpc = model.mpc_uuid_of(self.scenario.mpc)
            return response
        method = getattr(model, "end" if op == "stop" else op)
        if event.member is not None:
            return method(t_ms, self._members(event), **target, **params)
        return method(t_ms, **target, **params)
