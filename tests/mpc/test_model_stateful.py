"""The call model under random operations (hypothesis stateful testing).

Random adds, updates, kicks, far-end hangups/answers/digits, starts, ends, recording and Play
operations and time steps drive one account; after every step the invariants of docs/lifecycle.md must
hold: status never goes back, no MPC holds more live participants than its max_participants,
every participant of an ended MPC has exited with a cause, durations agree with the timestamps,
the routing matrix of every live call keeps a coaching supervisor away from every customer, and a
refused operation leaves no trace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from mpcmix.errors import MpcError
from mpcmix.model import CallModel, Line
from mpcmix.routing import Role, build_matrix, voice_source

from ._model_support import AUTH_ID, FROM, FakeCatalog

NAMES = ("alpha", "beta")
NUMBERS = {
    "+2000": Line("customer.wav", 0),
    "+2001": Line("agent.wav", 1000),
    "+2002": Line(None, 2500),
    "+2003": Line("boss.wav", None),  # never answers
}
ROLES = ("customer", "agent", "supervisor", "ai-agent")
STEPS_MS = (20, 200, 1000, 1000, 2500, 5000, 20_000, 60_000, 300_000)
RARELY = st.sampled_from([False, False, False, True])
STATUS_ORDER = {"Initialized": 0, "Active": 1, "Ended": 2}
FORMAT = "%Y-%m-%d %H:%M:%S%z"


def seconds(timestamp: str) -> int:
    return int(datetime.strptime(timestamp.replace("+00:00", "+0000"), FORMAT).timestamp())


class CallModelMachine(RuleBasedStateMachine):
    """Drives one CallModel; the checks are the invariants below and `_refused`."""

    def __init__(self) -> None:
        super().__init__()
        self.model = CallModel(AUTH_ID, lines=NUMBERS, media=FakeCatalog(), seed=7)
        self.now = 0
        self.labels: list[str] = []
        self.limits: dict[str, int] = {}  # mpc_uuid -> max_participants of its creating call
        self.statuses: dict[str, str] = {}
        self.events: list[Any] = []

    # -- helpers ----------------------------------------------------------------------------------

    def _call(self, op: str, *args: Any, **kwargs: Any) -> None:
        """Run an operation; if it is refused, check that nothing changed."""
        self.model.advance(self.now)
        self.events += self.model.drain_events()
        before = self._snapshot()
        try:
            getattr(self.model, op)(self.now, *args, **kwargs)
        except MpcError:
            assert self._snapshot() == before, f"refused {op} changed the model"
            assert self.model.drain_events() == [], f"refused {op} reported events"
        self.events += self.model.drain_events()

    def _snapshot(self) -> Any:
        return ([self.model.mpc_json(u) for u in self.model.mpcs()], self.model.mix_state())

    def _label(self, index: int) -> str:
        return self.labels[index % len(self.labels)]

    def _mpc_name(self, index: int) -> str:
        return NAMES[index % len(NAMES)]

    # -- rules ------------------------------------------------------------------------------------

    @rule(name=st.integers(0, 1), role=st.sampled_from(ROLES),
          number=st.sampled_from(sorted(NUMBERS)),
          max_participants=st.integers(2, 4), stay_alone=RARELY,
          start_mpc_on_enter=st.sampled_from([True, True, False]), end_mpc_on_exit=RARELY,
          hold=RARELY, mute=RARELY, coach_mode=st.booleans(), confirm=RARELY, record=RARELY,
          max_duration=st.sampled_from([300, 600, 14400]))
    def add(self, name: int, role: str, number: str, max_participants: int, stay_alone: bool,
            start_mpc_on_enter: bool, end_mpc_on_exit: bool, hold: bool, mute: bool,
            coach_mode: bool, confirm: bool, record: bool, max_duration: int) -> None:
        label = f"p{len(self.labels)}"
        params: dict[str, Any] = {
            "role": role, "from": FROM, "to": number, "max_participants": max_participants,
            "stay_alone": stay_alone, "start_mpc_on_enter": start_mpc_on_enter,
            "end_mpc_on_exit": end_mpc_on_exit, "hold": hold, "mute": mute,
            "coach_mode": coach_mode, "record": record, "max_duration": max_duration,
        }
        if confirm:
            params["confirm_key"] = "5"
        self.model.advance(self.now)
        existing = set(self.model.mpcs())
        try:
            self.model.add_participant(self.now, friendly_name=self._mpc_name(name), label=label,
                                       **params)
        except MpcError:
            return
        self.labels.append(label)
        # The MPC's limit is the creating call's (Get MPC does not show it, as the API's
        # doesn't); an MPC a transfer created has the default, 10.
        uuid = self.model.mpc_uuid_of_member(label)
        if uuid not in existing:
            self.limits[uuid] = max_participants
        self.events += self.model.drain_events()

    @rule(name=st.integers(0, 1), role=st.sampled_from(ROLES),
          number=st.sampled_from(["+2000", "+2001"]))
    def add_plain(self, name: int, role: str, number: str) -> None:
        """A participant with the API's defaults (weights the machine towards fuller calls)."""
        self.add(name, role, number, 4, False, True, False, False, False, True, False, False,
                 14400)

    @precondition(lambda self: self.labels)
    @rule(who=st.integers(0, 50), name=st.integers(0, 1), role=st.sampled_from(ROLES))
    def transfer(self, who: int, name: int, role: str) -> None:
        label = f"p{len(self.labels)}"
        call_uuid = self.model.call_uuid_of(self._label(who))
        self.model.advance(self.now)
        self.events += self.model.drain_events()
        before = self._snapshot()
        try:
            self.model.add_participant(self.now, friendly_name=self._mpc_name(name), label=label,
                                       role=role, call_uuid=call_uuid)
        except MpcError:
            assert self._snapshot() == before, "refused transfer changed the model"
            return
        self.labels.append(label)
        self.events += self.model.drain_events()

    @precondition(lambda self: self.labels)
    @rule(who=st.integers(0, 50), mute=st.none() | st.booleans(),
          hold=st.none() | st.booleans(), coach_mode=st.none() | st.booleans())
    def update(self, who: int, mute: bool | None, hold: bool | None,
               coach_mode: bool | None) -> None:
        label = self._label(who)
        self._call("update_participant", label, uuid=self.model.mpc_uuid_of_member(label),
                   mute=mute, hold=hold, coach_mode=coach_mode)

    @precondition(lambda self: self.labels)
    @rule(name=st.integers(0, 1), hold=st.booleans())
    def update_all(self, name: int, hold: bool) -> None:
        self._call("update_participant", "all", friendly_name=self._mpc_name(name), hold=hold)

    @precondition(lambda self: self.labels)
    @rule(who=st.integers(0, 50))
    def kick(self, who: int) -> None:
        label = self._label(who)
        self._call("kick_participant", label, uuid=self.model.mpc_uuid_of_member(label))

    @precondition(lambda self: self.labels)
    @rule(who=st.integers(0, 50), action=st.sampled_from(["hangup", "answer"]))
    def far_end(self, who: int, action: str) -> None:
        self._call(action, self.model.call_uuid_of(self._label(who)))

    @precondition(lambda self: self.labels)
    @rule(who=st.integers(0, 50), digits=st.sampled_from(["5", "1", "15#"]))
    def dtmf(self, who: int, digits: str) -> None:
        self._call("dtmf", self.model.call_uuid_of(self._label(who)), digits)

    @rule(name=st.integers(0, 1), op=st.sampled_from(["start", "start", "end"]))
    def mpc_op(self, name: int, op: str) -> None:
        self._call(op, friendly_name=self._mpc_name(name))

    @rule(name=st.integers(0, 1),
          op=st.sampled_from(["start_recording", "stop_recording", "pause_recording",
                              "resume_recording"]))
    def recording(self, name: int, op: str) -> None:
        self._call(op, friendly_name=self._mpc_name(name))

    @precondition(lambda self: self.labels)
    @rule(who=st.integers(0, 50),
          op=st.sampled_from(["start_participant_recording", "stop_participant_recording",
                              "pause_participant_recording", "resume_participant_recording"]),
          track=st.sampled_from(["participant", "all", "both"]))
    def participant_recording(self, who: int, op: str, track: str) -> None:
        label = self._label(who)
        self._call(op, label, uuid=self.model.mpc_uuid_of_member(label),
                   record_track_type=track)

    @precondition(lambda self: self.labels)
    @rule(who=st.integers(0, 50), everyone=st.booleans(), stop=st.booleans())
    def play(self, who: int, everyone: bool, stop: bool) -> None:
        label = self._label(who)
        member = "all" if everyone else label
        uuid = self.model.mpc_uuid_of_member(label)
        if stop:
            self._call("stop_play_audio", member, uuid=uuid)
        else:
            self._call("start_play_audio", member, uuid=uuid, url="promo.wav")

    @rule()
    def settle(self) -> None:
        self.model.settle(self.now)
        self.events += self.model.drain_events()

    @rule(step=st.sampled_from(STEPS_MS))
    def wait(self, step: int) -> None:
        self.now += step
        self.model.advance(self.now)
        self.model.settle(self.now)
        self.events += self.model.drain_events()

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def status_never_goes_back(self) -> None:
        for uuid in self.model.mpcs():
            status = self.model.mpc_json(uuid)["mpc"]["status"]
            previous = self.statuses.get(uuid, "Initialized")
            assert STATUS_ORDER[status] >= STATUS_ORDER[previous], (uuid, previous, status)
            self.statuses[uuid] = status

    @invariant()
    def live_participants_never_exceed_max_participants(self) -> None:
        for uuid in self.model.mpcs():
            doc = self.model.mpc_json(uuid)
            alive = [p for p in doc["participants"] if p["exit_time"] is None]
            assert len(alive) <= self.limits.get(uuid, 10)

    @invariant()
    def ended_mpcs_are_complete(self) -> None:
        for uuid in self.model.mpcs():
            doc = self.model.mpc_json(uuid)
            mpc = doc["mpc"]
            if mpc["status"] != "Ended":
                assert mpc["end_time"] is None and mpc["termination_cause"] is None
                continue
            assert mpc["termination_cause"] and mpc["termination_cause_code"] in (
                1000, 1010, 2000, 3000)
            assert mpc["end_time"] is not None
            for p in doc["participants"]:
                assert p["exit_cause"] in ("Participant Call Hangup",
                                           "Kicked Out of Multiparty Call",
                                           "Multiparty Call Ended",
                                           "Participant Call Transferred")
                assert p["exit_time"] is not None
                assert seconds(p["exit_time"]) <= seconds(mpc["end_time"])

    @invariant()
    def durations_agree_with_the_timestamps(self) -> None:
        for uuid in self.model.mpcs():
            doc = self.model.mpc_json(uuid)
            mpc = doc["mpc"]
            if mpc["status"] == "Active":
                assert mpc["start_time"] is not None
            if mpc["status"] == "Ended":
                if mpc["start_time"] is None:
                    assert mpc["duration"] == 0
                else:
                    assert mpc["duration"] == seconds(mpc["end_time"]) - seconds(
                        mpc["start_time"]) >= 0
                assert mpc["billed_duration"] >= 60 and mpc["billed_duration"] % 60 == 0
                assert mpc["billed_duration"] >= mpc["duration"]
            for p in doc["participants"]:
                if p["join_time"] is not None:
                    assert seconds(p["join_time"]) >= seconds(mpc["creation_time"])
                if p["join_time"] is not None and p["exit_time"] is not None:
                    assert p["duration"] == seconds(p["exit_time"]) - seconds(p["join_time"]) >= 0
                    assert p["billed_duration"] >= max(60, p["duration"])
                else:
                    assert p["duration"] is None and p["billed_amount"] is None

    @invariant()
    def coaching_supervisors_never_reach_a_customer(self) -> None:
        for call in self.model.mix_state().calls:
            matrix = build_matrix(call)
            coaches = [p for p in call.participants if p.is_coaching]
            customers = [p for p in call.participants if p.role is Role.CUSTOMER]
            for coach in coaches:
                for customer in customers:
                    assert matrix.gain(customer.name, voice_source(coach.name)) == 0

    @invariant()
    def the_snapshot_names_every_source_its_calls_use(self) -> None:
        state = self.model.mix_state()
        names = {s.name for s in state.sources}
        for call in state.calls:
            matrix = build_matrix(call)
            for listener in matrix.listeners:
                for source in matrix.heard_by(listener):
                    assert source in names, source
        assert len(names) == len(state.sources)

    @invariant()
    def events_are_in_time_order_with_rising_sequence_numbers(self) -> None:
        times = [e.at_ms for e in self.events]
        assert times == sorted(times)
        last: dict[str, int] = {}
        for e in self.events:
            mpc, seq = e.mpc_uuid or e.params["MPCUUID"], int(e.params["SequenceNumber"])
            assert seq in (last.get(mpc, 0), last.get(mpc, 0) + 1), (e.name, seq, last.get(mpc))
            last[mpc] = seq


TestCallModel = CallModelMachine.TestCase
TestCallModel.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
