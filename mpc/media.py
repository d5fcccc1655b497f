"""Media references: from the strings the API carries to decoded audio at the call's rate.

A reference is what a scenario or a request gives: a path relative to the scenario's folder (or the
server's media root), an absolute path, a `file://` URL, an `http(s)://host/path` URL (mapped to
`MEDIA_ROOT/host/path`), `beep:1`/`beep:2`/`none`, or one of the built-in `default:*` musics.
Everything is decoded once and cached; the call model only ever asks for durations.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
from mpcmix.mixer import AudioError, beep, default_music, load_audio

from .errors import MediaError

BUILTIN_MUSIC = {
    "default:wait": "wait",
    "default:customer_hold": "customer_hold",
    "default:agent_hold": "agent_hold",
}


class MediaLibrary:
    """Resolves and decodes media references for one call engine (a scenario or a server account).

    `base_dir` anchors relative paths. `confine` (the server's `--media-root`) refuses any path
    that resolves outside it, symlinks included; `map_http` maps `http(s)://host/path` to
    `base_dir/host/path`.
    """

    def __init__(
        self,
        base_dir: str | Path,
        sample_rate: int,
        *,
        confine: bool = False,
        map_http: bool = False,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.sample_rate = sample_rate
        self.confine = confine
        self.map_http = map_http
        self._cache: dict[str, np.ndarray] = {}

    def resolve(self, ref: str) -> Path:
        """The file a reference names (MediaError if it may not be read or is not a file ref)."""
        if "\x00" in ref:
            raise MediaError(f"media {ref!r}: a NUL byte is not allowed in a path")
        parts = urlsplit(ref)
        scheme = parts.scheme.lower()
        if scheme == "file":
            path = Path(unquote(parts.path))
            if self.confine and not path.is_absolute():
                path = self.base_dir / path
        elif scheme in ("http", "https"):
            if not self.map_http:
                raise MediaError(f"media {ref!r}: network URLs are not fetched; give a path or a "
                                 "file:// URL")
            path = self.base_dir / parts.netloc / unquote(parts.path).lstrip("/")
        elif scheme and len(scheme) > 1:
            raise MediaError(f"media {ref!r}: scheme {scheme!r} is not supported")
        else:
            path = Path(ref)
            if not path.is_absolute():
                path = self.base_dir / path
        if self.confine:
            real = Path(os.path.realpath(path))
            if real != self.base_dir and self.base_dir not in real.parents:
                raise MediaError(f"media {ref!r}: resolves outside the media root")
            return real
        return path

    def load(self, ref: str) -> np.ndarray:
        """The decoded int16 mono samples of `ref` at this library's rate (cached)."""
        pcm = self._cache.get(ref)
        if pcm is not None:
            return pcm
        if ref in ("beep:1", "beep:2"):
            pcm = beep(int(ref[-1]), self.sample_rate)
        elif ref == "none":
            pcm = np.zeros(0, dtype=np.int16)
        elif ref in BUILTIN_MUSIC:
            pcm = default_music(BUILTIN_MUSIC[ref], self.sample_rate)
        else:
            path = self.resolve(ref)
            try:
                pcm = load_audio(path, self.sample_rate)
            except AudioError as exc:
                raise MediaError(f"media {ref!r}: {exc}") from None
        self._cache[ref] = pcm
        return pcm

    def duration_ms(self, ref: str) -> int:
        """How long `ref` plays, in whole milliseconds rounded up (MediaError if unusable)."""
        n = len(self.load(ref))
        return -(-n * 1000 // self.sample_rate)
