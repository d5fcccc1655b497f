"""The call engine: a call model, routing and the mixer, advanced through time (and its files).

- `CallEngine` (mpcmix.engine.callengine): renders a call model's MPCs up to a time, block by
  block or tick by tick, into listener streams and recordings (`Outputs`), with hooks for what
  watches a render (`tap`, `on_span`);
- `speech`: ParticipantSpeakStart/Stop from the voices as they enter the conference;
- `Engine`: the typed boundary the server's runtime drives (CallEngine is the one implementation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from mpcmix.model import CallModel, Event

from .callengine import BLOCK_SAMPLES, COST_PARTS, CallEngine, SpanHook, Tap, render_memory_bytes, warm_up
from .live import LiveHub
from .outputs import Outputs
from .speech import SPEAK_HANGOVER_MS, SPEAK_THRESHOLD_DBFS, SpeechTracker


class Engine(Protocol):
    """What a driver of a call engine uses (the server's `AccountRuntime`, a scenario driver).

    Operations go to `model` at the engine's `now_ms` (a frame boundary), then `settle`; time
    moves with `advance_to`. Both return the callbacks produced, in order.
    """

    model: CallModel
    now_ms: int
    closed: bool
    live: LiveHub
    costs: dict[str, float]  # CPU seconds of the rendering thread by part (`COST_PARTS`)

    def settle(self, now_ms: int) -> list[Event]: ...

    def advance_to(self, target_ms: int) -> list[Event]: ...

    def drain_events(self) -> list[Event]: ...

    def listener_path(self, label: str) -> Path: ...

    def recording_paths(self, recording_id: str) -> list[Path]: ...

    def is_recording_complete(self, recording_id: str) -> bool: ...

    def update_headers(self, *, wait: bool = False) -> None: ...

    def close(self) -> None: ...


__all__ = [
    "BLOCK_SAMPLES",
    "COST_PARTS",
    "SPEAK_HANGOVER_MS",
    "SPEAK_THRESHOLD_DBFS",
    "CallEngine",
    "Engine",
    "LiveHub",
    "Outputs",
    "SpanHook",
    "SpeechTracker",
    "Tap",
    "render_memory_bytes",
    "warm_up",
]
