"""The call model: one account's Multiparty Calls, their lifecycle and rules (SPEC §2).

Pure logic: no audio, no files, no wall clock. Every operation takes the timeline time `now_ms`
(an integer on a frame boundary) first; media durations come from an injected `MediaCatalog`.
Operations are named as the `plivo` SDK names them, take the MPC as `friendly_name=` or `uuid=`
and the API's parameters by their API names, return the response body the API sends (None for a
204) and raise an `MpcError` subclass carrying the API's status when the API would refuse. A
refused operation changes nothing.

Time, at one frame boundary: `advance(now_ms)` fires the timers due (answers, ring timeouts,
max_duration, the end of a cue or a Play, in the order they were set), then the operations of that
boundary apply in order, then `settle(now_ms)` judges the ending rules (1000 / 1010), starts the
recordings whose condition is met and restarts music episodes. A time that moves forward settles
the previous boundary by itself, so forgetting `settle` only delays it.

Out: `drain_events()` (every callback, in order), `mix_state()` (what routing and the mixer
need), `mpc_json(uuid)` (the MPC and all its participants, as Get returns them).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mpcmix.routing import (
    CallState,
    MpcStatus,
    Overlay,
    OverlayKind,
    ParticipantState,
    Role,
    hold_music_source,
    voice_source,
    wait_music_source,
)

from . import events as ev
from .errors import MediaError, NotFoundError, ValidationError
from .events import Event, callback_value
from .ids import IdSource
from .params import (
    as_bool,
    as_choice,
    as_int,
    as_int_list,
    as_method,
    as_str,
    is_given,
    parse_filter_time,
    read,
    refuse_unless_default,
    unwrap,
)
from .records import (
    EXIT_HANGUP,
    EXIT_KICKED,
    EXIT_MPC_ENDED,
    EXIT_TRANSFERRED,
    HANGUP_API_TRIGGERED,
    MAX_DURATION_REACHED,
    NO_ACTIVE_PARTICIPANTS,
    STAY_ALONE_NOT_PERMITTED,
    CueRecord,
    EndedMpc,
    EndedParticipant,
    Leg,
    MpcRecord,
    ParticipantRecord,
    PlayRecord,
    RecordingRecord,
)
from .serialize import (
    MPC_LIST_FIELDS,
    PARTICIPANT_LIST_FIELDS,
    Serializer,
    coach_mode,
    recording_status,
)
from .snapshot import (
    BEEP_DURATION_MS,
    DEFAULT_AGENT_HOLD_MUSIC,
    DEFAULT_CUSTOMER_HOLD_MUSIC,
    DEFAULT_WAIT_MUSIC,
    Line,
    MediaCatalog,
    MixState,
    RecordingSpec,
    SourceSpec,
)

__all__ = [
    "BEEP_DURATION_MS",
    "DEFAULT_EPOCH",
    "DEFAULT_LINE",
    "DEFAULT_RECORDING_URL_BASE",
    "CallModel",
    "Event",
    "Line",
    "MediaCatalog",
    "MixState",
    "RecordingSpec",
    "SourceSpec",
]

DEFAULT_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
DEFAULT_RECORDING_URL_BASE = "https://media.plivo.com/v1/Account/{auth_id}/Recording/"
DEFAULT_RATE_PER_MINUTE = Decimal("0.00500")
#: A number missing from the lines: answers at once, silent.
DEFAULT_LINE = Line(None, 0)

# The API's ranges (add_participant and Plivo's MultiPartyCall docs).
MAX_PARTICIPANTS_RANGE = (2, 10)
MAX_DURATION_RANGE = (300, 28800)
RECORD_MIN_MEMBER_COUNT_RANGE = (1, 2)
# The API text gives no range for these and neither SDK checks one: accept any whole number of
# seconds a call could use, so the emulator never refuses what the real API might take.
RING_TIMEOUT_RANGE = (1, 28800)
DELAY_DIAL_RANGE = (0, 28800)
MAX_DESTINATIONS = 20
CONFIRM_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "#", "*")
SOUND_KEYWORDS = ("beep:1", "beep:2", "none")
RECORD_TRACK_TYPES = {"participant": ("participant",), "all": ("all",),
                      "both": ("participant", "all")}

#: ParticipantRole in callbacks, spelt as the API's status callback documents it.
ROLE_IN_CALLBACKS = {Role.CUSTOMER: "Customer", Role.AGENT: "Agent",
                     Role.SUPERVISOR: "Supervisor", Role.AI_AGENT: "ai-agent"}

_ANSWER, _RING_TIMEOUT, _MAX_DURATION, _CUE_END, _PLAY_END = (
    "answer", "ring_timeout", "max_duration", "cue_end", "play_end")


class CallModel:
    """One account's MPCs: the API's operations, the far end's actions, and time.

    `lines` maps a dialled number to what its phone does (`default_line` for any other number:
    answers at once, silent). `media` gives media durations (None: only ``beep:1``/``beep:2``
    are known). `strict_media` decides what a broken medium does: raise `MediaError` (scenarios:
    a bad file stops the render) or, when false, accept the request, report an `MPCMediaFailed`
    or `MPCPlayFailed` event and play silence (or the built-in music) instead (the server).
    """

    def __init__(
        self,
        auth_id: str,
        *,
        frame_ms: int = 20,
        seed: int = 0,
        epoch: datetime = DEFAULT_EPOCH,
        lines: Mapping[str, Line] | None = None,
        media: MediaCatalog | None = None,
        rate_per_minute: Decimal | str = DEFAULT_RATE_PER_MINUTE,
        default_line: Line = DEFAULT_LINE,
        recording_url_base: str = DEFAULT_RECORDING_URL_BASE,
        strict_media: bool = True,
    ) -> None:
        if not isinstance(frame_ms, int) or frame_ms <= 0:
            raise ValueError(f"frame_ms must be a positive integer, not {frame_ms!r}")
        if epoch.tzinfo is None:
            epoch = epoch.replace(tzinfo=UTC)
        self.auth_id = auth_id
        self.frame_ms = frame_ms
        self.epoch = epoch
        self.strict_media = strict_media
        self._lines = dict(lines or {})
        self._default_line = default_line
        self._media = media
        self._recording_url_base = recording_url_base.format(auth_id=auth_id)
        self._fmt = Serializer(auth_id, epoch, Decimal(rate_per_minute))
        self._ids = IdSource(seed)
        # Every MPC ever created stays found by its uuid; once it has ended and its boundary is
        # settled, its records are swapped for compact, immutable ones (`_compact`).
        self._mpcs: list[MpcRecord | EndedMpc] = []  # in creation order
        self._by_uuid: dict[str, MpcRecord | EndedMpc] = {}
        self._live: dict[str, MpcRecord] = {}  # by uuid, in creation order
        self._live_by_name: dict[str, MpcRecord] = {}
        self._ended: list[MpcRecord] = []  # ended, not compacted yet
        self._participants: dict[str, ParticipantRecord | EndedParticipant] = {}  # by member_id
        self._labels: dict[str, ParticipantRecord | EndedParticipant] = {}
        self._calls: dict[str, ParticipantRecord] = {}  # call_uuid (every leg) -> live participant
        # call_uuid -> latest participant
        self._all_calls: dict[str, ParticipantRecord | EndedParticipant] = {}
        self._recordings: list[RecordingRecord] = []  # not stopped
        self._timers: list[tuple[int, int, str, Any]] = []
        self._timer_seq = 0
        self._overlay_seq = 0
        self._events: list[Event] = []
        self._now = 0
        self._unsettled_at: int | None = None

    # =============================================================================================
    # Time

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

    # =============================================================================================
    # Output

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

    def mix_state(self) -> MixState:
        """The snapshot routing and the mixer need, at the model's current time."""
        calls: list[CallState] = []
        uuids: list[str] = []
        created: list[int] = []
        sources: list[SourceSpec] = []
        for mpc in self._live.values():
            states: list[ParticipantState] = []
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
                    start = p.music_start_ms if music == p.music else self._now
                    label = (wait_music_source(p.label) if music[0] == "wait"
                             else hold_music_source(p.label))
                    sources.append(SourceSpec(label, music[1], start, True))
            overlays: list[Overlay] = []
            for cue in mpc.cues:
                if cue.end_ms > self._now:
                    overlays.append(Overlay(cue.name, OverlayKind.CUE))
                    sources.append(SourceSpec(cue.name, cue.media, cue.start_ms, False))
            for play in mpc.plays:
                if play.active and play.end_ms > self._now:
                    overlays.append(Overlay(play.name, OverlayKind.PLAY,
                                            tuple(t.label for t in play.targets)))
                    sources.append(SourceSpec(play.name, play.url, play.start_ms, False))
            calls.append(CallState(mpc.status, tuple(states), tuple(overlays),
                                   mpc.recording_name))
            uuids.append(mpc.uuid)
            created.append(mpc.created_ms)
        recordings = tuple(
            RecordingSpec(
                recording_id=r.recording_id,
                mpc_uuid=r.mpc.uuid,
                member=None if r.member is None else r.member.label,
                track=r.track,  # type: ignore[arg-type]
                file_format=r.file_format,  # type: ignore[arg-type]
                capturing=r.is_capturing and r.mpc.is_live,
            )
            for r in self._recordings
            if r.state != "stopped"
        )
        return MixState(tuple(calls), tuple(sources), recordings, tuple(uuids), tuple(created))

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

    def is_line_known(self, number: str) -> bool:
        """Whether `number` is in the lines (the server warns when it is not)."""
        return number in self._lines

    def timestamp(self, ms: int) -> str:
        """The API's timestamp (`YYYY-MM-DD HH:mm:ss+hh:mm`, whole seconds) of model time `ms`."""
        return self._fmt.timestamp(ms)  # type: ignore[return-value]

    def new_api_id(self) -> str:
        """A fresh api_id, for responses the caller builds itself (e.g. error bodies)."""
        return self._ids.uuid("api")

    # =============================================================================================
    # The MPC

    def get(self, now_ms: int, *, friendly_name: str | None = None, uuid: str | None = None,
            **params: Any) -> dict[str, Any]:
        """Get MPC: every attribute of the MPC object, plus api_id."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid)
        return {"api_id": self._ids.uuid("api"), **self._mpc_object(mpc)}

    def list(self, now_ms: int, **filters: Any) -> dict[str, Any]:
        """List MPCs, newest first: friendly_name, status, termination_cause_code, sub_account,
        end_time__gt/gte/lt/lte, creation_time__gt/gte/lt/lte, limit (1..20, default 20),
        offset (default 0). ``meta.next``/``meta.previous`` are page URIs or null."""
        self._begin(now_ms)
        self._refuse_async(filters)
        limit = as_int("limit", read(filters, "limit", 20), 1, 20)
        offset = as_int("offset", read(filters, "offset", 0), 0)
        tests: list[Any] = []
        name = read(filters, "friendly_name")
        if name is not None:
            name = as_str("friendly_name", name)
            tests.append(lambda m: m.name == name)
        status = read(filters, "status")
        if status is not None:
            wanted = as_choice("status", status, ("initialized", "active", "ended"))
            tests.append(lambda m: m.status.value.lower() == wanted)
        code = read(filters, "termination_cause_code")
        if code is not None:
            wanted_code = as_int("termination_cause_code", code)
            tests.append(lambda m: m.termination_cause_code == wanted_code)
        if read(filters, "sub_account") is not None:
            tests.append(lambda m: False)  # no MPC of an emulated account has a subaccount
        for field in ("end_time", "creation_time"):
            for op in ("gt", "gte", "lt", "lte"):
                key = f"{field}__{op}"
                if read(filters, key) is not None:
                    bound = parse_filter_time(key, filters[key], self.epoch.tzinfo)
                    tests.append(self._time_test(field, op, bound))
        matched = [m for m in reversed(self._mpcs) if all(test(m) for test in tests)]
        count = len(matched)
        meta = {
            "count": count,
            "limit": limit,
            "next": self._fmt.list_uri(limit, offset + limit) if offset + limit < count else None,
            "offset": offset,
            "previous": self._fmt.list_uri(limit, max(0, offset - limit)) if offset > 0 else None,
        }
        objects = [self._mpc_list_item(m) for m in matched[offset:offset + limit]]
        return {"api_id": self._ids.uuid("api"), "meta": meta, "objects": objects}

    def start(self, now_ms: int, *, friendly_name: str | None = None, uuid: str | None = None,
              status: Any = "active", **params: Any) -> dict[str, Any]:
        """Activate an Initialized MPC (``status=active``, any case, or ``["active"]`` as the SDK
        sends it). No enter sound plays. An MPC already Active is refused (400)."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        if not is_given(status):
            raise ValidationError("status is required: set it to active to start the MPC")
        as_choice("status", status, ("active",))
        if mpc.status is MpcStatus.ACTIVE:
            raise ValidationError(
                f"MPC {mpc.name!r} is already Active (started at "
                f"{self._fmt.timestamp(mpc.start_ms)}); only an Initialized MPC can be started")
        self._activate(mpc, now_ms)
        self._changed(now_ms)
        return {"api_id": self._ids.uuid("api"), "message": f"MPC: {mpc.name} started",
                "request_uuid": self._ids.uuid("request")}

    def end(self, now_ms: int, *, friendly_name: str | None = None, uuid: str | None = None,
            **params: Any) -> None:
        """End the MPC now (Hangup API Triggered, 3000); the API answers 204."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        self._end_mpc(mpc, now_ms, *HANGUP_API_TRIGGERED)
        self._changed(now_ms)

    def stop(self, now_ms: int, *, friendly_name: str | None = None, uuid: str | None = None,
             **params: Any) -> None:
        """The SDK's name for `end`."""
        self.end(now_ms, friendly_name=friendly_name, uuid=uuid, **params)

    # =============================================================================================
    # Participants

    def add_participant(self, now_ms: int, *, friendly_name: str | None = None,
                        uuid: str | None = None, label: str | None = None,
                        **params: Any) -> dict[str, Any]:
        """Add a participant, creating the MPC if no live MPC has this name.

        `params` are the API's (``role``, ``from``, ``to`` or ``call_uuid``, and the optional
        ones); `label` names the participant in routing and output files (default: its
        member_id). With ``call_uuid``, an answered call of another MPC is transferred here (its
        participant there exits with "Participant Call Transferred").
        """
        self._begin(now_ms)
        t = now_ms
        mpc = self._mpc_for_add(friendly_name, uuid)
        spec = _AddSpec.parse(params)
        label = self._check_label(label)
        source: ParticipantRecord | None = None
        if spec.call_uuid is not None:
            source = self._calls.get(spec.call_uuid)
            if source is None:
                raise NotFoundError(f"call_uuid {spec.call_uuid!r} is not a live call of this "
                                    "account")
            if source.answered_ms is None:
                raise ValidationError(f"call {spec.call_uuid!r} is still ringing: only an "
                                      "answered call can be transferred into an MPC")
            if mpc is not None and source.mpc is mpc:
                raise ValidationError(f"call {spec.call_uuid!r} is already in MPC {mpc.name!r}")
        if mpc is not None:
            alive = len(mpc.alive())
            if alive >= mpc.max_participants:
                raise ValidationError(
                    f"MPC {mpc.name!r} already has {alive} participants, its max_participants "
                    f"({mpc.max_participants}); a participant counts until it exits")

        # Media: checked before anything changes, so a refused add leaves no trace.
        failures: list[tuple[str, str, str]] = []
        enter_sound = self._usable(spec.enter_sound, "enter_sound", failures)
        exit_sound = self._usable(spec.exit_sound, "exit_sound", failures)
        confirm_sound = self._usable(spec.confirm_sound, "confirm_key_sound_url", failures)
        mpc_media: dict[str, str | None] = {}
        if mpc is None:
            for key, ref in (("wait_music_url", spec.wait_music),
                             ("agent_hold_music_url", spec.agent_hold_music),
                             ("customer_hold_music_url", spec.customer_hold_music),
                             ("start_recording_audio", spec.start_recording_audio),
                             ("stop_recording_audio", spec.stop_recording_audio)):
                mpc_media[key] = self._usable(ref, key, failures)
        legs_audio: list[tuple[str, str | None, int]] = []  # (number, audio, duration)
        for number in spec.destinations:
            line = self._lines.get(number, self._default_line)
            audio = self._usable(line.audio, f"the voice of line {number}", failures)
            duration = 0 if audio is None else self._duration(audio)
            legs_audio.append((number, audio, duration))

        # From here on nothing is refused.
        creating = mpc is None
        if mpc is None:
            mpc = self._create_mpc(t, as_str("friendly_name", friendly_name), spec, mpc_media)
        member_id = self._ids.member_id()
        label = label or member_id
        if source is not None:
            legs: tuple[Leg, ...] = (Leg(source.to, source.call_uuid, t, t),)
            line_audio = {source.call_uuid: (source.voice, source.voice_duration_ms)}
            from_number, to = source.from_number, source.to
        else:
            legs = tuple(self._dial(t, number, spec.ring_timeouts[i], spec.delays[i])
                         for i, number in enumerate(spec.destinations))
            line_audio = {leg.call_uuid: (audio, duration)
                          for leg, (_, audio, duration) in zip(legs, legs_audio, strict=True)}
            from_number, to = spec.from_number or "", spec.to or ""
        winner = _winning_leg(legs)
        p = ParticipantRecord(
            member_id=member_id, label=label, mpc=mpc, role=spec.role,
            call_uuid=(winner or legs[0]).call_uuid, legs=legs,
            from_number=from_number, to=to, caller_name=spec.caller_name or from_number,
            coach_mode=spec.coach_mode if spec.role.routes_as is Role.SUPERVISOR else False,
            mute=spec.mute, hold=spec.hold, stay_alone=spec.stay_alone,
            start_mpc_on_enter=spec.start_mpc_on_enter, end_mpc_on_exit=spec.end_mpc_on_exit,
            enter_sound=enter_sound, exit_sound=exit_sound,
            status_callback_url=spec.status_callback_url,
            status_callback_method=spec.status_callback_method,
            status_callback_events=spec.status_callback_events,
            on_exit_action_url=spec.on_exit_action_url,
            on_exit_action_method=spec.on_exit_action_method,
            confirm_key=spec.confirm_key, confirm_sound=confirm_sound,
            line_audio=line_audio, added_ms=t, request_uuid=self._ids.uuid("request"),
            call_status_callback_url=spec.call_status_callback_url,
            call_status_callback_method=spec.call_status_callback_method,
        )
        mpc.participants.append(p)
        self._participants[member_id] = p
        self._labels[label] = p
        if creating:
            self._mpc_event(ev.MPC_INITIALIZED, mpc, t)
        self._status_event(ev.ADD_PARTICIPANT_INITIATED, p, t,
                           {"RequestUUID": p.request_uuid})
        for purpose, ref, error in failures:
            self._media_failed(mpc, p, t, purpose, ref, error)
        if creating and spec.record:
            self._new_recording(mpc, None, "conference", spec.record_file_format,
                                mpc.recording_callback_url, mpc.recording_callback_method, t)
            self._cue(mpc, mpc.start_recording_audio, t)
        if spec.record_participant_track:
            self._new_recording(mpc, p, "participant", spec.record_file_format,
                                mpc.recording_callback_url, mpc.recording_callback_method, t)

        if source is not None:
            self._exit(source, t, EXIT_TRANSFERRED)
            p.voice_start_ms = source.voice_start_ms
            self._register_call(p, p.call_uuid)
            self._answer(p, t, legs[0], transferred=True)
        else:
            for leg in legs:
                self._register_call(p, leg.call_uuid)
                self._call_status(p, leg.call_uuid, leg.number, "ringing", t)
            if winner is not None and winner.answer_at_ms == t:
                self._answer(p, t, winner)
            elif winner is not None:
                self._set_timer(winner.answer_at_ms, _ANSWER, (p, winner))  # type: ignore[arg-type]
            else:
                self._set_timer(max(leg.give_up_at_ms for leg in legs), _RING_TIMEOUT, p)
        self._changed(t)
        return {
            "api_id": self._ids.uuid("api"),
            "calls": [{"to": leg.number, "from": from_number, "call_uuid": leg.call_uuid}
                      for leg in legs],
            "message": "add participant action initiated",
            "request_uuid": p.request_uuid,
        }

    def update_participant(self, now_ms: int, member_id: str, *,
                           friendly_name: str | None = None, uuid: str | None = None,
                           mute: Any = None, hold: Any = None, coach_mode: Any = None,
                           **params: Any) -> dict[str, Any]:
        """Mute/unmute, hold/unhold, or set coach_mode for one member, a comma list or ``all``.

        coach_mode applies to supervisors only and not with ``all`` (400). The response names
        each setting given, as the API's does.
        """
        self._begin(now_ms)
        t = now_ms
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        if is_given(params.get("role")):
            raise ValidationError("role cannot be changed once set (update_participant takes "
                                  "mute, hold and coach_mode)")
        new_mute = as_bool("mute", mute) if is_given(mute) else None
        new_hold = as_bool("hold", hold) if is_given(hold) else None
        new_coach = as_bool("coach_mode", coach_mode) if is_given(coach_mode) else None
        if new_mute is None and new_hold is None and new_coach is None:
            raise ValidationError("update_participant needs at least one of mute, hold or "
                                  "coach_mode")
        form, members = self._members(mpc, member_id)
        if new_coach is not None:
            if form == "all":
                raise ValidationError("coach_mode can only be updated for individual "
                                      "participants, not with member 'all'")
            for p in members:
                if not p.is_supervisor:
                    raise ValidationError(f"coach_mode applies only to supervisors (member "
                                          f"{_who(p)} is a {p.role.value})")
        for p in members:
            if new_mute is not None and p.mute != new_mute:
                p.mute = new_mute
                self._status_event(ev.PARTICIPANT_MUTE if new_mute else ev.PARTICIPANT_UNMUTE,
                                   p, t)
            if new_hold is not None and p.hold != new_hold:
                p.hold = new_hold
                self._status_event(ev.PARTICIPANT_HOLD if new_hold else ev.PARTICIPANT_UNHOLD,
                                   p, t)
            if new_coach is not None and p.coach_mode != new_coach:
                p.coach_mode = new_coach
                self._status_event(ev.PARTICIPANT_COACH_MODE_START if new_coach
                                   else ev.PARTICIPANT_COACH_MODE_STOP, p, t)
        self._changed(t)
        response: dict[str, Any] = {"api_id": self._ids.uuid("api")}
        if new_mute is not None:
            response["mute"] = f"MPC: {mpc.name} mute/unmute member(s) succeeded"
        if new_hold is not None:
            response["hold"] = f"MPC: {mpc.name} hold/unhold member(s) succeeded"
        if new_coach is not None:
            response["coach_mode"] = f"MPC: {mpc.name} coach_mode enable/disable succeeded"
        return response

    def kick_participant(self, now_ms: int, member_id: str, *,
                         friendly_name: str | None = None, uuid: str | None = None,
                         **params: Any) -> None:
        """Kick one member, a comma list or ``all`` (Kicked Out of Multiparty Call); 204."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        _, members = self._members(mpc, member_id)
        for p in members:
            self._exit(p, now_ms, EXIT_KICKED)
        self._changed(now_ms)

    def get_participant(self, now_ms: int, member_id: str, *, friendly_name: str | None = None,
                        uuid: str | None = None, **params: Any) -> dict[str, Any]:
        """Get Participant: every attribute of the participant object, plus api_id."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid)
        if isinstance(mpc, EndedMpc):
            return {"api_id": self._ids.uuid("api"), **self._ended_participant(mpc, member_id)}
        _, (p,) = self._members(mpc, member_id, allow_all=False, allow_list=False,
                                live_only=False)
        return {"api_id": self._ids.uuid("api"), **self._fmt.participant_object(p)}

    def list_participants(self, now_ms: int, *, friendly_name: str | None = None,
                          uuid: str | None = None, call_uuid: str | None = None,
                          **params: Any) -> dict[str, Any]:
        """List the MPC's participants (exited ones included, in the order added), optionally
        those of one call_uuid; ``meta`` is ``{count, limit, offset}``."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid)
        limit = as_int("limit", read(params, "limit", 20), 1, 20)
        offset = as_int("offset", read(params, "offset", 0), 0)
        if isinstance(mpc, EndedMpc):
            items = [{key: o[key] for key in PARTICIPANT_LIST_FIELDS} for o in mpc.objects()[1]]
            matched_items = [o for o in items
                             if not is_given(call_uuid) or o["call_uuid"] == str(call_uuid)]
            page = matched_items[offset:offset + limit]
            count = len(matched_items)
        else:
            matched = [p for p in mpc.participants
                       if not is_given(call_uuid) or p.call_uuid == str(call_uuid)]
            page = [self._fmt.participant_list_item(p) for p in matched[offset:offset + limit]]
            count = len(matched)
        return {
            "api_id": self._ids.uuid("api"),
            "meta": {"count": count, "limit": limit, "offset": offset},
            "objects": page,
        }

    # =============================================================================================
    # Recording

    def start_recording(self, now_ms: int, *, friendly_name: str | None = None,
                        uuid: str | None = None, file_format: Any = "mp3",
                        recording_callback_url: str | None = None,
                        recording_callback_method: Any = "POST", **params: Any) -> dict[str, Any]:
        """Start the MPC's recording (mp3 or wav). Its file begins once record_min_member_count
        participants are in conference; refused (400) while a recording runs or is paused."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        fmt, url, method = self._recording_params(mpc, file_format, recording_callback_url,
                                                  recording_callback_method)
        if mpc.recording is not None:
            raise ValidationError(f"MPC {mpc.name!r} is already being recorded (recording: "
                                  f"{recording_status(mpc)}); stop that recording first")
        rec = self._new_recording(mpc, None, "conference", fmt, url, method, now_ms)
        self._cue(mpc, mpc.start_recording_audio, now_ms)
        self._changed(now_ms)
        return {"api_id": self._ids.uuid("api"), "message": f"MPC: {mpc.name} record started",
                "recording_id": rec.recording_id, "recording_url": rec.url}

    def stop_recording(self, now_ms: int, *, friendly_name: str | None = None,
                       uuid: str | None = None, **params: Any) -> None:
        """Stop the MPC's recording (running or paused); 204. 400 when nothing is recording."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        if mpc.recording is None:
            raise ValidationError(f"MPC {mpc.name!r} is not being recorded (recording: "
                                  "not-recording)")
        self._finish_recording(mpc.recording, now_ms)
        self._cue(mpc, mpc.stop_recording_audio, now_ms)
        self._changed(now_ms)

    def pause_recording(self, now_ms: int, *, friendly_name: str | None = None,
                        uuid: str | None = None, **params: Any) -> None:
        """Pause the MPC's recording (the paused span is left out of the file); 204."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        if mpc.recording is None or mpc.recording.state != "recording":
            raise ValidationError(f"MPC {mpc.name!r} has no running recording to pause "
                                  f"(recording: {recording_status(mpc)})")
        self._pause(mpc.recording, now_ms)
        self._changed(now_ms)

    def resume_recording(self, now_ms: int, *, friendly_name: str | None = None,
                         uuid: str | None = None, **params: Any) -> None:
        """Resume the MPC's paused recording; 204."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        if mpc.recording is None or mpc.recording.state != "paused":
            raise ValidationError(f"MPC {mpc.name!r} has no paused recording to resume "
                                  f"(recording: {recording_status(mpc)})")
        self._resume(mpc.recording, now_ms)
        self._changed(now_ms)

    def start_participant_recording(self, now_ms: int, member_id: str, *,
                                    friendly_name: str | None = None, uuid: str | None = None,
                                    file_format: Any = "mp3", record_track_type: Any = "all",
                                    recording_callback_url: str | None = None,
                                    recording_callback_method: Any = "POST",
                                    **params: Any) -> dict[str, Any]:
        """Record one participant: track ``participant`` (mono, its voice), ``all`` (two
        channels: its voice, what it hears) or ``both`` (two files, one recording_id)."""
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        _, (p,) = self._members(mpc, member_id, allow_all=False, allow_list=False)
        tracks = self._track_types(record_track_type)
        fmt, url, method = self._recording_params(mpc, file_format, recording_callback_url,
                                                  recording_callback_method)
        for track in tracks:
            if track in p.recordings:
                raise ValidationError(f"member {_who(p)} is already being recorded "
                                      f"(record_track_type {track}); stop that recording first")
        recording_id = self._ids.uuid("recording")
        first: RecordingRecord | None = None
        for track in tracks:
            rec = self._new_recording(mpc, p, track, fmt, url, method, now_ms, recording_id)
            first = first or rec
        assert first is not None
        self._changed(now_ms)
        return {"api_id": self._ids.uuid("api"), "message": f"MPC: {mpc.name} record started",
                "recording_id": recording_id, "recording_url": first.url}

    def stop_participant_recording(self, now_ms: int, member_id: str, *,
                                   friendly_name: str | None = None, uuid: str | None = None,
                                   record_track_type: Any = "all", **params: Any) -> None:
        """Stop a participant's recording of the given track type; 204."""
        self._participant_recording_op(now_ms, member_id, friendly_name, uuid,
                                       record_track_type, params, "stop")

    def pause_participant_recording(self, now_ms: int, member_id: str, *,
                                    friendly_name: str | None = None, uuid: str | None = None,
                                    record_track_type: Any = "all", **params: Any) -> None:
        """Pause a participant's recording of the given track type; 204."""
        self._participant_recording_op(now_ms, member_id, friendly_name, uuid,
                                       record_track_type, params, "pause")

    def resume_participant_recording(self, now_ms: int, member_id: str, *,
                                     friendly_name: str | None = None, uuid: str | None = None,
                                     record_track_type: Any = "all", **params: Any) -> None:
        """Resume a participant's paused recording of the given track type; 204."""
        self._participant_recording_op(now_ms, member_id, friendly_name, uuid,
                                       record_track_type, params, "resume")

    # =============================================================================================
    # Play

    def start_play_audio(self, now_ms: int, member_id: str, *, friendly_name: str | None = None,
                         uuid: str | None = None, url: Any = None, urls: Any = None,
                         **params: Any) -> dict[str, Any]:
        """Play a file to one member, a comma list or ``all`` until it ends or is stopped.

        Takes ``urls`` (the API text) or ``url`` (the SDK). The API answers 202 with this body.
        A medium that cannot be played raises `MediaError` in strict mode; otherwise the request
        is accepted, an `MPCPlayFailed` event reported, and the members hear nothing.
        """
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        ref = _play_url(url, urls)
        form, members = self._members(mpc, member_id)
        failure: str | None = None
        duration = 0
        try:
            duration = self._duration(ref)
        except MediaError as exc:
            if self.strict_media:
                raise MediaError(f"Play {ref!r}: {exc.message}") from None
            failure = exc.message
        ids = [p.member_id for p in members]
        base = {"MPCUUID": mpc.uuid, "MPCName": mpc.name, "MemberID": ",".join(ids),
                "PlayURL": ref}
        if failure is not None:
            self._report(ev.PLAY_FAILED, mpc, now_ms, {**base, "Error": failure})
        else:
            self._overlay_seq += 1
            play = PlayRecord(name=f"play:{self._overlay_seq}", mpc=mpc, form=form,
                              targets=tuple(members), url=ref, start_ms=now_ms,
                              end_ms=now_ms + self._frames(duration))
            mpc.plays.append(play)
            self._set_timer(play.end_ms, _PLAY_END, play)
            self._report(ev.PLAY_STARTED, mpc, now_ms, {**base, "PlayName": play.name})
        self._changed(now_ms)
        return {"api_id": self._ids.uuid("api"), "message": "play queued into MPC",
                "mpcMemberId": ids, "mpcName": mpc.name}

    def stop_play_audio(self, now_ms: int, member_id: str, *, friendly_name: str | None = None,
                        uuid: str | None = None, **params: Any) -> None:
        """Stop the Plays started with the same member form (an id, a list, or ``all``); 204.

        Stopping with another form than the one that started a running Play is refused (400);
        naming members no Play was started for is 404; a Play that already ended is no error.
        """
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        form, members = self._members(mpc, member_id, live_only=False)
        running = [pl for pl in mpc.plays if pl.active and pl.form == form]
        for play in running:
            self._end_play(play, now_ms, "stopped")
        if running:
            self._changed(now_ms)
            return
        if any(pl.form == form for pl in mpc.plays):
            return  # it ended by itself already
        targets = {p.member_id for p in members}
        others = [pl for pl in mpc.plays if pl.active
                  and (form == "all" or pl.form == "all"
                       or targets & {t.member_id for t in pl.targets})]
        if others:
            started = _form_text(others[0].form)
            raise ValidationError(f"stop a Play with the member form that started it: it was "
                                  f"started with member {started!r}, not {str(member_id)!r}")
        raise NotFoundError(f"no Play was started with member {str(member_id)!r} in MPC "
                            f"{mpc.name!r}")

    # =============================================================================================
    # The far end (emulator only)

    def answer(self, now_ms: int, call_uuid: str) -> None:
        """The phone of `call_uuid` answers now (whatever its line says)."""
        self._begin(now_ms)
        p = self._far_end_call(call_uuid)
        if p.exited_ms is not None:
            raise ValidationError(f"call {call_uuid!r} has ended ({p.exit_cause}); it cannot "
                                  "answer")
        if p.answered_ms is not None:
            raise ValidationError(f"call {call_uuid!r} is already answered")
        leg = next(leg for leg in p.legs if leg.call_uuid == call_uuid)
        self._answer(p, now_ms, leg)
        self._changed(now_ms)

    def hangup(self, now_ms: int, call_uuid: str) -> None:
        """The phone of `call_uuid` hangs up (Participant Call Hangup). A call that has already
        ended is left as it is."""
        self._begin(now_ms)
        p = self._far_end_call(call_uuid)
        if p.exited_ms is not None:
            return
        self._exit(p, now_ms, EXIT_HANGUP)
        self._changed(now_ms)

    def dtmf(self, now_ms: int, call_uuid: str, digits: Any) -> None:
        """The phone of `call_uuid` presses `digits` (0-9, #, *).

        A participant waiting for its confirm_key enters at that key (other keys do nothing);
        one in the MPC reports each digit (ParticipantDigitInput, if subscribed).
        """
        self._begin(now_ms)
        text = as_str("digits", digits)
        bad = [d for d in text if d not in CONFIRM_KEYS]
        if bad:
            raise ValidationError(f"digits may hold 0-9, # and * only, not {''.join(bad)!r}")
        p = self._far_end_call(call_uuid)
        if p.exited_ms is not None:
            raise ValidationError(f"call {call_uuid!r} has ended ({p.exit_cause}); it cannot "
                                  "send digits")
        if p.answered_ms is None:
            raise ValidationError(f"call {call_uuid!r} is ringing: it cannot send digits "
                                  "before it answers")
        for digit in text:
            if p.is_awaiting_confirm:
                if digit == p.confirm_key:
                    self._enter(p, now_ms)
            elif p.is_entered:
                self._status_event(ev.PARTICIPANT_DIGIT_INPUT, p, now_ms, {"DigitInput": digit})
        self._changed(now_ms)

    # =============================================================================================
    # Internals: time

    def _begin(self, now_ms: int) -> None:
        if not isinstance(now_ms, int) or isinstance(now_ms, bool):
            raise TypeError(f"now_ms must be an int, not {now_ms!r}")
        if now_ms < self._now:
            raise ValueError(f"time goes forward only: {now_ms} ms is before {self._now} ms")
        if now_ms % self.frame_ms:
            raise ValueError(f"{now_ms} ms is not on a frame boundary ({self.frame_ms} ms frames)")
        while self._timers and self._timers[0][0] <= now_ms:
            at, _, kind, obj = heapq.heappop(self._timers)
            if self._unsettled_at is not None and self._unsettled_at < at:
                self._settle_at(self._unsettled_at)
            self._now = max(self._now, at)
            self._fire(kind, obj, at)
        if self._unsettled_at is not None and self._unsettled_at < now_ms:
            self._settle_at(self._unsettled_at)
        self._now = now_ms

    def _changed(self, t: int) -> None:
        self._unsettled_at = t

    def _frames(self, ms: int) -> int:
        """`ms` rounded up to whole frames."""
        return -(-ms // self.frame_ms) * self.frame_ms

    def _set_timer(self, at_ms: int, kind: str, obj: Any) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (at_ms, self._timer_seq, kind, obj))

    def _timer_is_live(self, timer: tuple[int, int, str, Any]) -> bool:
        _, _, kind, obj = timer
        if kind == _ANSWER:
            p = obj[0]
            return p.exited_ms is None and p.answered_ms is None
        if kind == _RING_TIMEOUT:
            return obj.exited_ms is None and obj.answered_ms is None
        if kind == _MAX_DURATION:
            return obj.is_live
        if kind == _CUE_END:
            mpc, cue = obj
            return cue in mpc.cues
        return obj.active  # _PLAY_END

    def _fire(self, kind: str, obj: Any, t: int) -> None:
        if not self._timer_is_live((t, 0, kind, obj)):
            return
        if kind == _ANSWER:
            p, leg = obj
            self._answer(p, t, leg)
        elif kind == _RING_TIMEOUT:
            self._exit(obj, t, EXIT_HANGUP)
        elif kind == _MAX_DURATION:
            self._end_mpc(obj, t, *MAX_DURATION_REACHED)
        elif kind == _CUE_END:
            mpc, cue = obj
            mpc.cues.remove(cue)
        else:
            self._end_play(obj, t, "completed")
        self._changed(t)

    def _settle_at(self, t: int) -> None:
        for mpc in list(self._live.values()):
            if not mpc.is_live:
                continue
            present = mpc.present()
            if len(present) >= 2:
                for p in present:
                    p.had_company = True
            if not mpc.alive():
                self._end_mpc(mpc, t, *NO_ACTIVE_PARTICIPANTS)
            elif len(present) == 1 and present[0].had_company and not present[0].stay_alone:
                self._end_mpc(mpc, t, *STAY_ALONE_NOT_PERMITTED)
        for rec in self._recordings:
            if (rec.state == "recording" and rec.begun_ms is None and rec.mpc.is_live
                    and self._recording_may_begin(rec)):
                rec.begun_ms = rec.segment_start_ms = t
                self._recording_event(ev.RECORDING_INITIATED, rec, t)
        for mpc in self._live.values():
            for p in mpc.participants:
                music = self._music_of(p)
                if music != p.music:
                    p.music = music
                    p.music_start_ms = t
        self._unsettled_at = None
        if self._ended:
            self._compact()

    # =============================================================================================
    # Internals: lifecycle

    def _create_mpc(self, t: int, name: str, spec: _AddSpec,
                    media: dict[str, str | None]) -> MpcRecord:
        mpc_uuid = self._ids.uuid("mpc")
        mpc = MpcRecord(
            uuid=mpc_uuid, name=name, index=len(self._mpcs), created_ms=t,
            recording_name="recording" if not self._mpcs else f"recording:{mpc_uuid}",
            max_participants=spec.max_participants, max_duration_s=spec.max_duration,
            record_min_member_count=spec.record_min_member_count, stay_alone=spec.stay_alone,
            wait_music=media["wait_music_url"], agent_hold_music=media["agent_hold_music_url"],
            customer_hold_music=media["customer_hold_music_url"],
            recording_callback_url=spec.recording_callback_url,
            recording_callback_method=spec.recording_callback_method,
            start_recording_audio=media["start_recording_audio"],
            stop_recording_audio=media["stop_recording_audio"],
        )
        self._mpcs.append(mpc)
        self._by_uuid[mpc_uuid] = mpc
        self._live[mpc_uuid] = mpc
        self._live_by_name[name] = mpc
        self._set_timer(t + self._frames(spec.max_duration * 1000), _MAX_DURATION, mpc)
        return mpc

    def _dial(self, t: int, number: str, ring_timeout_s: int, delay_s: int) -> Leg:
        line = self._lines.get(number, self._default_line)
        ring_ms = ring_timeout_s * 1000
        delay_ms = delay_s * 1000
        answer_at = None
        if line.answer_after_ms is not None and line.answer_after_ms <= ring_ms:
            answer_at = t + self._frames(delay_ms + max(0, line.answer_after_ms))
        return Leg(number, self._ids.uuid("call"), answer_at,
                   t + self._frames(delay_ms + ring_ms))

    def _register_call(self, p: ParticipantRecord, call_uuid: str) -> None:
        self._calls[call_uuid] = p
        self._all_calls[call_uuid] = p

    def _answer(self, p: ParticipantRecord, t: int, leg: Leg, *, transferred: bool = False) -> None:
        for other in p.legs:
            if other.call_uuid != leg.call_uuid and self._calls.get(other.call_uuid) is p:
                del self._calls[other.call_uuid]
        p.call_uuid = leg.call_uuid
        p.answered_ms = t
        if not transferred:
            self._call_status(p, leg.call_uuid, leg.number, "in-progress", t)
        p.voice, p.voice_duration_ms = p.line_audio[leg.call_uuid]
        if not transferred:
            p.voice_start_ms = t  # a transferred call keeps the answer time of its phone
        self._status_event(ev.ADD_PARTICIPANT_COMPLETED, p, t,
                           {"RequestUUID": p.request_uuid,
                            "AddParticipantAPIRequestOutcome": "success"})
        if p.confirm_key is None:
            self._enter(p, t)

    def _enter(self, p: ParticipantRecord, t: int) -> None:
        mpc = p.mpc
        p.joined_ms = t
        self._status_event(ev.PARTICIPANT_JOIN, p, t,
                           {"ParticipantJoinTime": self._fmt.timestamp(t)})
        if mpc.status is MpcStatus.ACTIVE:
            self._cue(mpc, p.enter_sound, t)
        elif mpc.status is MpcStatus.INITIALIZED and p.start_mpc_on_enter:
            self._activate(mpc, t)
            self._cue(mpc, p.enter_sound, t)  # heard by everyone now in conference

    def _activate(self, mpc: MpcRecord, t: int) -> None:
        mpc.status = MpcStatus.ACTIVE
        mpc.start_ms = t
        self._mpc_event(ev.MPC_START, mpc, t,
                        {"MPCStartTime": self._fmt.timestamp(t)})

    def _exit(self, p: ParticipantRecord, t: int, cause: str) -> None:
        if p.exited_ms is not None:
            return
        mpc = p.mpc
        was_entered = p.is_entered
        was_answered = p.answered_ms is not None
        p.exited_ms = t
        p.exit_cause = cause
        if was_answered:
            self._call_status(p, p.call_uuid, p.to, "completed", t,
                              {"Duration": str((t - p.answered_ms) // 1000), "HangupCause": cause})
        else:
            for leg in p.legs:
                self._call_status(p, leg.call_uuid, leg.number, "no-answer", t,
                                  {"HangupCause": cause})
        for leg in p.legs:
            if self._calls.get(leg.call_uuid) is p:
                del self._calls[leg.call_uuid]
        if not was_answered:
            self._status_event(ev.ADD_PARTICIPANT_COMPLETED, p, t,
                               {"RequestUUID": p.request_uuid,
                                "AddParticipantAPIRequestOutcome": "failure"})
        self._status_event(ev.PARTICIPANT_EXIT, p, t, {
            "ParticipantExitCause": cause,
            "ParticipantJoinTime": self._fmt.timestamp(p.joined_ms),
            "ParticipantExitTime": self._fmt.timestamp(t),
        })
        for rec in list(p.recordings.values()):
            self._finish_recording(rec, t)
        if p.on_exit_action_url and was_answered:
            self._push(Event(t, ev.ON_EXIT_ACTION, p.on_exit_action_url, p.on_exit_action_method,
                             {
                                 "MPCUUID": mpc.uuid,
                                 "MPCFriendlyName": mpc.name,
                                 "MemberID": p.member_id,
                                 "ParticipantCallUUID": p.call_uuid,
                                 "ParticipantJoinTime": callback_value(
                                     self._fmt.timestamp(p.joined_ms)),
                                 "ParticipantEndTime": callback_value(self._fmt.timestamp(t)),
                                 "ParticipantRole": ROLE_IN_CALLBACKS[p.role],
                             }))
        if cause == EXIT_MPC_ENDED or not mpc.is_live:
            return
        if was_entered and mpc.status is MpcStatus.ACTIVE:
            self._cue(mpc, p.exit_sound, t)
        if was_entered and p.end_mpc_on_exit:
            self._end_mpc(mpc, t, *NO_ACTIVE_PARTICIPANTS)

    def _end_mpc(self, mpc: MpcRecord, t: int, cause: str, code: int) -> None:
        if not mpc.is_live:
            return
        for p in list(mpc.participants):
            self._exit(p, t, EXIT_MPC_ENDED)
        if mpc.recording is not None:
            self._finish_recording(mpc.recording, t)
        for play in mpc.plays:
            if play.active:
                self._end_play(play, t, "mpc-ended")
        mpc.cues.clear()
        mpc.status = MpcStatus.ENDED
        mpc.end_ms = t
        mpc.termination_cause = cause
        mpc.termination_cause_code = code
        if self._live_by_name.get(mpc.name) is mpc:
            del self._live_by_name[mpc.name]
        del self._live[mpc.uuid]
        self._ended.append(mpc)
        duration, billed, amount = self._fmt.mpc_billing(mpc)
        self._mpc_event(ev.MPC_END, mpc, t, {
            "MPCEndTime": self._fmt.timestamp(t),
            "MPCDuration": duration,
            "MPCBilledDuration": billed,
            "MPCBilledAmount": amount,
            "MPCTerminationCause": cause,
            "MPCTerminationCauseCode": code,
        })

    def _compact(self) -> None:
        """Swap each MPC that ended for its compact record (after its boundary is settled, so
        nothing about it changes any more), and drop the timers only ended MPCs still held."""
        for mpc in self._ended:
            ended = EndedMpc.pack(mpc, self._fmt.mpc_object(mpc),
                                  [self._fmt.participant_object(p) for p in mpc.participants])
            self._mpcs[mpc.index] = ended
            self._by_uuid[mpc.uuid] = ended
            for position, p in enumerate(mpc.participants):
                assert p.exited_ms is not None and p.exit_cause is not None
                q = EndedParticipant(p.member_id, p.label, ended, position, p.call_uuid,
                                     p.exited_ms, p.exit_cause, p.voice_start_ms,
                                     p.voice_duration_ms)
                self._participants[p.member_id] = q
                self._labels[p.label] = q
                for leg in p.legs:
                    if self._all_calls.get(leg.call_uuid) is p:
                        self._all_calls[leg.call_uuid] = q
            # The records point at each other (a participant at its MPC and back, a Play at its
            # MPC and back): cut the cycles, so they are freed now rather than at the cyclic
            # collector's next full pass, which a busy server reaches only every many minutes.
            for p in mpc.participants:
                p.recordings.clear()
            mpc.participants.clear()
            mpc.plays.clear()
            mpc.cues.clear()
            mpc.recording = None
        self._ended.clear()
        # A timer of an ended MPC (its max_duration, a ring timeout...) can never fire again;
        # left in the heap it would keep the MPC's records alive until its time came.
        self._timers = [timer for timer in self._timers if self._timer_is_live(timer)]
        heapq.heapify(self._timers)

    def _cue(self, mpc: MpcRecord, media: str | None, t: int) -> None:
        """An enter/exit (or recording) sound into the MPC, heard as routing's cue rule says."""
        if media is None:
            return
        duration = self._frames(self._duration(media))
        if duration <= 0:
            return
        self._overlay_seq += 1
        cue = CueRecord(f"cue:{self._overlay_seq}", media, t, t + duration)
        mpc.cues.append(cue)
        self._set_timer(cue.end_ms, _CUE_END, (mpc, cue))

    def _end_play(self, play: PlayRecord, t: int, reason: str) -> None:
        play.active = False
        play.end_ms = min(play.end_ms, t)
        self._report(ev.PLAY_ENDED, play.mpc, t, {
            "MPCUUID": play.mpc.uuid, "MPCName": play.mpc.name,
            "MemberID": ",".join(p.member_id for p in play.targets), "PlayURL": play.url,
            "PlayName": play.name, "PlayEndReason": reason,
        })

    def _music_of(self, p: ParticipantRecord) -> tuple[str, str | None] | None:
        """What music `p` hears now, as (kind, media): confirm sound, hold, wait, or none."""
        if p.answered_ms is None or p.exited_ms is not None or not p.mpc.is_live:
            return None
        mpc = p.mpc
        if p.is_awaiting_confirm:
            return ("confirm", p.confirm_sound)
        if p.hold:
            if p.role is Role.CUSTOMER:
                return ("hold", mpc.customer_hold_music or DEFAULT_CUSTOMER_HOLD_MUSIC)
            return ("hold", mpc.agent_hold_music or DEFAULT_AGENT_HOLD_MUSIC)
        if mpc.status is MpcStatus.INITIALIZED:
            return ("wait", mpc.wait_music or DEFAULT_WAIT_MUSIC)
        return None

    # =============================================================================================
    # Internals: recordings

    def _new_recording(self, mpc: MpcRecord, member: ParticipantRecord | None, track: str,
                       file_format: str, url: str | None, method: str, t: int,
                       recording_id: str | None = None) -> RecordingRecord:
        rid = recording_id or self._ids.uuid("recording")
        rec = RecordingRecord(
            recording_id=rid, mpc=mpc, member=member, track=track, file_format=file_format,
            callback_url=url, callback_method=method, started_ms=t,
            url=f"{self._recording_url_base}{rid}.{file_format}",
        )
        self._recordings.append(rec)
        if member is None:
            mpc.recording = rec
        else:
            member.recordings[track] = rec
        return rec

    def _recording_may_begin(self, rec: RecordingRecord) -> bool:
        if rec.member is not None:
            return rec.member.is_entered
        mpc = rec.mpc
        if mpc.status is not MpcStatus.ACTIVE:
            return False
        in_conference = sum(1 for p in mpc.participants if p.is_entered and not p.hold)
        return in_conference >= mpc.record_min_member_count

    def _pause(self, rec: RecordingRecord, t: int) -> None:
        if rec.is_capturing and rec.segment_start_ms is not None:
            rec.captured_ms += t - rec.segment_start_ms
        rec.segment_start_ms = None
        rec.state = "paused"
        self._recording_event(ev.RECORDING_PAUSED, rec, t)

    def _resume(self, rec: RecordingRecord, t: int) -> None:
        rec.state = "recording"
        if rec.begun_ms is not None:
            rec.segment_start_ms = t
        self._recording_event(ev.RECORDING_RESUMED, rec, t)

    def _finish_recording(self, rec: RecordingRecord, t: int) -> None:
        if rec.state == "stopped":
            return
        if rec.is_capturing and rec.segment_start_ms is not None:
            rec.captured_ms += t - rec.segment_start_ms
        rec.segment_start_ms = None
        rec.state = "stopped"
        rec.end_ms = t
        self._recordings.remove(rec)  # only recordings not stopped are kept there
        if rec.member is None:
            if rec.mpc.recording is rec:
                rec.mpc.recording = None
        elif rec.member.recordings.get(rec.track) is rec:
            del rec.member.recordings[rec.track]
        # A recording whose start condition was never met has no file: it failed.
        name = ev.RECORDING_COMPLETED if rec.begun_ms is not None else ev.RECORDING_FAILED
        self._recording_event(name, rec, t)

    def _recording_params(self, mpc: MpcRecord, file_format: Any, url: Any,
                          method: Any) -> tuple[str, str | None, str]:
        fmt = as_choice("file_format", file_format if is_given(file_format) else "mp3",
                        ("mp3", "wav"))
        if is_given(url):
            return fmt, as_str("recording_callback_url", url), as_method(
                "recording_callback_method", method if is_given(method) else "POST")
        if is_given(method):
            as_method("recording_callback_method", method)
        return fmt, mpc.recording_callback_url, mpc.recording_callback_method

    @staticmethod
    def _track_types(value: Any) -> tuple[str, ...]:
        kind = as_choice("record_track_type", value if is_given(value) else "all",
                         tuple(RECORD_TRACK_TYPES))
        return RECORD_TRACK_TYPES[kind]

    def _participant_recording_op(self, now_ms: int, member_id: str, friendly_name: str | None,
                                  uuid: str | None, record_track_type: Any,
                                  params: dict[str, Any], op: str) -> None:
        self._begin(now_ms)
        self._refuse_async(params)
        mpc = self._find(friendly_name, uuid, live=True)
        _, (p,) = self._members(mpc, member_id, allow_all=False, allow_list=False)
        tracks = self._track_types(record_track_type)
        wanted = {"stop": ("recording", "paused"), "pause": ("recording",),
                  "resume": ("paused",)}[op]
        recs = []
        for track in tracks:
            rec = p.recordings.get(track)
            if rec is None or rec.state not in wanted:
                state = "not recording" if rec is None else rec.state
                raise ValidationError(f"member {_who(p)} has no recording of record_track_type "
                                      f"{track} to {op} ({state})")
            recs.append(rec)
        for rec in recs:
            if op == "stop":
                self._finish_recording(rec, now_ms)
            elif op == "pause":
                self._pause(rec, now_ms)
            else:
                self._resume(rec, now_ms)
        self._changed(now_ms)

    # =============================================================================================
    # Internals: events

    def _push(self, event: Event) -> None:
        if self._events and event.at_ms < self._events[-1].at_ms:
            bisect.insort(self._events, event, key=lambda e: e.at_ms)
        else:
            self._events.append(event)

    def _next_sequence(self, mpc: MpcRecord) -> str:
        mpc.sequence += 1
        return str(mpc.sequence)

    def _head(self, name: str, t: int) -> dict[str, str]:
        return {"EventName": name, "EventTimestamp": callback_value(self._fmt.timestamp(t))}

    def _participant_params(self, p: ParticipantRecord) -> dict[str, str]:
        return {
            "MemberID": p.member_id,
            "MemberAddress": p.to,
            "ParticipantRole": ROLE_IN_CALLBACKS[p.role],
            "ParticipantCallUUID": p.call_uuid,
            "ParticipantCallFrom": p.from_number,
            "ParticipantCallTo": p.to,
            "ParticipantCallDirection": "outbound",
            "ParticipantCoachMode": callback_value(coach_mode(p)),
        }

    def _status_event(self, name: str, p: ParticipantRecord, t: int,
                      extra: dict[str, Any] | None = None) -> None:
        """A participant's own event, to its status_callback_url if it subscribed."""
        if ev.EVENT_GROUPS[name] not in p.status_callback_events:
            return
        mpc = p.mpc
        params = {**self._head(name, t), "MPCUUID": mpc.uuid, "MPCName": mpc.name,
                  **self._participant_params(p)}
        params.update({k: callback_value(v) for k, v in (extra or {}).items()})
        params["SequenceNumber"] = self._next_sequence(mpc)
        self._push(Event(t, name, p.status_callback_url, p.status_callback_method, params))

    def _call_status(self, p: ParticipantRecord, call_uuid: str, to: str, status: str, t: int,
                     extra: dict[str, str] | None = None) -> None:
        """A call leg's status (ringing, in-progress, completed, no-answer) to the participant's
        call_status_callback_url, as the Call API reports a call's progress."""
        if not p.call_status_callback_url:
            return
        params = {"Event": "CallStatus", "CallUUID": call_uuid, "CallStatus": status,
                  "From": p.from_number, "To": to, "Direction": "outbound",
                  "Timestamp": callback_value(self._fmt.timestamp(t)), **(extra or {})}
        self._push(Event(t, "CallStatus", p.call_status_callback_url,
                         p.call_status_callback_method, params))

    def _mpc_event(self, name: str, mpc: MpcRecord, t: int,
                   extra: dict[str, Any] | None = None) -> None:
        """An MPC state change, to the status_callback_url of every participant in the MPC at
        that instant that subscribed (each carrying its own participant fields); participants
        that gave no URL share one report with url None."""
        group = ev.EVENT_GROUPS[name]
        recipients = [p for p in mpc.participants
                      if (p.exited_ms is None or p.exited_ms == t)
                      and group in p.status_callback_events]
        if not recipients:
            return
        base = {**self._head(name, t), "MPCUUID": mpc.uuid, "MPCName": mpc.name}
        tail = {k: callback_value(v) for k, v in (extra or {}).items()}
        tail["SequenceNumber"] = self._next_sequence(mpc)
        without_url = [p for p in recipients if not p.status_callback_url]
        for p in recipients:
            if p.status_callback_url:
                params = {**base, **self._participant_params(p), **tail}
                self._push(Event(t, name, p.status_callback_url, p.status_callback_method,
                                 params))
        if without_url:
            self._push(Event(t, name, None, without_url[0].status_callback_method,
                             {**base, **tail}))

    def _recording_event(self, name: str, rec: RecordingRecord, t: int) -> None:
        mpc = rec.mpc
        params = {
            **self._head(name, t),
            "MPCName": mpc.name,
            "MPCUUID": mpc.uuid,
            "RecordingDuration": str((rec.duration_ms(t) + 500) // 1000),
            "RecordingFormat": rec.file_format,
            "RecordingURL": rec.url,
            "RecordingUUID": rec.recording_id,
            "RecordingStartTime": callback_value(self._fmt.timestamp(rec.begun_ms)),
            "RecordingEndTime": callback_value(self._fmt.timestamp(rec.end_ms)),
        }
        if rec.member is not None:
            params["MemberID"] = rec.member.member_id
            params["RecordTrackType"] = rec.track
        params["SequenceNumber"] = self._next_sequence(mpc)
        self._push(Event(t, name, rec.callback_url, rec.callback_method, params))

    def _report(self, name: str, mpc: MpcRecord, t: int, params: dict[str, Any]) -> None:
        """One of mpcmix's own reports (no real callback: url None)."""
        body = {**self._head(name, t), **{k: callback_value(v) for k, v in params.items()}}
        body["SequenceNumber"] = self._next_sequence(mpc)
        self._push(Event(t, name, None, "POST", body))

    def _media_failed(self, mpc: MpcRecord, p: ParticipantRecord, t: int, purpose: str,
                      ref: str, error: str) -> None:
        self._report(ev.MEDIA_FAILED, mpc, t, {
            "MPCUUID": mpc.uuid, "MPCName": mpc.name, "MemberID": p.member_id,
            "MediaPurpose": purpose, "MediaURL": ref, "Error": error,
        })

    # =============================================================================================
    # Internals: look-ups and checks

    def _duration(self, ref: str) -> int:
        if ref in BEEP_DURATION_MS:
            return BEEP_DURATION_MS[ref]
        if self._media is None:
            raise MediaError(f"media {ref!r}: no media catalog is configured")
        return self._media.duration_ms(ref)

    def _usable(self, ref: str | None, purpose: str,
                failures: list[tuple[str, str, str]]) -> str | None:
        """`ref` if it can be played; else raise (strict) or note the failure and give None."""
        if ref is None:
            return None
        try:
            self._duration(ref)
        except MediaError as exc:
            if self.strict_media:
                raise MediaError(f"{purpose}: {exc.message}") from None
            failures.append((purpose, ref, exc.message))
            return None
        return ref

    def _mpc_object(self, mpc: MpcRecord | EndedMpc) -> dict[str, Any]:
        if isinstance(mpc, EndedMpc):
            return mpc.objects()[0]
        return self._fmt.mpc_object(mpc)

    def _mpc_list_item(self, mpc: MpcRecord | EndedMpc) -> dict[str, Any]:
        if isinstance(mpc, EndedMpc):
            full = mpc.objects()[0]
            return {key: full[key] for key in MPC_LIST_FIELDS}
        return self._fmt.mpc_list_item(mpc)

    def _ended_participant(self, mpc: EndedMpc, member_id: Any) -> dict[str, Any]:
        """Get Participant of one member (by member_id or label) of an ended MPC."""
        text = "" if member_id is None else str(unwrap("member_id", member_id)).strip()
        if not text:
            raise ValidationError("member_id is required: a member id, a comma-separated list "
                                  "or all")
        if text.lower() == "all":
            raise ValidationError("member 'all' is not allowed here: name one member")
        if "," in text:
            raise ValidationError(f"name one member here, not a list ({text!r})")
        p = self._participants.get(text) or self._labels.get(text)
        if p is None or p.mpc is not mpc:
            raise NotFoundError(f"member {text!r} is not a participant of MPC {mpc.name!r}")
        assert isinstance(p, EndedParticipant)
        return mpc.objects()[1][p.position]

    def _find(self, friendly_name: str | None, uuid: str | None, *,
              live: bool = False) -> Any:
        """The MPC named by exactly one of `friendly_name` (live ones only) or `uuid`."""
        if is_given(friendly_name) == is_given(uuid):
            raise ValidationError("name the MPC by exactly one of friendly_name or uuid")
        if is_given(friendly_name):
            name = as_str("friendly_name", friendly_name)
            mpc = self._live_by_name.get(name)
            if mpc is None:
                raise NotFoundError(f"no live MPC named {name!r} (a name finds an MPC only "
                                    "while it is live; an ended MPC is found by its uuid)")
            return mpc
        found = self._by_uuid.get(str(uuid))
        if found is None:
            raise NotFoundError(f"no MPC with uuid {uuid!r}")
        if live and not found.is_live:
            raise NotFoundError(f"MPC {found.name!r} ({found.uuid}) has ended "
                                f"({found.termination_cause}); it takes no more operations")
        return found

    def _mpc_for_add(self, friendly_name: str | None, uuid: str | None) -> MpcRecord | None:
        if is_given(friendly_name) == is_given(uuid):
            raise ValidationError("name the MPC by exactly one of friendly_name or uuid")
        if is_given(uuid):
            return self._find(None, uuid, live=True)
        return self._live_by_name.get(as_str("friendly_name", friendly_name))

    def _check_label(self, label: Any) -> str | None:
        if label is None:
            return None
        text = as_str("label", label)
        if (text.lower() == "all" or "," in text or text.isdigit() or text == "recording"
                or text.startswith("recording:")):
            raise ValidationError(f"label {text!r} cannot name a participant: a label is not "
                                  "'all', has no comma, is not all digits and is not 'recording'")
        other = self._labels.get(text)
        if other is not None:
            raise ValidationError(f"label {text!r} is already used by member {other.member_id}; "
                                  "labels are unique across the account")
        return text

    def _participant(self, member: str) -> ParticipantRecord:
        p = self._participants.get(str(member)) or self._labels.get(str(member))
        if p is None:
            raise NotFoundError(f"no participant {member!r}")
        return p

    def _far_end_call(self, call_uuid: str) -> ParticipantRecord:
        p = self._calls.get(str(call_uuid)) or self._all_calls.get(str(call_uuid))
        if p is None:
            raise NotFoundError(f"no call with call_uuid {call_uuid!r}")
        return p

    def _members(self, mpc: MpcRecord, member_id: Any, *, allow_all: bool = True,
                 allow_list: bool = True, live_only: bool = True,
                 ) -> tuple[str | frozenset[str], list[ParticipantRecord]]:
        """Resolve a member form: one id (or label), a comma-separated list, or ``all``."""
        text = "" if member_id is None else str(unwrap("member_id", member_id)).strip()
        if not text:
            raise ValidationError("member_id is required: a member id, a comma-separated list "
                                  "or all")
        if text.lower() == "all":
            if not allow_all:
                raise ValidationError("member 'all' is not allowed here: name one member")
            if live_only:
                members = mpc.alive()
                if not members:
                    raise NotFoundError(f"MPC {mpc.name!r} has no participants left")
                return "all", members
            return "all", list(mpc.participants)
        parts = [part.strip() for part in text.split(",")]
        if len(parts) > 1 and not allow_list:
            raise ValidationError(f"name one member here, not a list ({text!r})")
        found: list[ParticipantRecord] = []
        for part in parts:
            if not part:
                raise ValidationError(f"member_id {text!r} has an empty entry")
            if part.lower() == "all":
                raise ValidationError("'all' cannot be part of a list of members")
            p = self._participants.get(part) or self._labels.get(part)
            if p is None or p.mpc is not mpc:
                raise NotFoundError(f"member {part!r} is not a participant of MPC "
                                    f"{mpc.name!r}")
            if live_only and p.exited_ms is not None:
                raise ValidationError(f"member {_who(p)} has already exited ({p.exit_cause})")
            if p not in found:
                found.append(p)
        return frozenset(p.member_id for p in found), found

    def _refuse_async(self, params: Mapping[str, Any]) -> None:
        """The API's asynchronous mode (callback_url on any request) is not emulated."""
        refuse_unless_default(params, "callback_url", None,
                              "asynchronous API responses are not emulated")
        refuse_unless_default(params, "transcription_url", None, "transcription is not emulated")
        refuse_unless_default(params, "transcript", False, "transcription is not emulated")

    def _time_test(self, field: str, op: str, bound: datetime) -> Any:
        def test(m: MpcRecord) -> bool:
            ms = m.end_ms if field == "end_time" else m.created_ms
            if ms is None:
                return False
            moment = self._fmt.moment(ms)
            return {"gt": moment > bound, "gte": moment >= bound, "lt": moment < bound,
                    "lte": moment <= bound}[op]
        return test


# =================================================================================================
# add_participant's parameters


class _AddSpec:
    """add_participant's parameters, read and checked (every refusal before any change)."""

    role: Role
    from_number: str | None
    to: str | None
    destinations: tuple[str, ...]
    call_uuid: str | None
    caller_name: str | None
    confirm_key: str | None
    confirm_sound: str | None
    ring_timeouts: tuple[int, ...]
    delays: tuple[int, ...]
    max_duration: int
    max_participants: int
    record_min_member_count: int
    wait_music: str | None
    agent_hold_music: str | None
    customer_hold_music: str | None
    recording_callback_url: str | None
    recording_callback_method: str
    status_callback_url: str | None
    status_callback_method: str
    call_status_callback_url: str | None
    call_status_callback_method: str
    status_callback_events: frozenset[str]
    on_exit_action_url: str | None
    on_exit_action_method: str
    record: bool
    record_participant_track: bool
    record_file_format: str
    stay_alone: bool
    coach_mode: bool
    mute: bool
    hold: bool
    start_mpc_on_enter: bool
    end_mpc_on_exit: bool
    enter_sound: str | None
    exit_sound: str | None
    start_recording_audio: str | None
    stop_recording_audio: str | None

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> _AddSpec:
        s = cls()
        role = read(params, "role")
        if role is None:
            raise ValidationError("role is required: agent, supervisor, customer or ai-agent")
        s.role = Role(as_choice("role", role, [r.value for r in Role]))

        from_number = read(params, "from", read(params, "from_"))
        to = read(params, "to", read(params, "to_"))
        call_uuid = read(params, "call_uuid")
        if call_uuid is not None and (from_number is not None or to is not None):
            raise ValidationError("give call_uuid (to transfer a call) or from and to, not both")
        if call_uuid is None and (from_number is None or to is None):
            missing = "from" if from_number is None else "to"
            raise ValidationError(f"{missing} is required (or call_uuid, to transfer a call)")
        s.call_uuid = None if call_uuid is None else as_str("call_uuid", call_uuid)
        s.from_number = None if from_number is None else as_str("from", from_number)
        s.to = None if to is None else as_str("to", to)
        if s.to is not None:
            destinations = tuple(part.strip() for part in s.to.split("<"))
            if any(not d for d in destinations):
                raise ValidationError(f"to {s.to!r} has an empty destination")
            if len(destinations) > 1 and s.role is not Role.AGENT:
                raise ValidationError(f"several destinations in to are allowed for role agent "
                                      f"only (role is {s.role.value})")
            if len(destinations) > MAX_DESTINATIONS:
                raise ValidationError(f"to may list at most {MAX_DESTINATIONS} destinations, not "
                                      f"{len(destinations)}")
        else:
            destinations = ()
        s.destinations = destinations
        caller_name = read(params, "caller_name")
        s.caller_name = None if caller_name is None else as_str("caller_name", caller_name,
                                                                max_len=50)

        for name in ("call_status_callback_method", "confirm_key_sound_method",
                     "wait_music_method", "agent_hold_music_method", "customer_hold_music_method",
                     "enter_sound_method", "exit_sound_method", "start_recording_audio_method",
                     "stop_recording_audio_method"):
            if read(params, name) is not None:
                as_method(name, params[name])
        refuse_unless_default(params, "sip_headers", None, "there is no SIP leg to carry them")
        refuse_unless_default(params, "relay_dtmf_inputs", False,
                              "DTMF tones are not relayed as audio")
        refuse_unless_default(params, "create_mpc_with_single_participant", True,
                              "an MPC is always created by its first participant")
        refuse_unless_default(params, "send_digits", None, "digits are not sent to the callee")
        refuse_unless_default(params, "send_on_preanswer", False,
                              "digits are not sent to the callee")
        refuse_unless_default(params, "callback_url", None,
                              "asynchronous API responses are not emulated")
        refuse_unless_default(params, "transcription_url", None, "transcription is not emulated")
        refuse_unless_default(params, "transcript", False, "transcription is not emulated")
        dial_music = read(params, "dial_music")
        if dial_music is not None and as_str("dial_music", dial_music).lower() not in (
                "real", "none"):
            raise ValidationError(f"dial_music={dial_music!r} is not supported by mpcmix (nobody "
                                  "hears dial music in the emulator); use real or none")

        confirm_key = read(params, "confirm_key")
        s.confirm_key = None if confirm_key is None else as_choice("confirm_key", confirm_key,
                                                                   CONFIRM_KEYS)
        s.confirm_sound = _opt_str(params, "confirm_key_sound_url")

        count = max(1, len(destinations))
        s.ring_timeouts = _per_destination(params, "ring_timeout", 45, RING_TIMEOUT_RANGE, count)
        s.delays = _per_destination(params, "delay_dial", 0, DELAY_DIAL_RANGE, count)
        s.max_duration = as_int("max_duration", read(params, "max_duration", 14400),
                                *MAX_DURATION_RANGE)
        s.max_participants = as_int("max_participants", read(params, "max_participants", 10),
                                    *MAX_PARTICIPANTS_RANGE)
        s.record_min_member_count = as_int(
            "record_min_member_count", read(params, "record_min_member_count", 1),
            *RECORD_MIN_MEMBER_COUNT_RANGE)

        s.wait_music = _opt_str(params, "wait_music_url")
        s.agent_hold_music = _opt_str(params, "agent_hold_music_url")
        s.customer_hold_music = _opt_str(params, "customer_hold_music_url")
        s.start_recording_audio = _opt_str(params, "start_recording_audio")
        s.stop_recording_audio = _opt_str(params, "stop_recording_audio")
        s.recording_callback_url = _opt_str(params, "recording_callback_url")
        s.recording_callback_method = as_method(
            "recording_callback_method", read(params, "recording_callback_method", "GET"))
        s.call_status_callback_url = _opt_str(params, "call_status_callback_url")
        s.call_status_callback_method = as_method(
            "call_status_callback_method", read(params, "call_status_callback_method", "POST"))
        s.status_callback_url = _opt_str(params, "status_callback_url")
        s.status_callback_method = as_method(
            "status_callback_method", read(params, "status_callback_method", "GET"))
        s.status_callback_events = _event_groups(read(params, "status_callback_events"))
        s.on_exit_action_url = _opt_str(params, "on_exit_action_url")
        s.on_exit_action_method = as_method(
            "on_exit_action_method", read(params, "on_exit_action_method", "POST"))

        s.record = as_bool("record", read(params, "record", False))
        s.record_participant_track = as_bool(
            "record_participant_track", read(params, "record_participant_track", False))
        s.record_file_format = as_choice(
            "record_file_format", read(params, "record_file_format", "mp3"), ("mp3", "wav"))
        s.stay_alone = as_bool("stay_alone", read(params, "stay_alone", False))
        s.coach_mode = as_bool("coach_mode", read(params, "coach_mode", True))
        s.mute = as_bool("mute", read(params, "mute", False))
        s.hold = as_bool("hold", read(params, "hold", False))
        s.start_mpc_on_enter = as_bool("start_mpc_on_enter",
                                       read(params, "start_mpc_on_enter", True))
        s.end_mpc_on_exit = as_bool("end_mpc_on_exit", read(params, "end_mpc_on_exit", False))
        s.enter_sound = _sound("enter_sound", read(params, "enter_sound", "beep:1"))
        s.exit_sound = _sound("exit_sound", read(params, "exit_sound", "beep:2"))
        return s


def _opt_str(params: Mapping[str, Any], name: str) -> str | None:
    value = read(params, name)
    return None if value is None else as_str(name, value)


def _per_destination(params: Mapping[str, Any], name: str, default: int,
                     bounds: tuple[int, int], count: int) -> tuple[int, ...]:
    """One value per destination ('<'-separated like `to`); the last one given fills the rest."""
    values = as_int_list(name, read(params, name, default), *bounds)
    if len(values) > count:
        raise ValidationError(f"{name} gives {len(values)} values for {count} destination(s); "
                              "give one per destination at most")
    return tuple(values + [values[-1]] * (count - len(values)))


def _event_groups(value: Any) -> frozenset[str]:
    if value is None:
        return ev.DEFAULT_EVENT_GROUPS
    text = str(unwrap("status_callback_events", value))
    groups = set()
    for part in text.split(","):
        group = part.strip().lower()
        if not group:
            continue
        if group not in ev.EVENT_GROUP_NAMES:
            listed = ", ".join(ev.EVENT_GROUP_NAMES)
            raise ValidationError(f"status_callback_events may name {listed}; not {part.strip()!r}")
        groups.add(group)
    return frozenset(groups)


def _sound(name: str, value: Any) -> str | None:
    """An enter/exit sound: beep:1, beep:2, none (None) or a media URL/path."""
    text = as_str(name, value)
    lowered = text.strip().lower()
    if lowered in SOUND_KEYWORDS:
        return None if lowered == "none" else lowered
    return text


def _play_url(url: Any, urls: Any) -> str:
    """Play's medium: `urls` (the API text) or `url` (the SDK); one file per request."""
    values = [v for v in (url, urls) if is_given(v)]
    if not values:
        raise ValidationError("urls is required: the URL of the audio file to play")
    refs = []
    for value in values:
        if isinstance(value, list | tuple):
            if len(value) != 1:
                raise ValidationError(f"urls names {len(value)} files; mpcmix plays one file "
                                      "per Play request")
            value = value[0]
        refs.append(as_str("urls", value))
    if len(set(refs)) > 1:
        raise ValidationError(f"url {refs[0]!r} and urls {refs[1]!r} differ; give one of them")
    return refs[0]


def _winning_leg(legs: tuple[Leg, ...]) -> Leg | None:
    """The leg that answers first (ties: the first listed), or None if none answers."""
    answering = [leg for leg in legs if leg.answer_at_ms is not None]
    if not answering:
        return None
    return min(answering, key=lambda leg: leg.answer_at_ms)  # type: ignore[arg-type, return-value]


def _who(p: ParticipantRecord) -> str:
    """How a message names a participant: its label, and its member_id when they differ."""
    if p.label == p.member_id:
        return p.member_id
    return f"{p.label!r} ({p.member_id})"


def _form_text(form: str | frozenset[str]) -> str:
    return form if isinstance(form, str) else ",".join(sorted(form))
