"""The call model: one account's Multiparty Calls, their lifecycle and rules.

Pure logic: no audio, no files, no wall clock. Every operation takes the timeline time `now_ms`
(an integer on a frame boundary) first; media durations come from an injected `MediaCatalog`.
Operations are named as the `plivo` SDK names them, take the MPC as `friendly_name=` or `uuid=`
and the API's parameters by their API names (parsed with the one table, mpcmix.model.params),
return the response body the API sends (None for a 204) and raise an `MpcError` subclass carrying
the API's status when the API would refuse. A refused operation changes nothing.

Time, at one frame boundary: `advance(now_ms)` fires the timers due (answers, ring timeouts,
max_duration, the end of a cue or a Play, in the order they were set), then the operations of that
boundary apply in order, then `settle(now_ms)` judges the ending rules (1000 / 1010), starts the
recordings whose condition is met and restarts music episodes. A time that moves forward settles
the previous boundary by itself, so forgetting `settle` only delays it.

Out: `drain_events()` (every callback, in order), `mix_state()` (what routing and the mixer
need), `mpc_json(uuid)` (the MPC and all its participants, as Get returns them).

The class is assembled from layers, each in its own module (docs/design.md, The call model):
`state` (records, timers, look-ups), `notify` (callbacks), `lifecycle` (what happens by itself,
and the ending rules), the operations: `mpc_ops`, `adding`, `recording_ops`, `play_ops`,
`farend`; and `waiting` (media a server prepares in the background).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from mpcmix.errors import NotFoundError
from mpcmix.routing import (
    CallPhase,
    CallState,
    Overlay,
    OverlayKind,
    ParticipantState,
    hold_music_source,
    voice_source,
    wait_music_source,
)

from . import archive
from . import events as ev
from .adding import AddParticipant
from .events import Event
from .farend import FarEnd
from .mpc_ops import MpcOperations
from .play_ops import PlayOperations
from .recording_ops import RecordingOperations
from .records import EndedMpc, EndedParticipant, MpcRecord
from .serialize import coach_mode
from .snapshot import Line, MixState, MpcMix, RecordingSpec, SourceSpec
from .waiting import MediaWaits


class CallModel(MpcOperations, AddParticipant, RecordingOperations, PlayOperations, FarEnd,
                MediaWaits):
    """One account's MPCs: the API's operations, the far end's actions, and time.

    `lines` maps a dialled number to what its phone does (`default_line` for any other number:
    answers at once, silent). `media` gives media durations (None: only ``beep:1``/``beep:2``
    are known). `strict_media` decides what a broken medium does: raise `MediaError` (scenarios:
    a bad file stops the render) or, when false, accept the request, report an `MPCMediaFailed`
    or `MPCPlayFailed` event and play silence (or the built-in music) instead (the server).
    """

    def next_timer_ms(self) -> int | None:
        """When the model next changes by itself (an answer, a timeout, a cue's end...), or None."""
        while self._timers and not self._timer_is_live(self._timers[0]):
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def advance(self, now_ms: int) -> None:
        """Fire every timer due at or before `now_ms`, in time order then in the order set.

        Boundaries before `now_ms` are settled as they pass; `now_ms` itself is left for the
        operations of this boundary and `settle(now_ms)`. Time never goes back (ValueError).
        """
        self._begin(now_ms)

    def settle(self, now_ms: int) -> None:
        """Judge the ending rules after the changes of boundary `now_ms`, start recordings whose
        condition is now met, and begin new music episodes."""
        self._begin(now_ms)
        self._settle_at(now_ms)

    @property
    def now_ms(self) -> int:
        """The latest time the model has been brought to."""
        return self._now

    def drain_events(self) -> list[Event]:
        """Every callback produced since the last call, in time order."""
        out, self._events = self._events, []
        return out

    def emit_speak_event(self, now_ms: int, member_label: str, speaking: bool) -> None:
        """Queue ParticipantSpeakStart (speaking) or ParticipantSpeakStop for a participant.

        The renderer detects speech from audio energy and reports it here; the event goes to the
        participant's status_callback_url if it subscribed to ``participant-speak-events``. An
        unknown label is ignored (the renderer may report a participant of an MPC that ended).
        """
        p = self._labels.get(member_label) or self._participants.get(member_label)
        if p is None or isinstance(p, EndedParticipant):
            return
        name = ev.PARTICIPANT_SPEAK_START if speaking else ev.PARTICIPANT_SPEAK_STOP
        self._status_event(name, p, now_ms)

    #: Tests set this: every `mix_state` made from the touched MPCs is checked against one
    #: made from scratch (tests/conftest.py).
    verify_mix_state = False

    def mix_state(self) -> MixState:
        """The snapshot routing and the mixer need, at the model's current time.

        Made again only for the MPCs touched since the last call (an operation, a timer, a
        settle), or whose cue or Play ends by now; an unchanged model gives the same object
        back, so a frame where nothing changed costs nothing per MPC here or downstream."""
        cache = self._mix_parts
        key = (self.revision, self._settles)
        state: MixState | None = self._mix_cached
        expiry = self._mix_expiry
        if (state is not None and key == self._mix_key and not self._mix_touched
                and not self._touched_all and (not expiry or self._now < expiry[0][0])):
            return state
        stale = self._mix_touched
        self._mix_touched = {}
        expiry = self._mix_expiry
        while expiry and expiry[0][0] <= self._now:  # a cue or Play ended, music unsettled
            stale.setdefault(heapq.heappop(expiry)[1], None)  # type: ignore[arg-type]
        rebuild = self._live.keys() if self._touched_all else stale.keys()
        same = state is not None and len(cache) == len(self._live)
        changed: set[str] = set()
        added: list[str] = []
        for uuid in list(rebuild):
            mpc = self._live.get(uuid)
            if mpc is not None:
                part = self._mpc_mix(mpc)
                old = cache.get(uuid)
                if old is None or old != part:
                    same = False
                    cache[uuid] = part
                    changed.add(uuid)
                    if old is None:
                        added.append(uuid)
                if part.until < 1 << 62:
                    heapq.heappush(expiry, (part.until, uuid))
            elif uuid in cache:
                del cache[uuid]
                same = False
                changed.add(uuid)
        orphans = self._orphans  # the MPCs ended with a recording not stopped yet
        if self._touched_all:
            orphans.update(self._recording_index.keys() - self._live.keys())
        orphans.difference_update([u for u in orphans if u not in self._recording_index])
        if same and len(cache) == len(self._live) and state is not None:
            self._mix_key = key  # touched, but nothing the mix sees changed (a read, a settle)
            return state
        if len(added) > 1:  # new MPCs come last, as in `_live`: in creation order
            for uuid in sorted(added, key=lambda u: cache[u].order):
                cache[uuid] = cache.pop(uuid)
        if len(cache) != len(self._live):
            changed.update(u for u in self._live if u not in cache)
            changed.update(u for u in cache if u not in self._live)
            self._mix_parts = cache = {u: cache[u] if u in cache else self._mpc_mix(m)
                                       for u, m in self._live.items()}
        elsewhere = tuple(self._recording_spec(r) for r in sorted(
            (r for uuid in orphans for r in self._recording_index[uuid].values()
             if r.state != "stopped"), key=lambda r: r.seq))
        # The parts are copied as they are (one C step): the flat views a reader may want are
        # made when asked, so a snapshot made at each change costs no Python step per MPC.
        state = MixState(dict(cache), elsewhere, self._mix_serial + 1)
        self._mix_serial += 1
        self._mix_changes.append((self._mix_serial, frozenset(changed)))
        self._mix_cached, self._mix_key = state, key
        if self.verify_mix_state:
            self._check_mix_state(state)
        return state

    def mix_changes_since(self, serial: int) -> frozenset[str] | None:
        """The MPCs (uuids) whose part of `mix_state` may differ from that of the snapshot
        numbered `serial` (`MixState.serial`): added, ended or changed since. None when that
        snapshot is too old to tell (then every MPC may have changed)."""
        changes = self._mix_changes
        if serial == self._mix_serial:
            return frozenset()
        if serial <= 0 or not changes or changes[0][0] > serial + 1 or serial > self._mix_serial:
            return None
        out: set[str] = set()
        for number, uuids in changes:
            if number > serial:
                out.update(uuids)
        return frozenset(out)

    def _check_mix_state(self, state: MixState) -> None:
        full = [self._mpc_mix(m) for m in self._live.values()]
        assert state.mpc_uuids == tuple(self._live), "mix_state: MPCs out of order"
        assert state.calls == tuple(p.call for p in full), "mix_state: stale calls"
        assert state.sources == tuple(s for p in full for s in p.sources), "mix_state: stale sources"
        assert state.speakers == frozenset(x for p in full for x in p.speakers), "stale speakers"
        assert set(state.recordings) == {self._recording_spec(r) for r in self._recordings.values()
                                         if r.state != "stopped"}, "mix_state: stale recordings"

    def _recording_spec(self, r: Any) -> RecordingSpec:
        return RecordingSpec(
            recording_id=r.recording_id,
            mpc_uuid=r.mpc.uuid,
            member=None if r.member is None else r.member.label,
            track=r.track,
            file_format=r.file_format,
            capturing=r.is_capturing and r.mpc.is_live,
        )

    def _mpc_mix(self, mpc: MpcRecord) -> MpcMix:
        """One live MPC's part of the snapshot, and until when it holds (ms)."""
        now = self._now
        until = 1 << 62
        states: list[ParticipantState] = []
        sources: list[SourceSpec] = []
        for p in mpc.participants:
            states.append(ParticipantState(
                name=p.label, role=p.role, phase=p.phase, mute=p.mute,
                # A participant waiting for its confirm_key hears only the confirm sound and
                # is heard by nobody: routing's "held" state, with that sound as its music.
                hold=p.hold or p.is_awaiting_confirm,
                coach_mode=coach_mode(p),
            ))
            if p.voice_start_ms is not None:
                sources.append(SourceSpec(voice_source(p.label), p.voice, p.voice_start_ms,
                                          False))
            music = self._music_of(p)
            if music is not None:
                if music == p.music:
                    start = p.music_start_ms
                else:  # not settled yet: starts now, whenever now is
                    start, until = now, now + 1
                label = (wait_music_source(p.label) if music[0] == "wait"
                         else hold_music_source(p.label))
                sources.append(SourceSpec(label, music[1], start, True))
        overlays: list[Overlay] = []
        for cue in mpc.cues:
            if cue.end_ms > now:
                overlays.append(Overlay(cue.name, OverlayKind.CUE))
                sources.append(SourceSpec(cue.name, cue.media, cue.start_ms, False))
                until = min(until, cue.end_ms)
        for play in mpc.plays:
            if play.active and play.end_ms > now:
                overlays.append(Overlay(play.name, OverlayKind.PLAY,
                                        tuple(t.label for t in play.targets)))
                sources.append(SourceSpec(play.name, play.url, play.start_ms, False))
                until = min(until, play.end_ms)
        recordings = tuple(self._recording_spec(r) for r in self._recordings_of(mpc))
        call = CallState(mpc.status, tuple(states), tuple(overlays), mpc.recording_name)
        speakers = tuple(p.label for p in mpc.participants
                         if ev.EVENT_GROUPS[ev.PARTICIPANT_SPEAK_START] in p.status_callback_events)
        return MpcMix(call, tuple(sources), recordings, mpc.created_ms, speakers, until, mpc.index)

    def _recordings_of(self, mpc: MpcRecord) -> list[Any]:
        """The MPC's recordings not stopped: its own, then its participants'."""
        found = [] if mpc.recording is None else [mpc.recording]
        found += [r for p in mpc.participants for r in p.recordings.values()]
        return [r for r in dict.fromkeys(found) if r.state != "stopped" and r.mpc is mpc]

    def mpc_json(self, mpc_uuid: str) -> dict[str, Any]:
        """``{"mpc": <Get MPC object>, "participants": [<Get Participant object>, ...]}``.

        Every participant the MPC ever had (exited ones included), in the order they were added;
        no api_id (that belongs to a response, not to the objects).
        """
        mpc = self._by_uuid.get(mpc_uuid)
        if mpc is None:
            raise NotFoundError(f"no MPC with uuid {mpc_uuid!r}")
        if isinstance(mpc, EndedMpc):
            mpc_object, participants = mpc.objects()
            return {"mpc": mpc_object, "participants": participants}
        return {
            "mpc": self._fmt.mpc_object(mpc),
            "participants": [self._fmt.participant_object(p) for p in mpc.participants],
        }

    def mpcs(self) -> list[str]:
        """Every MPC's uuid, in creation order."""
        return [m.uuid for m in self._mpcs]

    def live_mpcs(self) -> list[str]:
        """The uuids of the MPCs that have not ended, in creation order."""
        return list(self._live)

    def mpc_uuid_of(self, friendly_name: str) -> str:
        """The uuid of the live MPC named `friendly_name` (NotFoundError if none)."""
        return self._find(friendly_name, None).uuid

    def recording_name(self, mpc_uuid: str) -> str:
        """The listener row of the MPC's conference recording in its `CallState`.

        ``recording`` for the account's first MPC, ``recording:<mpc_uuid>`` for every later one,
        so rows stay unique when calls are stacked and never change name during a render.
        """
        mpc = self._by_uuid.get(mpc_uuid)
        if mpc is None:
            raise NotFoundError(f"no MPC with uuid {mpc_uuid!r}")
        return mpc.recording_name

    def resolve_member(self, member: str) -> str:
        """The member_id of a participant named by its label or its member_id."""
        return self._participant(member).member_id

    def member_label(self, member_id: str) -> str:
        """The label (routing name) of member `member_id`."""
        return self._participant(member_id).label

    def member_id_of(self, label: str) -> str:
        """The member_id of the participant labelled `label`."""
        return self._participant(label).member_id

    def call_uuid_of(self, member: str) -> str:
        """The call_uuid of a participant (by label or member_id), for far-end actions."""
        return self._participant(member).call_uuid

    def has_call(self, call_uuid: str) -> bool:
        """Whether `call_uuid` is (or was) a call of this account (any leg of any participant)."""
        return str(call_uuid) in self._all_calls

    def member_of_call(self, call_uuid: str) -> str:
        """The member_id of the participant `call_uuid` belongs to (its latest, after a
        transfer); NotFoundError if the call is unknown."""
        return self._far_end_call(call_uuid).member_id

    def answered_call_label(self, call_uuid: str) -> str:
        """The label of the participant whose answered call `call_uuid` is live now (what an
        audio stream can be started on); NotFoundError if there is none."""
        p = self._calls.get(str(call_uuid))
        if p is None or p.answered_ms is None or p.phase is not CallPhase.ANSWERED:
            raise NotFoundError(f"call {call_uuid!r} is not an answered, live call of this account")
        return p.label

    def mpc_uuid_of_member(self, member: str) -> str:
        """The uuid of the MPC a participant (by label or member_id) belongs to."""
        return self._participant(member).mpc.uuid

    def last_voice_end_ms(self) -> int | None:
        """When the last voice of an answered participant ends (answer time + its line's audio).

        None when no call has been answered. A scenario with nothing else to do ends here.
        """
        ends = [p.voice_start_ms + p.voice_duration_ms for p in self._participants.values()
                if p.voice_start_ms is not None]
        return max(ends) if ends else None

    def set_line(self, number: str, line: Line) -> None:
        """What the phone at `number` does from now on (calls already placed keep theirs): e.g.
        ``Line(audio="live:<tag>")`` for a participant whose voice is pushed live."""
        self._lines[number] = line

    def is_line_known(self, number: str) -> bool:
        """Whether `number` is in the lines (the server warns when it is not)."""
        return number in self._lines

    def timestamp(self, ms: int) -> str:
        """The API's timestamp (`YYYY-MM-DD HH:mm:ss+hh:mm`, whole seconds) of model time `ms`."""
        return self._fmt.timestamp(ms)  # type: ignore[return-value]

    # -- records across runs (a server's data folder; mpcmix.model.archive) --------------------

    def drain_archive(self) -> list[dict[str, Any]]:
        """The record of each MPC that ended since the last call (with ``archive=True``)."""
        if self._archive is None:
            return []
        out, self._archive = self._archive, []
        return out

    def live_changes(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """What became of the live MPCs since the last call: (uuid -> record of each MPC that
        became live or whose record changed, as it stands now; the uuids of those that left the
        live set, i.e. ended: their record comes from `drain_archive`). Only the MPCs touched
        since are looked at (an operation, a timer, a settle or an end marks them), so this costs
        O(MPCs changed), never a pass over every live MPC."""
        cache = self._record_cache
        touched: Any = self._record_touched
        if self._touched_all:  # rare (a restore, a medium ready or failed): every MPC
            touched = dict(self._live) | {u: None for u in cache if u not in self._live}
        self._record_touched = {}
        changed: dict[str, dict[str, Any]] = {}
        gone: list[str] = []
        for uuid in touched:
            mpc = self._live.get(uuid)
            if mpc is None:
                if cache.pop(uuid, None) is not None:
                    gone.append(uuid)
                continue
            key = archive.fingerprint(mpc)
            cached = cache.get(uuid)
            if cached is None or cached[0] != key:
                cache[uuid] = (key, archive.record(mpc, self._fmt))
                changed[uuid] = cache[uuid][1]
        if self.verify_mix_state:  # every untouched MPC's record is as it was
            assert cache.keys() == self._live.keys(), "live_changes: live set out of step"
            for uuid, mpc in self._live.items():
                assert cache[uuid][0] == archive.fingerprint(mpc), "live_changes: stale record"
        return changed, gone

    def interrupted_record(self, item: dict[str, Any], end_ms: int) -> dict[str, Any]:
        """A live MPC's record of an earlier run, ended at `end_ms` of that run's timeline (the
        last moment it wrote) as `archive.interrupted` says."""
        return archive.interrupted(archive.check(item), end_ms, self.auth_id,
                                   self._fmt.rate_per_minute)

    def restore(self, items: list[dict[str, Any]]) -> None:
        """Take back the ended MPCs of earlier runs (records, in any order: they are put in the
        order they were created, before this run's), so they answer Get and List as they did,
        and no id of theirs is given again. Only before this run creates an MPC."""
        if any(isinstance(m, MpcRecord) for m in self._mpcs):
            raise ValueError("restore comes before the first MPC of a run")
        ended = sorted((archive.check(item) for item in items if archive.is_ended(item)),
                       key=lambda item: (item.get("run", 0), item.get("index", 0)))
        highest = 0
        for item in ended:
            if item["uuid"] in self._by_uuid:
                continue
            offset = archive.offset_ms(item, self.epoch)
            mpc = archive.pack(item, len(self._mpcs), offset)
            self._mpcs.append(mpc)
            self._by_uuid[mpc.uuid] = mpc
            for position, m in enumerate(item["members"]):
                start = m.get("voice_start_ms")
                q = EndedParticipant(m["member_id"], m["label"], mpc, position, m["call_uuid"],
                                     m["exited_ms"] + offset, m["exit_cause"],
                                     None if start is None else start + offset,
                                     m.get("voice_duration_ms") or 0)
                self._participants[q.member_id] = q
                self._labels[q.label] = q
                for call in m.get("calls") or [q.call_uuid]:
                    self._all_calls[call] = q
                if q.member_id.isdigit():
                    highest = max(highest, int(q.member_id))
            self._ids.avoid("mpc", [mpc.uuid])
            self._ids.avoid("call", [c for m in item["members"] for c in m.get("calls") or []])
        self._ids.member_ids_from(highest + 1)

    def avoid_ids(self, *, recording_ids: Iterable[str] = (), member_ids_from: int = 0) -> None:
        """Never give these recording ids, nor member ids below `member_ids_from` (what an
        earlier run left on disk: its files)."""
        self._ids.avoid("recording", recording_ids)
        self._ids.member_ids_from(member_ids_from)

    def new_api_id(self) -> str:
        """A fresh api_id, for responses the caller builds itself (e.g. error bodies)."""
        return self._ids.uuid("api")
