"""Add Participant: the operation that dials (or transfers) a participant, creating its MPC.

Every refusal comes before any change: the parameters (the table, then the rules between them),
the MPC's limit, the call to transfer, and the media (a broken medium refuses the add in strict
mode, or is reported and replaced by silence). Only then is the MPC created (its settings come
from this first add alone), the participant recorded, its legs dialled or its call moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mpcmix.errors import NotFoundError, ValidationError
from mpcmix.routing import Role

from . import events as ev
from .lifecycle import Lifecycle
from .params import MAX_DESTINATIONS, destinations, parse
from .records import EXIT_TRANSFERRED, Leg, MpcRecord, ParticipantRecord
from .state import ANSWER, MAX_DURATION, RING_TIMEOUT

#: The MPC's own media settings, taken from the add that creates it.
MPC_MEDIA = ("wait_music_url", "agent_hold_music_url", "customer_hold_music_url",
             "start_recording_audio", "stop_recording_audio")

Failures = list[tuple[str, str, str]]  # (purpose, reference, error) of media that cannot play


@dataclass(frozen=True)
class AddSpec:
    """add_participant's parameters, parsed by the table (`args`), with the rules between them
    checked: `call_uuid` or `from` and `to`; several destinations for agents only; one
    `ring_timeout` and `delay_dial` per destination."""

    args: Mapping[str, Any]
    role: Role
    destinations: tuple[str, ...]
    ring_timeouts: tuple[int, ...]
    delays: tuple[int, ...]

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> AddSpec:
        args = parse("add_participant", params)
        role = Role(args["role"])
        call_uuid, from_number, to = args["call_uuid"], args["from"], args["to"]
        if call_uuid is not None and (from_number is not None or to is not None):
            raise ValidationError("give call_uuid (to transfer a call) or from and to, not both")
        if call_uuid is None and (from_number is None or to is None):
            missing = "from" if from_number is None else "to"
            raise ValidationError(f"{missing} is required (or call_uuid, to transfer a call)")
        numbers = destinations(to) if to is not None else ()
        if any(not d for d in numbers):
            raise ValidationError(f"to {to!r} has an empty destination")
        if len(numbers) > 1 and role is not Role.AGENT:
            raise ValidationError(f"several destinations in to are allowed for role agent "
                                  f"only (role is {role.value})")
        if len(numbers) > MAX_DESTINATIONS:
            raise ValidationError(f"to may list at most {MAX_DESTINATIONS} destinations, not "
                                  f"{len(numbers)}")
        count = max(1, len(numbers))
        return cls(args, role, numbers,
                   _per_destination("ring_timeout", args["ring_timeout"], count),
                   _per_destination("delay_dial", args["delay_dial"], count))

    def __getitem__(self, name: str) -> Any:
        return self.args[name]

    def sound(self, name: str) -> str | None:
        """An enter/exit sound as the model plays it: ``none`` is None (silence)."""
        value: str = self.args[name]
        return None if value == "none" else value


class AddParticipant(Lifecycle):
    """The add_participant operation (see the module docstring)."""

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
        spec = AddSpec.parse(params)
        checked_label = self._check_label(label)
        source = self._transferred_call(spec, mpc)
        if mpc is not None:
            alive = len(mpc.alive())
            if alive >= mpc.max_participants:
                raise ValidationError(
                    f"MPC {mpc.name!r} already has {alive} participants, its max_participants "
                    f"({mpc.max_participants}); a participant counts until it exits")
        # Media: checked before anything changes, so a refused add leaves no trace.
        failures: Failures = []
        sounds = {name: self._usable(ref, purpose, failures) for name, ref, purpose in (
            ("enter", spec.sound("enter_sound"), "enter_sound"),
            ("exit", spec.sound("exit_sound"), "exit_sound"),
            ("confirm", spec["confirm_key_sound_url"], "confirm_key_sound_url"))}
        mpc_media = {key: self._usable(spec[key], key, failures) for key in MPC_MEDIA} \
            if mpc is None else {}
        legs_audio = self._legs_audio(spec, failures)

        # From here on nothing is refused.
        creating = mpc is None
        if mpc is None:
            assert friendly_name is not None  # _mpc_for_add: a uuid names a live MPC
            mpc = self._create_mpc(t, str(friendly_name), spec, mpc_media)
        p = self._new_participant(t, mpc, spec, checked_label, source, sounds, legs_audio)
        if creating:
            self._mpc_event(ev.MPC_INITIALIZED, mpc, t)
        self._status_event(ev.ADD_PARTICIPANT_INITIATED, p, t, {"RequestUUID": p.request_uuid})
        for purpose, ref, error in failures:
            self._media_failed(mpc, p, t, purpose, ref, error)
        if creating and spec["record"]:
            self._new_recording(mpc, None, "conference", spec["record_file_format"],
                                mpc.recording_callback_url, mpc.recording_callback_method, t)
            self._cue(mpc, mpc.start_recording_audio, t)
        if spec["record_participant_track"]:
            self._new_recording(mpc, p, "participant", spec["record_file_format"],
                                mpc.recording_callback_url, mpc.recording_callback_method, t)
        self._connect(p, t, source)
        self._changed(t)
        return {
            "api_id": self._ids.uuid("api"),
            "calls": [{"to": leg.number, "from": p.from_number, "call_uuid": leg.call_uuid}
                      for leg in p.legs],
            "message": "add participant action initiated",
            "request_uuid": p.request_uuid,
        }

    def _transferred_call(self, spec: AddSpec, mpc: MpcRecord | None) -> ParticipantRecord | None:
        """The live, answered participant whose call `call_uuid` moves here (None: dial)."""
        call_uuid = spec["call_uuid"]
        if call_uuid is None:
            return None
        source = self._calls.get(call_uuid)
        if source is not None:
            self._touch(source.mpc)  # the MPC it leaves
        if source is None:
            raise NotFoundError(f"call_uuid {call_uuid!r} is not a live call of this account")
        if source.answered_ms is None:
            raise ValidationError(f"call {call_uuid!r} is still ringing: only an answered call "
                                  "can be transferred into an MPC")
        if mpc is not None and source.mpc is mpc:
            raise ValidationError(f"call {call_uuid!r} is already in MPC {mpc.name!r}")
        return source

    def _legs_audio(self, spec: AddSpec, failures: Failures) -> list[tuple[str | None, int]]:
        """(voice, duration) of the line at each destination; unusable media noted."""
        out = []
        for number in spec.destinations:
            line = self._lines.get(number, self._default_line)
            audio = self._usable(line.audio, f"the voice of line {number}", failures)
            out.append((audio, 0 if audio is None else self._known_duration(audio)))
        return out

    def _create_mpc(self, t: int, name: str, spec: AddSpec,
                    media: Mapping[str, str | None]) -> MpcRecord:
        mpc_uuid = self._ids.uuid("mpc")
        mpc = MpcRecord(
            uuid=mpc_uuid, name=name, index=len(self._mpcs), created_ms=t,
            recording_name="recording" if not self._mpcs else f"recording:{mpc_uuid}",
            max_participants=spec["max_participants"], max_duration_s=spec["max_duration"],
            record_min_member_count=spec["record_min_member_count"],
            stay_alone=spec["stay_alone"],
            wait_music=media["wait_music_url"], agent_hold_music=media["agent_hold_music_url"],
            customer_hold_music=media["customer_hold_music_url"],
            recording_callback_url=spec["recording_callback_url"],
            recording_callback_method=spec["recording_callback_method"],
            start_recording_audio=media["start_recording_audio"],
            stop_recording_audio=media["stop_recording_audio"],
        )
        self._mpcs.append(mpc)
        self._by_uuid[mpc_uuid] = mpc
        self._live[mpc_uuid] = mpc
        self._live_by_name[name] = mpc
        self._touch(mpc)
        self._set_timer(t + self._frames(spec["max_duration"] * 1000), MAX_DURATION, mpc)
        return mpc

    def _new_participant(self, t: int, mpc: MpcRecord, spec: AddSpec, label: str | None,
                         source: ParticipantRecord | None, sounds: Mapping[str, str | None],
                         legs_audio: list[tuple[str | None, int]]) -> ParticipantRecord:
        """The participant's record, with its legs dialled (or its transferred call's)."""
        member_id = self._ids.member_id()
        if source is not None:
            legs: tuple[Leg, ...] = (Leg(source.to, source.call_uuid, t, t),)
            line_audio = {source.call_uuid: (source.voice, source.voice_duration_ms)}
            from_number, to = source.from_number, source.to
        else:
            legs = tuple(self._dial(t, number, spec.ring_timeouts[i], spec.delays[i])
                         for i, number in enumerate(spec.destinations))
            line_audio = {leg.call_uuid: audio for leg, audio in zip(legs, legs_audio, strict=True)}
            from_number, to = spec["from"] or "", spec["to"] or ""
        winner = winning_leg(legs)
        # One destination: the request is its call, as every recorded body shows (request_uuid
        # == calls[0].call_uuid); several: a request of their own. (Drawn either way, so the
        # ids after it do not shift.)
        request_uuid = self._ids.uuid("request")
        if len(legs) == 1:
            request_uuid = legs[0].call_uuid
        p = ParticipantRecord(
            member_id=member_id, label=label or member_id, mpc=mpc, role=spec.role,
            call_uuid=(winner or legs[0]).call_uuid, legs=legs,
            from_number=from_number, to=to, caller_name=spec["caller_name"] or from_number,
            coach_mode=spec["coach_mode"] if spec.role.routes_as is Role.SUPERVISOR else False,
            mute=spec["mute"], hold=spec["hold"], stay_alone=spec["stay_alone"],
            start_mpc_on_enter=spec["start_mpc_on_enter"],
            end_mpc_on_exit=spec["end_mpc_on_exit"],
            enter_sound=sounds["enter"], exit_sound=sounds["exit"],
            status_callback_url=spec["status_callback_url"],
            status_callback_method=spec["status_callback_method"],
            status_callback_events=spec["status_callback_events"],
            on_exit_action_url=spec["on_exit_action_url"],
            on_exit_action_method=spec["on_exit_action_method"],
            confirm_key=spec["confirm_key"], confirm_sound=sounds["confirm"],
            line_audio=line_audio, added_ms=t, request_uuid=request_uuid,
            call_status_callback_url=spec["call_status_callback_url"],
            call_status_callback_method=spec["call_status_callback_method"],
        )
        mpc.participants.append(p)
        self._participants[member_id] = p
        self._labels[p.label] = p
        return p

    def _connect(self, p: ParticipantRecord, t: int, source: ParticipantRecord | None) -> None:
        """Move the transferred call here, or ring the legs (answering now or later)."""
        if source is not None:
            self._exit(source, t, EXIT_TRANSFERRED)
            p.voice_start_ms = source.voice_start_ms
            self._register_call(p, p.call_uuid)
            self._answer(p, t, p.legs[0], transferred=True)
            return
        for leg in p.legs:
            self._register_call(p, leg.call_uuid)
            self._call_status(p, leg.call_uuid, leg.number, "ringing", t)
        winner = winning_leg(p.legs)
        if winner is not None and winner.answer_at_ms == t:
            self._answer(p, t, winner)
        elif winner is not None and winner.answer_at_ms is not None:
            self._set_timer(winner.answer_at_ms, ANSWER, (p, winner))
        else:
            self._set_timer(max(leg.give_up_at_ms for leg in p.legs), RING_TIMEOUT, p)


def _per_destination(name: str, values: tuple[int, ...], count: int) -> tuple[int, ...]:
    """One value per destination ('<'-separated like `to`); the last one given fills the rest."""
    if len(values) > count:
        raise ValidationError(f"{name} gives {len(values)} values for {count} destination(s); "
                              "give one per destination at most")
    return tuple(values) + (values[-1],) * (count - len(values))


def winning_leg(legs: tuple[Leg, ...]) -> Leg | None:
    """The leg that answers first (ties: the first listed), or None if none answers."""
    answering = [(leg.answer_at_ms, i, leg) for i, leg in enumerate(legs)
                 if leg.answer_at_ms is not None]
    return min(answering)[2] if answering else None
