"""Live media: the provider's audio-stream protocol, so a bot joins an emulated call unchanged.

- `codec`: G.711 μ-law as numpy tables, L16, `Resampler` (to and from the call's rate);
- `protocol`: `StreamSpec` (a stream's settings and their documented rules) and the JSON
  events of a stream's WebSocket (``start``, ``media``, ``playedStream``, ``clearedAudio``,
  ``stop``; ``playAudio``, ``checkpoint``, ``clearAudio``);
- `session`: `StreamSession`, one stream on an asyncio loop: a participant's mix out (a
  `MixFeed`), its voice in (a `LiveInput`), never on the mixing path.

Imports the mixer's live ports and nothing above the model's layer: the server wires a session
to an engine's `LiveHub` (docs/live-media.md).
"""

from __future__ import annotations

from .protocol import CONTENT_TYPES, StreamSpec, stream_spec

__all__ = ["CONTENT_TYPES", "StreamSpec", "stream_spec"]
