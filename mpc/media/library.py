"""Media references: from the strings the API carries to decoded audio at the call's rate.

A reference is what a scenario or a request gives: a path relative to the scenario's folder (or the
server's media root), an absolute path, a `file://` URL, an `http(s)://host/path` URL (mapped to
`MEDIA_ROOT/host/path`), `beep:1`/`beep:2`/`none`, or one of the built-in `default:*` musics.
The call model only ever asks for durations.

What a reference names is found anew each time (`resolve`): the real path of a regular file (a
FIFO, a device or a folder is refused before anything opens it, so nothing blocks on one). The
cache is keyed by that file, its modification time and size, not by the reference's spelling
(``music/./x.wav`` and ``music/x.wav`` share one entry; a file replaced on disk is decoded
anew), and bounded: decoded audio up to `cache_bytes` bytes, files streamed from disk up to
`MAX_OPEN_FILES`, failures up to `MAX_FAILURES`, the least recently used going first. A medium
whose decoded samples alone would exceed `cache_bytes` is refused, naming the bound.

Decoding runs on the caller's thread (renders), or, for the server (`cache_dir` given), in a
child process (mpcmix.media.decoder: decoding holds Python's GIL for long stretches, which on
any thread of the server would make its real-time ticks late): then `duration_ms` and `open`
never decode on the caller's thread; a medium not ready yet raises `MediaPending` (its decode is
queued), `status` says what became of it, and `wait_idle` waits until every queued decode is
done. The child writes the decoded samples to a WAV in `cache_dir`, which is then streamed from
disk like any plain WAV (memory does not grow with it; the files are bounded by `cache_bytes`,
the least recently used deleted first). Reading a file's header (a plain WAV streamed from
disk, `open_pcm`) is not decoding: it happens on the caller's thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict, deque
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
from mpcmix.errors import MediaError, MediaPending
from mpcmix.mixer import AudioError, PcmFile, beep, default_music, load_audio, open_pcm

BUILTIN_MUSIC = {
    "default:wait": "wait",
    "default:customer_hold": "customer_hold",
    "default:agent_hold": "agent_hold",
}
#: References that name no file.
BUILTIN = frozenset({"beep:1", "beep:2", "none", *BUILTIN_MUSIC})

#: Decoded audio the cache keeps, in bytes, by default (a library's `cache_bytes`).
DEFAULT_CACHE_BYTES = 256 << 20
#: Files streamed from disk (`PcmFile`, one descriptor each) the cache keeps open at most.
MAX_OPEN_FILES = 256
#: Failures remembered (so a broken file is not decoded again at every request).
MAX_FAILURES = 1024

#: A cache key: ("builtin", ref, 0, 0) or (real path, st_mtime_ns, st_size, 0); the last field
#: tells the decoded samples (0) from a file streamed from disk (1).
Key = tuple[str, str | int, int, int]


#: How long a path's real path (links followed) is remembered, in seconds.
REALPATH_TTL_S = 1.0


class MediaLibrary:
    """Resolves and decodes media references for call engines (a scenario, or a server's
    accounts: one library, shared).

    `base_dir` anchors relative paths. `confine` (the server's `--media-root`) refuses any path
    that resolves outside it, symlinks included; `map_http` maps `http(s)://host/path` to
    `base_dir/host/path`. `cache_bytes` bounds the decoded audio kept. With `cache_dir`, decodes in
    a child process into `cache_dir` (see the module docstring).
    """

    def __init__(
        self,
        base_dir: str | Path,
        sample_rate: int,
        *,
        confine: bool = False,
        map_http: bool = False,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.sample_rate = sample_rate
        self.confine = confine
        self.map_http = map_http
        self.cache_bytes = cache_bytes
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self._decoded: OrderedDict[Key, np.ndarray] = OrderedDict()
        self._decoded_bytes = 0
        self._streamed: OrderedDict[Key, PcmFile] = OrderedDict()
        self._failed: OrderedDict[Key, str] = OrderedDict()
        self._decoding: OrderedDict[Key, None] = OrderedDict()  # files open_pcm cannot stream
        #: Moves whenever a decode ends (ready or failed): who waits for media asks again then.
        self.version = 0
        self._loading: set[str] = set()  # XML documents being rendered (a loop refuses)
        self._on_disk: OrderedDict[Key, tuple[PcmFile, Path]] = OrderedDict()  # cache_dir's
        self._on_disk_bytes = 0
        self._real: dict[Path, tuple[float, Path]] = {}  # path -> (when, its real path)
        self._decoder: _Decoder | None = None
        if cache_dir is not None:
            self._decoder = _Decoder(self, Path(cache_dir))

    # -- resolving -----------------------------------------------------------------------------

    def resolve(self, ref: str) -> Path:
        """The file a reference names (MediaError if it may not be read or is not a file ref).

        Confined, the path is the real one (symlinks followed) and must lie under the root. A
        path that exists must be a regular file: a FIFO, a device or a folder is refused here,
        before anything opens it."""
        if "\x00" in ref:
            raise MediaError(f"media {ref!r}: a NUL byte is not allowed in a path")
        try:
            parts = urlsplit(ref)
        except ValueError as exc:  # e.g. an unbalanced "[" read as an IPv6 host
            raise MediaError(f"media {ref!r}: not a path or URL ({exc})") from None
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
        if "\x00" in str(path):  # %00 in a URL
            raise MediaError(f"media {ref!r}: a NUL byte is not allowed in a path")
        if self.confine:
            real = self._real_path(path)
            if real != self.base_dir and self.base_dir not in real.parents:
                raise MediaError(f"media {ref!r}: resolves outside the media root")
            path = real
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return path  # missing or unreadable: the decoder says which, naming the file
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO, a socket or a device"
            raise MediaError(f"media {ref!r}: {path} is {kind}, not a regular file; only regular "
                             "files are opened")
        return path

    def _real_path(self, path: Path) -> Path:
        """``os.path.realpath(path)``, remembered for `REALPATH_TTL_S` (following every link of a
        path is a system call per folder of it, paid by every participant that plays it; a
        link changed on disk is followed anew within that time)."""
        now = time.monotonic()
        got = self._real.get(path)
        if got is not None and now - got[0] < REALPATH_TTL_S:
            return got[1]
        real = Path(os.path.realpath(path))
        if len(self._real) >= 4096:
            self._real.clear()
        self._real[path] = (now, real)
        return real

    def _key(self, ref: str) -> tuple[Key, Path | None]:
        """The cache key of `ref` now, and its file (None for a built-in)."""
        if ref in BUILTIN:
            return ("builtin", ref, 0, 0), None
        if ref.startswith(SPEAK_PREFIX):
            return ("speak", ref, 0, 0), None
        path = self.resolve(ref)
        try:
            st = os.stat(path)
        except OSError:
            return (str(path), 0, -1, 0), path
        return (str(path), st.st_mtime_ns, st.st_size, 0), path

    def cached_files(self) -> list[str]:
        """The real paths of the files whose audio the cache holds (decoded or streamed)."""
        with self._lock:
            return sorted({str(k[0]) for k in (*self._decoded, *self._streamed, *self._on_disk)
                           if k[0] not in ("builtin", "speak")})

    def cached_bytes(self) -> int:
        """Bytes of decoded audio the cache holds, in memory and in `cache_dir` (each at most
        `cache_bytes`)."""
        with self._lock:
            return self._decoded_bytes + self._on_disk_bytes

    # -- what callers ask for ------------------------------------------------------------------

    def load(self, ref: str) -> np.ndarray:
        """The decoded int16 mono samples of `ref` at this library's rate, in memory (cached;
        with a decoder process, MediaPending until they are ready)."""
        pcm = self.open(ref)
        return pcm if isinstance(pcm, np.ndarray) else pcm[0:len(pcm)]

    def open(self, ref: str) -> np.ndarray | PcmFile:
        """The samples of `ref`: in memory, or a `PcmFile` that reads them from disk as they are
        played (a mono 16-bit WAV already at this library's rate, the common case of a line's
        voice, or what the decoder process wrote: memory then does not grow with its length;
        only a header is read here, on the caller's thread). Cached. With a decoder process,
        MediaPending until a medium that needs decoding is decoded."""
        key, path = self._key(ref)
        stream_key: Key = (key[0], key[1], key[2], 1)
        with self._lock:
            found = self._cached(key)
            if found is None:
                streamed = self._streamed.get(stream_key)
                if streamed is not None:
                    self._streamed.move_to_end(stream_key)
                    return streamed
        if found is not None:
            return found
        if self._decoder is not None and self._decoder.is_queued(key):
            raise MediaPending(ref)  # asked again (each tick, while it plays): nothing to read
        if path is not None and stream_key not in self._decoding and not _is_xml(path):
            try:
                opened = open_pcm(path, self.sample_rate)
            except AudioError as exc:
                self._fail(key, f"media {ref!r}: {exc}")
                raise MediaError(f"media {ref!r}: {exc}") from None
            if opened is not None:
                with self._lock:
                    self._streamed[stream_key] = opened
                    while len(self._streamed) > MAX_OPEN_FILES:
                        self._streamed.popitem(last=False)
                return opened
            with self._lock:  # it needs decoding: its header is not read again
                self._decoding[stream_key] = None
                while len(self._decoding) > MAX_FAILURES:
                    self._decoding.popitem(last=False)
        if self._decoder is not None and (path is not None or key[0] == "speak"):
            self._decoder.request(ref, key)  # speech too: a text-to-speech program runs
            raise MediaPending(ref)
        return self._decode(ref, key, path)  # a built-in is made at once: nothing to decode

    def duration_ms(self, ref: str) -> int:
        """How long `ref` plays, in whole milliseconds rounded up (MediaError if unusable;
        MediaPending while a background decode prepares it)."""
        n = len(self.open(ref))
        return -(-n * 1000 // self.sample_rate)

    def status(self, ref: str) -> tuple[str, int | str | None]:
        """What became of `ref` without waiting: ``("ready", duration_ms)``,
        ``("failed", message)`` or ``("pending", None)`` (its decode queued if it was not)."""
        try:
            return "ready", self.duration_ms(ref)
        except MediaPending:
            return "pending", None
        except MediaError as exc:
            return "failed", exc.message

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until no decode is queued or running (True), or `timeout_s` passes (False)."""
        return True if self._decoder is None else self._decoder.wait_idle(timeout_s)

    def close(self) -> None:
        """Stop the background decoder (queued decodes are dropped)."""
        if self._decoder is not None:
            self._decoder.stop()

    # -- the cache -------------------------------------------------------------------------------

    def _cached(self, key: Key) -> np.ndarray | PcmFile | None:
        """The decoded samples of `key` (most recently used now), or None; MediaError if its
        decode failed. Call with the lock held."""
        pcm = self._decoded.get(key)
        if pcm is not None:
            self._decoded.move_to_end(key)
            return pcm
        on_disk = self._on_disk.get(key)
        if on_disk is not None:
            self._on_disk.move_to_end(key)
            return on_disk[0]
        failure = self._failed.get(key)
        if failure is not None:
            raise MediaError(failure)
        return None

    def _keep_on_disk(self, key: Key, path: Path) -> None:
        """Cache what the decoder process wrote at `path` (the least recently used files are
        deleted past `cache_bytes`; one still being played stays readable until it ends)."""
        pcm = open_pcm(path, self.sample_rate)
        if pcm is None:
            raise MediaError(f"the decoder wrote {path.name}, which is not a mono 16-bit WAV")
        with self._lock:
            self.version += 1
            old = self._on_disk.pop(key, None)
            if old is not None:
                self._on_disk_bytes -= old[1].stat().st_size if old[1].exists() else 0
            self._on_disk[key] = (pcm, path)
            self._on_disk_bytes += path.stat().st_size
            while self._on_disk_bytes > self.cache_bytes and len(self._on_disk) > 1:
                _, (_, gone) = self._on_disk.popitem(last=False)
                try:
                    self._on_disk_bytes -= gone.stat().st_size
                    gone.unlink()
                except OSError:
                    pass

    def _keep(self, key: Key, pcm: np.ndarray) -> None:
        with self._lock:
            self.version += 1
            if key in self._decoded:
                return
            self._decoded[key] = pcm
            self._decoded_bytes += pcm.nbytes
            while self._decoded_bytes > self.cache_bytes and len(self._decoded) > 1:
                _, old = self._decoded.popitem(last=False)
                self._decoded_bytes -= old.nbytes

    def _fail(self, key: Key, message: str) -> None:
        with self._lock:
            self.version += 1
            self._failed[key] = message
            while len(self._failed) > MAX_FAILURES:
                self._failed.popitem(last=False)

    def _decode(self, ref: str, key: Key, path: Path | None) -> np.ndarray:
        """Decode `ref` now, on this thread, and cache it (MediaError, remembered, if it
        cannot be used)."""
        try:
            pcm = self._decode_uncached(ref, path)
            if pcm.nbytes > self.cache_bytes:
                raise MediaError(f"media {ref!r}: decoded, it takes {pcm.nbytes >> 20} MiB, more "
                                 f"than the media cache holds ({self.cache_bytes >> 20} MiB)")
        except MediaError as exc:
            if key[0] != "builtin":
                self._fail(key, exc.message)
            raise
        self._keep(key, pcm)
        return pcm

    def _decode_uncached(self, ref: str, path: Path | None) -> np.ndarray:
        if ref in ("beep:1", "beep:2"):
            return beep(int(ref[-1]), self.sample_rate)
        if ref == "none":
            return np.zeros(0, dtype=np.int16)
        if ref in BUILTIN_MUSIC:
            return default_music(BUILTIN_MUSIC[ref], self.sample_rate)
        if ref.startswith(SPEAK_PREFIX):
            voice, language, text = _speak_parts(ref)
            return self.speak(ref, text, voice, language)
        assert path is not None
        if _is_xml(path):
            if ref in self._loading:
                raise MediaError(f"media {ref!r}: an XML document plays itself (a loop)")
            self._loading.add(ref)
            try:
                return self._render_xml(ref, path)
            finally:
                self._loading.discard(ref)
        estimate = _decoded_bytes(path, self.sample_rate)
        if estimate > self.cache_bytes:  # refused before decoding: memory never holds it
            raise MediaError(f"media {ref!r}: decoded, it would take {estimate >> 20} MiB, more "
                             f"than the media cache holds ({self.cache_bytes >> 20} MiB)")
        try:
            return load_audio(path, self.sample_rate)
        except AudioError as exc:
            raise MediaError(f"media {ref!r}: {exc}") from None

    # -- XML documents of Play, Speak and Wait (what the real API fetches from a music URL) -------

    def _render_xml(self, ref: str, path: Path) -> np.ndarray:
        """Render a `<Response>` of `Play`, `Speak` and `Wait` elements to samples."""
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as exc:
            raise MediaError(f"media {ref!r}: not a readable XML document ({exc})") from None
        if root.tag != "Response":
            raise MediaError(f"media {ref!r}: an XML document must be a <Response>, not <{root.tag}>")
        parts: list[np.ndarray] = []
        for element in root:
            parts.extend(self._xml_element(ref, path, element))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def _xml_element(self, ref: str, path: Path, element: ET.Element) -> list[np.ndarray]:
        where = f"media {ref!r}: <{element.tag}>"
        if element.tag == "Wait":
            seconds = _xml_number(element.get("length", "1"), f"{where} length")
            return [np.zeros(round(seconds * self.sample_rate), dtype=np.int16)]
        loops = int(_xml_number(element.get("loop", "1"), f"{where} loop"))
        if loops < 1:
            loops = 1  # loop="0" (forever) is the music's own looping here
        text = (element.text or "").strip()
        if element.tag == "Play":
            if not text:
                raise MediaError(f"{where} names no file")
            inner = text if urlsplit(text).scheme or Path(text).is_absolute() else str(path.parent / text)
            key, inner_path = self._key(inner)
            with self._lock:
                found = self._cached(key)
            if found is None:
                pcm = self._decode(inner, key, inner_path)
            else:
                pcm = found if isinstance(found, np.ndarray) else found[0:len(found)]
            return [pcm] * loops
        if element.tag == "Speak":
            voice = element.get("voice", "WOMAN")
            language = element.get("language", "en-US")
            return [self.speak(ref, text, voice, language)] * loops
        raise MediaError(f"{where} is not supported (use Play, Speak or Wait)")

    def speech_engine(self) -> str | None:
        """The text-to-speech program Speak uses (espeak-ng, or espeak), or None if neither is
        installed (speech is then silence of the text's estimated length)."""
        return shutil.which("espeak-ng") or shutil.which("espeak")

    def speak(self, ref: str, text: str, voice: str = "WOMAN", language: str = "en-US"
              ) -> np.ndarray:
        """`text` spoken in `voice` (WOMAN or MAN) and `language` (e.g. en-US) by espeak-ng
        where installed; else silence of its estimated length (0.4 s a word, at least 0.5 s)
        and a warning. The one text-to-speech of mpcmix: `<Speak>` in XML documents and the
        API's Speak to members."""
        engine = self.speech_engine()
        if engine and text:
            variant = "+m3" if voice.upper() == "MAN" else "+f3"
            with tempfile.TemporaryDirectory() as tmp:
                wav = os.path.join(tmp, "speak.wav")
                for name in (espeak_voice(language), "en"):
                    result = subprocess.run([engine, "-w", wav, "-v", name + variant, "--stdin"],
                                            input=text.encode("utf-8"), capture_output=True,
                                            timeout=60, check=False)
                    if result.returncode == 0:
                        try:
                            return load_audio(wav, self.sample_rate)
                        except AudioError:
                            break
        seconds = max(0.5, 0.4 * len(text.split()))  # about 150 words a minute
        self.warnings.append(
            f"media {ref!r}: speech rendered as {seconds:g} s of silence (no espeak-ng installed)"
        )
        return np.zeros(round(seconds * self.sample_rate), dtype=np.int16)


class _Decoder:
    """Sends the media a library was asked for to the decoder process (mpcmix.media.decoder),
    in order, each once (a request for a key already queued is not queued again), from one
    thread that waits on the process's answers; the process is started on the first request,
    and again after it dies."""

    def __init__(self, library: MediaLibrary, cache_dir: Path) -> None:
        self.library = library
        self.cache_dir = cache_dir
        shutil.rmtree(cache_dir, ignore_errors=True)  # an earlier run's: keyed by what it knew
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, Key]] = deque()
        self._queued: set[Key] = set()
        self._busy = False
        self._stopping = False
        self._process: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._run, name="mpcmix-media-decoder",
                                        daemon=True)
        self._thread.start()

    def is_queued(self, key: Key) -> bool:
        """Whether `key` is queued or being decoded now."""
        with self._cond:
            return key in self._queued

    def request(self, ref: str, key: Key) -> None:
        with self._cond:
            if key in self._queued or self._stopping:
                return
            self._queued.add(key)
            self._queue.append((ref, key))
            self._cond.notify_all()

    def wait_idle(self, timeout_s: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout_s)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._queued.clear()
            self._cond.notify_all()
            process, self._process = self._process, None
        if process is not None:
            _end(process)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stopping)
                if self._stopping:
                    return
                ref, key = self._queue.popleft()
                self._busy = True
            try:
                self._decode(ref, key)
            except Exception as exc:  # nothing one medium does may end the thread
                self.library._fail(key, f"media {ref!r}: cannot be decoded "
                                        f"({type(exc).__name__}: {exc})")
            finally:
                with self._cond:
                    self._busy = False
                    self._queued.discard(key)
                    self._cond.notify_all()

    def _decode(self, ref: str, key: Key) -> None:
        name = hashlib.sha256(repr(key).encode("utf-8", "surrogateescape")).hexdigest()[:32]
        out = self.cache_dir / f"{name}.wav"
        reply = self._ask({"ref": ref, "path": None if key[0] in ("builtin", "speak")
                           else str(key[0]), "out": str(out)})
        if "error" in reply:
            self.library._fail(key, str(reply["error"]))
            return
        warnings = reply.get("warnings")
        if isinstance(warnings, list):
            self.library.warnings.extend(str(w) for w in warnings)
        self.library._keep_on_disk(key, out)

    def _ask(self, request: dict[str, object]) -> dict[str, object]:
        """Send one request to the process (started if need be) and wait for its answer."""
        process = self._process
        if process is None or process.poll() is not None:
            process = self._process = self._start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
            reply = json.loads(line) if line else None
        except (OSError, ValueError):
            reply = None
        if not isinstance(reply, dict):
            self._process = None
            _end(process)
            return {"error": f"media {request['ref']!r}: the decoder process stopped while "
                             "decoding it"}
        return reply

    def _start(self) -> subprocess.Popen[str]:
        lib = self.library
        config = {"base_dir": str(lib.base_dir), "sample_rate": lib.sample_rate,
                  "confine": lib.confine, "map_http": lib.map_http,
                  "cache_bytes": lib.cache_bytes}
        return subprocess.Popen(
            [sys.executable, "-m", "mpcmix.media.decoder", json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
            errors="surrogateescape", close_fds=True)


def _end(process: subprocess.Popen[str]) -> None:
    """Close the decoder process's input (it ends) and reap it; kill it if it lingers."""
    try:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(5)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()
    finally:
        if process.stdout is not None:
            process.stdout.close()


#: The reference a Speak to members plays (mpcmix.model.play_ops.speak_ref).
SPEAK_PREFIX = "speak:"


def _speak_parts(ref: str) -> tuple[str, str, str]:
    """(voice, language, text) of a ``speak:<voice>:<language>:<text>`` reference."""
    voice, _, rest = ref[len(SPEAK_PREFIX):].partition(":")
    language, _, text = rest.partition(":")
    return voice, language, text


def espeak_voice(language: str) -> str:
    """espeak-ng's voice name for an API language code (en-US -> en-us, en-UK -> en-gb)."""
    code = language.strip().lower().replace("_", "-")
    return {"en-uk": "en-gb", "cmn-cn": "cmn", "arb": "ar", "en-gb-wls": "en-gb"}.get(code, code)


def _decoded_bytes(path: Path, sample_rate: int) -> int:
    """About how many bytes `path` takes decoded at `sample_rate` (int16 mono), from its header;
    0 when the header cannot be read (the decoder then says why)."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception:
        return 0
    if info.samplerate <= 0 or info.frames <= 0:
        return 0
    return int(info.frames) * sample_rate // int(info.samplerate) * 2


def _is_xml(path: Path) -> bool:
    if path.suffix.lower() == ".xml":
        return True
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            head = f.read(64).lstrip()
    except OSError:
        return False
    return head.startswith((b"<?xml", b"<Response"))


def _xml_number(value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise MediaError(f"{what} must be a number, not {value!r}") from None
    if not 0 <= number <= 3600:
        raise MediaError(f"{what} must be between 0 and 3600, not {value!r}")
    return number


__all__ = ["BUILTIN", "BUILTIN_MUSIC", "DEFAULT_CACHE_BYTES", "SPEAK_PREFIX", "MediaLibrary",
           "MediaPending", "espeak_voice"]
