"""What the call model hands to routing and the mixer: frozen snapshots, no audio.

`CallModel.mix_state()` returns a `MixState`: one `routing.CallState` per live MPC, the
`SourceSpec` of every source those states name, and the `RecordingSpec` of every recording that
has not finished. The model never touches audio: it only needs how long a medium plays, which a
`MediaCatalog` tells it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from operator import attrgetter
from typing import Any, Literal, Protocol

from mpcmix.routing import CallState

#: Built-in cues the model times itself (the mixer synthesises them): one short beep, two beeps.
BEEP_DURATION_MS: dict[str, int] = {"beep:1": 200, "beep:2": 500}

#: Built-in music, used where the MPC gives no URL (or, in non-strict mode, a broken one).
DEFAULT_WAIT_MUSIC = "default:wait"
DEFAULT_CUSTOMER_HOLD_MUSIC = "default:customer_hold"
DEFAULT_AGENT_HOLD_MUSIC = "default:agent_hold"

RecordingTrack = Literal["conference", "participant", "all"]

#: A line's audio ``live:<tag>``: its voice is pushed live from outside (a stream line's bot, a
#: browser's microphone), through the engine's live ports (`mpcmix.engine.live`). It has no
#: length: the model never ends it by itself.
LIVE_PREFIX = "live:"


def is_live(ref: str | None) -> bool:
    """Whether the media reference `ref` is a live voice (``live:<tag>``)."""
    return ref is not None and ref.startswith(LIVE_PREFIX)


@dataclass(frozen=True)
class Line:
    """What the phone at one number does when called (a scenario's `lines`, the server's --lines).

    `audio` is the media reference of its voice (path, file:// or http URL), None for silence,
    ``live:<tag>`` for a voice pushed live (`is_live`).
    `answer_after_ms` is how long it rings before answering; None means it never answers (it
    rings until the participant's `ring_timeout`).
    """

    audio: str | None = None
    answer_after_ms: int | None = 0


class MediaCatalog(Protocol):
    """Tells the call model how long a medium plays, without the model touching audio."""

    def duration_ms(self, ref: str) -> int:
        """Length of `ref` in milliseconds; raises `mpcmix.errors.MediaError` if it is unusable."""
        ...


@dataclass(frozen=True)
class SourceSpec:
    """One source column of the routing matrix, as the mixer must build it.

    `name` is the routing label (``voice:<label>``, ``wait_music:<label>``,
    ``hold_music:<label>``, ``cue:<n>``, ``play:<n>``). `media` is the raw reference (a path or
    URL, ``beep:1``/``beep:2``, ``default:wait``/``default:customer_hold``/``default:agent_hold``)
    or None for silence. `start_ms` is the timeline time of the medium's first sample: the answer
    time for a voice, the start of this episode for music (music restarts at every hold or wait
    episode), the trigger time for a cue or a Play. `loop` is true for music only.
    """

    name: str
    media: str | None
    start_ms: int
    loop: bool


@dataclass(frozen=True)
class RecordingSpec:
    """A recording that has not finished, and whether bytes are being written now.

    `track` is ``conference`` (the MPC's recording row, `CallState.recording_name`),
    ``participant`` (mono: `member`'s voice as it enters the conference) or ``all`` (two channels:
    `member`'s voice, then what `member` hears). A participant recording of record_track_type
    ``both`` is two specs sharing one `recording_id`. `member` is the participant's label (None
    for conference recordings). `capturing` is true while the file grows: started, its start
    condition reached at least once since (record_min_member_count participants in conference, or
    the participant in the MPC), not paused, not stopped, MPC not ended. A stopped recording
    leaves the snapshot: its file is complete.
    """

    recording_id: str
    mpc_uuid: str
    member: str | None
    track: RecordingTrack
    file_format: Literal["mp3", "wav"]
    capturing: bool


@dataclass(frozen=True, slots=True)
class MpcMix:
    """One live MPC's part of a `MixState` (the same object while the MPC does not change)."""

    call: CallState
    sources: tuple[SourceSpec, ...]  # the sources `call` names
    recordings: tuple[RecordingSpec, ...]  # its recordings not stopped
    created_ms: int
    speakers: tuple[str, ...]  # its participants subscribed to participant-speak-events
    until: int  # the part holds while now < until (a cue or Play ending, music unsettled)
    order: int = 0  # creation order within the account (`MixState.in_order`)


_CALL, _SOURCES, _RECORDINGS, _CREATED, _SPEAKERS = (
    attrgetter(name) for name in ("call", "sources", "recordings", "created_ms", "speakers"))


class MixState:
    """Everything routing and the mixer need at one instant.

    `parts` holds one `MpcMix` per MPC that has not ended, by uuid, in creation order: its
    `CallState` (every participant included, ringing and exited ones too, so each listener row
    lives as long as its MPC), the sources it names, its recordings. `elsewhere` are the
    recordings of ended MPCs that have not stopped yet. The flat views (`calls`, `sources`,
    `recordings`, ...) are made when first asked: a reader that follows the model's changes
    (`CallModel.mix_changes_since`) looks at the parts it needs, so a new snapshot costs no step
    per MPC. A snapshot never changes after it is made.
    """

    __slots__ = ("__dict__", "elsewhere", "parts", "serial")

    def __init__(self, parts: Mapping[str, MpcMix], elsewhere: tuple[RecordingSpec, ...] = (),
                 serial: int = 0) -> None:
        self.parts = parts
        self.elsewhere = elsewhere
        #: The model's number for this snapshot (`CallModel.mix_changes_since` tells which MPCs
        #: changed since another); 0: not numbered.
        self.serial = serial

    @cached_property
    def calls(self) -> tuple[CallState, ...]:
        """One `CallState` per live MPC, in creation order."""
        return tuple(map(_CALL, self.parts.values()))

    @cached_property
    def call_sources(self) -> tuple[tuple[SourceSpec, ...], ...]:
        """``call_sources[i]``: the sources `calls[i]` names."""
        return tuple(map(_SOURCES, self.parts.values()))

    @cached_property
    def sources(self) -> tuple[SourceSpec, ...]:
        """Every source the calls name."""
        return tuple(chain.from_iterable(self.call_sources))

    @cached_property
    def recordings(self) -> tuple[RecordingSpec, ...]:
        """Every recording not stopped: the live MPCs', in order, then `elsewhere`."""
        return tuple(chain.from_iterable(map(_RECORDINGS, self.parts.values()))) + self.elsewhere

    @cached_property
    def mpc_uuids(self) -> tuple[str, ...]:
        """``mpc_uuids[i]``: the uuid of `calls[i]`."""
        return tuple(self.parts)

    @cached_property
    def mpc_created_ms(self) -> tuple[int, ...]:
        """``mpc_created_ms[i]``: when `calls[i]` was created."""
        return tuple(map(_CREATED, self.parts.values()))

    @cached_property
    def speakers(self) -> frozenset[str]:
        """The participants (labels) someone receives speak events of (subscribed to
        participant-speak-events): only their voices need speech detection."""
        return frozenset(chain.from_iterable(map(_SPEAKERS, self.parts.values())))

    def in_order(self, uuids: Iterable[str]) -> list[str]:
        """Those of `uuids` that are live here, in creation order."""
        parts = self.parts
        return sorted((u for u in uuids if u in parts), key=lambda u: parts[u].order)

    def source(self, name: str) -> SourceSpec:
        """The source labelled `name` (KeyError if there is none)."""
        for spec in self.sources:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def _key(self) -> tuple[Any, ...]:
        return (self.calls, self.sources, self.recordings, self.mpc_uuids, self.mpc_created_ms,
                self.speakers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MixState):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"MixState(serial={self.serial}, calls={len(self.parts)}, "
                f"recordings={len(self.recordings)})")
