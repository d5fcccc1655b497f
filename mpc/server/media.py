"""The server's media library: every file it reads lies under `--media-root`.

Relative paths and `file://` URLs resolve under the root, `http(s)://host/path` maps to
`MEDIA_ROOT/host/path`, and nothing that resolves outside the root (`..`, `%2e%2e`, absolute
paths, symlinks leading out, NUL bytes) is read: `mpcmix.media.MediaLibrary` with `confine=True`
refuses it with a MediaError, which the call model treats as missing media. Nothing is fetched
from the network. Without a media root, the library is anchored in an empty folder of the data
directory, so only the built-in sounds play.

Decoding runs in the library's decoder process, never on a request's or the ticker's path (nor
on any thread of the server: it would hold the GIL): a medium not decoded yet is accepted at once
and heard once ready (the runtime tells the call model, `AccountRuntime.settle_media`). Decoded
audio is cached by file (its real path, mtime and size) in ``DATA/media-cache`` up to
`media_cache_mb`, shared by all accounts, and streamed from there.
"""

from __future__ import annotations

from pathlib import Path

from mpcmix.media import MediaLibrary

from .config import ServerConfig


def server_media(config: ServerConfig, data_dir: Path) -> MediaLibrary:
    """A confined MediaLibrary for all accounts of the server (decoded audio is shared)."""
    root = config.media_root
    if root is None:
        root = data_dir / "no-media-root"
        root.mkdir(parents=True, exist_ok=True)
    return MediaLibrary(root, config.sample_rate, confine=True, map_http=True,
                        cache_bytes=config.media_cache_mb << 20,
                        cache_dir=data_dir / "media-cache")
