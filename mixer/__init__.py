"""How it sounds: numpy kernels that render every listener's stream of a call, exactly.

Sources are decoded once to int16 (`load_audio`), placed on the call's sample timeline
(`OneShot`, `Looped`, `SILENCE`), mixed by a routing matrix in exact integer-valued float32
(`Mixer.mix`) and passed through one `Limiter` per listener (`Mixer.render`); `StreamWriter`
streams the int16 result to WAV or MP3. `LiveMixer` advances many calls at once in one
vectorised step, by a frame per tick or by long blocks (the mixer the call engine drives, for
renders and the server alike), equal to `Mixer.render` bit for bit.

>>> import numpy as np
>>> from mpcmix.mixer import Mixer, OneShot
>>> from mpcmix.routing import RoutingMatrix
>>> m = RoutingMatrix(("a", "b"), ("voice:a", "voice:b"), ((0, 1), (1, 0)))
>>> srcs = {"voice:a": OneShot(np.full(4, 100, np.int16), 0),
...         "voice:b": OneShot(np.full(4, -7, np.int16), 2)}
>>> Mixer(16000).render(m, srcs, 0, 4)
array([[  0,   0,  -7,  -7],
       [100, 100, 100, 100]], dtype=int16)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import mp3file, wavfile
from .decode import AudioError, load_audio, to_audiosegment
from .engine import Mixer
from .limiter import Limiter
from .pcmfile import PcmFile, open_pcm
from .sounds import beep, default_music
from .sources import SILENCE, Looped, OneShot, Source
from .writer import StreamWriter, WriteBehind

if TYPE_CHECKING:
    from .live import LiveMixer


def __getattr__(name: str) -> type[LiveMixer]:  # PEP 562: the live mixer only for those who use it
    if name == "LiveMixer":
        from .live import LiveMixer

        return LiveMixer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SILENCE",
    "AudioError",
    "Limiter",
    "LiveMixer",
    "Looped",
    "Mixer",
    "OneShot",
    "PcmFile",
    "Source",
    "StreamWriter",
    "WriteBehind",
    "beep",
    "default_music",
    "load_audio",
    "mp3file",
    "open_pcm",
    "to_audiosegment",
    "wavfile",
]
