"""The media decoder process: decodes what a server's media library asks for, off its process.

Decoding a long file (reading it, mixing it down, resampling it) is seconds of numpy and scipy
work, much of it holding Python's GIL: on a thread of the server it made the real-time ticker's
frames tens of milliseconds late. So a server's `MediaLibrary` runs this module as a child process
(``python -m mpcmix.media.decoder CONFIG``) and talks to it by lines of JSON:

- in, on stdin: ``{"ref": reference, "path": the file it names, "out": where to write}``;
- out, on stdout: ``{"frames": n, "warnings": [...]}`` once ``out`` holds the decoded samples
  (a mono 16-bit WAV at the library's rate, written beside it and renamed into place), or
  ``{"error": message}``.

It decodes with a `MediaLibrary` of its own, exactly as a render does (`load_audio`, XML
documents), so the samples a server plays equal an offline render's. It ends when its stdin
closes (its server stopped, however it stopped).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def serve(config: dict[str, Any]) -> None:
    """Answer requests from stdin until it closes (see the module docstring)."""
    import soundfile as sf
    from mpcmix.errors import MediaError

    from .library import MediaLibrary

    library = MediaLibrary(config["base_dir"], int(config["sample_rate"]),
                           confine=bool(config["confine"]), map_http=bool(config["map_http"]),
                           cache_bytes=int(config["cache_bytes"]))
    for line in sys.stdin:
        try:
            request = json.loads(line)
            ref, out = str(request["ref"]), str(request["out"])
            path = None if request.get("path") is None else Path(request["path"])
            library.warnings.clear()
            pcm = library._decode_uncached(ref, path)
            if len(pcm) == 0:
                raise MediaError(f"media {ref!r}: it holds no audio")
            temporary = out + ".partial"
            sf.write(temporary, pcm, library.sample_rate, subtype="PCM_16", format="WAV")
            os.replace(temporary, out)
            reply: dict[str, Any] = {"frames": len(pcm), "warnings": list(library.warnings)}
        except MediaError as exc:
            reply = {"error": exc.message}
        except Exception as exc:  # whatever a file does to the decoder is that file's failure
            reply = {"error": f"media {line.strip()[:200]}: cannot be decoded "
                              f"({type(exc).__name__}: {exc})"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


#: How much less the decoder process counts for the scheduler than its server (nice): on a busy
#: machine the server's ticks get the processor first.
NICENESS = 10

if __name__ == "__main__":
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    serve(json.loads(sys.argv[1]))
