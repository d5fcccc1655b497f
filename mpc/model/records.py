"""The call model's own mutable records of MPCs, participants, recordings, cues and Plays.

These never leave `mpc/`: the outside sees them only through the API's JSON (`serialize`) and the
frozen `MixState` snapshot. Once an MPC has ended and its boundary is settled, the model swaps its
records for an `EndedMpc` and `EndedParticipant`s (compact, immutable). Times are timeline
milliseconds (frame boundaries); None means "not yet" (or never).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from mpcmix.routing import CallPhase, MpcStatus, Role

# Termination causes and codes (the API's list filter names all four).
NO_ACTIVE_PARTICIPANTS = ("No Active Participants", 1000)
STAY_ALONE_NOT_PERMITTED = ("Stay Alone Not Permitted", 1010)
MAX_DURATION_REACHED = ("Max Duration Reached", 2000)
HANGUP_API_TRIGGERED = ("Hangup API Triggered", 3000)

# Participant exit causes.
EXIT_HANGUP = "Participant Call Hangup"
EXIT_KICKED = "Kicked Out of Multiparty Call"
EXIT_MPC_ENDED = "Multiparty Call Ended"
EXIT_TRANSFERRED = "Participant Call Transferred"


@dataclass(frozen=True)
class Leg:
    """One destination dialled for a participant (`to` may list several, for agents)."""

    number: str
    call_uuid: str
    answer_at_ms: int | None  # None: this leg never answers before its ring_timeout
    give_up_at_ms: int


@dataclass(eq=False)
class MpcRecord:
    """One MPC and its settings (from the add_participant call that created it)."""

    uuid: str
    name: str
    index: int  # creation order within the account
    created_ms: int
    recording_name: str
    max_participants: int
    max_duration_s: int
    record_min_member_count: int
    stay_alone: bool
    wait_music: str | None
    agent_hold_music: str | None
    customer_hold_music: str | None
    recording_callback_url: str | None
    recording_callback_method: str
    start_recording_audio: str | None
    stop_recording_audio: str | None
    status: MpcStatus = MpcStatus.INITIALIZED
    start_ms: int | None = None
    end_ms: int | None = None
    termination_cause: str | None = None
    termination_cause_code: int | None = None
    participants: list[ParticipantRecord] = field(default_factory=list)
    recording: RecordingRecord | None = None  # the conference recording, while not stopped
    cues: list[CueRecord] = field(default_factory=list)
    plays: list[PlayRecord] = field(default_factory=list)
    sequence: int = 0  # SequenceNumber of the last event of this MPC

    @property
    def is_live(self) -> bool:
        """Not Ended: found by name, takes operations."""
        return self.status is not MpcStatus.ENDED

    def alive(self) -> list[ParticipantRecord]:
        """Participants that have not exited (ringing ones included)."""
        return [p for p in self.participants if p.exited_ms is None]

    def present(self) -> list[ParticipantRecord]:
        """Participants that have entered and not exited (held and muted ones included)."""
        return [p for p in self.participants if p.is_entered]


@dataclass(eq=False)
class ParticipantRecord:
    """One participant: its call leg, its settings and its history."""

    member_id: str
    label: str
    mpc: MpcRecord
    role: Role
    call_uuid: str
    legs: tuple[Leg, ...]
    from_number: str
    to: str
    caller_name: str
    coach_mode: bool
    mute: bool
    hold: bool
    stay_alone: bool
    start_mpc_on_enter: bool
    end_mpc_on_exit: bool
    enter_sound: str | None  # None: `none` (or a broken URL in non-strict mode)
    exit_sound: str | None
    status_callback_url: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]
    on_exit_action_url: str | None
    on_exit_action_method: str
    confirm_key: str | None
    confirm_sound: str | None
    line_audio: dict[str, tuple[str | None, int]]  # (voice, its length ms) of each leg's line
    added_ms: int
    request_uuid: str
    voice: str | None = None
    voice_duration_ms: int = 0
    voice_start_ms: int | None = None  # answer time of the call (kept across a transfer)
    answered_ms: int | None = None  # when its call joined this MPC's leg (answer or transfer)
    joined_ms: int | None = None  # when it entered the MPC (join_time)
    exited_ms: int | None = None
    exit_cause: str | None = None
    had_company: bool = False  # another participant was present with it at some settle
    music: tuple[str, str | None] | None = None  # (kind, media) of the current music episode
    music_start_ms: int = 0
    recordings: dict[str, RecordingRecord] = field(default_factory=dict)  # by track, not stopped
    call_status_callback_url: str | None = None  # the call leg's own status callbacks
    call_status_callback_method: str = "POST"

    @property
    def phase(self) -> CallPhase:
        """Ringing, answered or exited, as routing sees its call."""
        if self.exited_ms is not None:
            return CallPhase.EXITED
        if self.answered_ms is not None:
            return CallPhase.ANSWERED
        return CallPhase.RINGING

    @property
    def is_entered(self) -> bool:
        """In the MPC: joined (answered and, with a confirm_key, confirmed) and not exited."""
        return self.joined_ms is not None and self.exited_ms is None

    @property
    def is_awaiting_confirm(self) -> bool:
        """Answered, but its confirm_key not pressed yet."""
        return self.answered_ms is not None and self.joined_ms is None and self.exited_ms is None

    @property
    def is_supervisor(self) -> bool:
        """coach_mode applies to it."""
        return self.role.routes_as is Role.SUPERVISOR


@dataclass(eq=False)
class RecordingRecord:
    """One recording track: the MPC's, or one track of a participant recording."""

    recording_id: str
    mpc: MpcRecord
    member: ParticipantRecord | None
    track: str  # conference | participant | all
    file_format: str
    callback_url: str | None
    callback_method: str
    started_ms: int
    url: str
    state: str = "recording"  # recording | paused | stopped
    begun_ms: int | None = None  # when the file began (its start condition was first met)
    segment_start_ms: int | None = None  # start of the current captured span, while capturing
    captured_ms: int = 0  # captured before the current span
    end_ms: int | None = None
    seq: int = 0  # its place among the recordings started (the model's order of them)

    @property
    def is_capturing(self) -> bool:
        """The file grows now."""
        return self.state == "recording" and self.begun_ms is not None

    def duration_ms(self, now_ms: int) -> int:
        """Captured time so far, paused spans left out."""
        running = 0
        if self.is_capturing and self.segment_start_ms is not None:
            running = now_ms - self.segment_start_ms
        return self.captured_ms + running


@dataclass(eq=False)
class CueRecord:
    """An enter or exit sound (or a recording start/stop sound) playing into one MPC."""

    name: str
    media: str
    start_ms: int
    end_ms: int


@dataclass(eq=False)
class PlayRecord:
    """A Play (or a Speak: text-to-speech played the same way) aimed at some members of one MPC.

    One whose medium could not be loaded is kept, not active, so that stopping it answers as
    stopping a Play that has ended."""

    name: str
    mpc: MpcRecord
    form: str | frozenset[str]  # "all" or the set of member ids it was started with
    targets: tuple[ParticipantRecord, ...]
    url: str
    start_ms: int
    end_ms: int
    active: bool = True
    kind: str = "play"  # play | speak


# --- ended MPCs ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, slots=True)
class EndedMpc:
    """An MPC once it has ended: immutable, and only what look-ups and the list need.

    A long-running server keeps every MPC it ever had (a uuid finds an ended MPC for good, as in
    the API), so an ended one is kept compact: its filter fields, and its Get MPC object and every
    participant's Get Participant object serialised once (`packed`: zlib-compressed JSON). Its
    live state (participant records, call legs, timers, cues, Plays, recordings) is released.
    """

    uuid: str
    name: str
    index: int
    created_ms: int
    end_ms: int
    termination_cause: str
    termination_cause_code: int
    recording_name: str
    packed: bytes  # zlib(JSON [mpc object, [participant object, ...]]), objects without api_id

    status = MpcStatus.ENDED
    is_live = False

    @classmethod
    def pack(cls, mpc: MpcRecord, mpc_object: dict[str, Any],
             participant_objects: list[dict[str, Any]]) -> EndedMpc:
        assert mpc.end_ms is not None and mpc.termination_cause is not None
        assert mpc.termination_cause_code is not None
        text = json.dumps([mpc_object, participant_objects], separators=(",", ":"))
        return cls(mpc.uuid, mpc.name, mpc.index, mpc.created_ms, mpc.end_ms,
                   mpc.termination_cause, mpc.termination_cause_code, mpc.recording_name,
                   zlib.compress(text.encode("utf-8")))

    @classmethod
    def from_objects(cls, *, uuid: str, name: str, index: int, created_ms: int, end_ms: int,
                     termination_cause: str, termination_cause_code: int, recording_name: str,
                     mpc_object: dict[str, Any],
                     participant_objects: list[dict[str, Any]]) -> EndedMpc:
        """An ended MPC from its objects as Get answered them (a record of an earlier run)."""
        text = json.dumps([mpc_object, participant_objects], separators=(",", ":"))
        return cls(uuid, name, index, created_ms, end_ms, termination_cause,
                   termination_cause_code, recording_name, zlib.compress(text.encode("utf-8")))

    def objects(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(Get MPC object, [Get Participant object, ...] in the order added): fresh copies."""
        mpc_object, participants = json.loads(zlib.decompress(self.packed))
        return mpc_object, participants


@dataclass(frozen=True, eq=False, slots=True)
class EndedParticipant:
    """A participant of an ended MPC: what finds it (member_id, label, call_uuid) and what its
    far-end actions and the render's end need; its API object is in its MPC's `packed`."""

    member_id: str
    label: str
    mpc: EndedMpc
    position: int  # in the MPC's participant objects
    call_uuid: str
    exited_ms: int
    exit_cause: str
    voice_start_ms: int | None
    voice_duration_ms: int
