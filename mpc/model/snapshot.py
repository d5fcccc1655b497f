"""What the call model hands to routing and the mixer: frozen snapshots, no audio.

`CallModel.mix_state()` returns a `MixState`: one `routing.CallState` per live MPC, the
`SourceSpec` of every source those states name, and the `RecordingSpec` of every recording that
has not finished. The model never touches audio: it only needs how long a medium plays, which a
`MediaCatalog` tells it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

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


@dataclass(frozen=True)
class MixState:
    """Everything routing and the mixer need at one instant.

    `calls` holds one `CallState` per MPC that has not ended (creation order), every participant
    included (ringing and exited ones too, so each listener row lives as long as its MPC);
    `mpc_uuids[i]` is the uuid of `calls[i]`, `mpc_created_ms[i]` its creation time. `sources`
    describes every source the calls name.
    """

    calls: tuple[CallState, ...]
    sources: tuple[SourceSpec, ...]
    recordings: tuple[RecordingSpec, ...]
    mpc_uuids: tuple[str, ...] = field(default=())
    mpc_created_ms: tuple[int, ...] = field(default=())  # when each of `calls` was created
    #: The participants (labels) someone receives speak events of (subscribed to
    #: participant-speak-events): only their voices need speech detection. None: everyone.
    speakers: frozenset[str] | None = None
    #: `sources` cut by call: ``call_sources[i]`` the sources `calls[i]` names (the same tuple
    #: object while that MPC does not change). Empty: not given.
    call_sources: tuple[tuple[SourceSpec, ...], ...] = field(default=())
    #: The model's number for this snapshot (`CallModel.mix_changes_since` tells which MPCs
    #: changed since another); 0: not numbered (a snapshot made by hand).
    serial: int = field(default=0, compare=False)

    def source(self, name: str) -> SourceSpec:
        """The source labelled `name` (KeyError if there is none)."""
        for spec in self.sources:
            if spec.name == name:
                return spec
        raise KeyError(name)
