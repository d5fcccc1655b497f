"""Media: from the references the API carries to decoded audio at the call's rate.

`MediaLibrary` resolves a reference (a path, a `file://` or mapped `http(s)://` URL, a built-in
sound) to a file, decodes it once (or streams a plain WAV from disk) and tells the call model how
long it plays (`duration_ms`, its `MediaCatalog`). XML documents of `Play`, `Speak` and `Wait`
are rendered. Imports the mixer's decoding and nothing of the call model.
"""

from __future__ import annotations

from .library import BUILTIN_MUSIC, MediaLibrary

__all__ = ["BUILTIN_MUSIC", "MediaLibrary"]
