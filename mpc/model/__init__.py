"""The call model: one account's Multiparty Calls, their lifecycle and rules, and the API's shapes.

- `CallModel` (mpcmix.model.callmodel): every API operation, the far end's actions, and time;
- `params`: the one table of operations and parameters (parsing, the server, OpenAPI, docs);
- `records`, `serialize`: the model's records, and the API's JSON objects made from them;
- `events`: the callbacks' names and `Event`; `ids`: deterministic ids;
- `snapshot`: `MixState` and its parts, what routing and the mixer are handed.

Imports routing (the state it hands over) and nothing above it: no audio, no files, no clock.
"""

from __future__ import annotations

from .callmodel import CallModel
from .events import Event
from .snapshot import (
    BEEP_DURATION_MS,
    DEFAULT_AGENT_HOLD_MUSIC,
    DEFAULT_CUSTOMER_HOLD_MUSIC,
    DEFAULT_WAIT_MUSIC,
    LIVE_PREFIX,
    Line,
    MediaCatalog,
    MixState,
    MpcMix,
    RecordingSpec,
    SourceSpec,
    is_live,
)
from .state import DEFAULT_EPOCH, DEFAULT_LINE, DEFAULT_RECORDING_URL_BASE

__all__ = [
    "BEEP_DURATION_MS",
    "DEFAULT_AGENT_HOLD_MUSIC",
    "DEFAULT_CUSTOMER_HOLD_MUSIC",
    "DEFAULT_EPOCH",
    "DEFAULT_LINE",
    "DEFAULT_RECORDING_URL_BASE",
    "DEFAULT_WAIT_MUSIC",
    "LIVE_PREFIX",
    "CallModel",
    "Event",
    "Line",
    "MediaCatalog",
    "MixState",
    "MpcMix",
    "RecordingSpec",
    "SourceSpec",
    "is_live",
]
