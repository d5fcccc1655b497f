"""Media references: from the strings the API carries to decoded audio at the call's rate.

A reference is what a scenario or a request gives: a path relative to the scenario's folder (or the
server's media root), an absolute path, a `file://` URL, an `http(s)://host/path` URL (mapped to
`MEDIA_ROOT/host/path`), `beep:1`/`beep:2`/`none`, or one of the built-in `default:*` musics.
Everything is decoded once and cached; the call model only ever asks for durations.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
from mpcmix.errors import MediaError
from mpcmix.mixer import AudioError, PcmFile, beep, default_music, load_audio, open_pcm

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
        self._opened: dict[str, np.ndarray | PcmFile] = {}
        self.warnings: list[str] = []
        self._loading: set[str] = set()

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
        if ref.startswith(SPEAK_PREFIX):
            voice, language, text = _speak_parts(ref)
            pcm = self.speak(ref, text, voice, language)
        elif ref in ("beep:1", "beep:2"):
            pcm = beep(int(ref[-1]), self.sample_rate)
        elif ref == "none":
            pcm = np.zeros(0, dtype=np.int16)
        elif ref in BUILTIN_MUSIC:
            pcm = default_music(BUILTIN_MUSIC[ref], self.sample_rate)
        else:
            path = self.resolve(ref)
            if _is_xml(path):
                if ref in self._loading:
                    raise MediaError(f"media {ref!r}: an XML document plays itself (a loop)")
                self._loading.add(ref)
                try:
                    pcm = self._render_xml(ref, path)
                finally:
                    self._loading.discard(ref)
            else:
                try:
                    pcm = load_audio(path, self.sample_rate)
                except AudioError as exc:
                    raise MediaError(f"media {ref!r}: {exc}") from None
        self._cache[ref] = pcm
        return pcm

    def open(self, ref: str) -> np.ndarray | PcmFile:
        """The samples of `ref` as `load` gives them, or, for a mono 16-bit WAV already at this
        library's rate, a `PcmFile` that reads them from disk as they are played (the common case
        of a line's voice: memory then does not grow with its length). Cached."""
        opened = self._opened.get(ref)
        if opened is not None:
            return opened
        opened = self._cache.get(ref)
        if (opened is None and ref not in ("beep:1", "beep:2", "none")
                and ref not in BUILTIN_MUSIC and not ref.startswith(SPEAK_PREFIX)):
            path = self.resolve(ref)
            if not _is_xml(path):
                try:
                    opened = open_pcm(path, self.sample_rate)
                except AudioError as exc:
                    raise MediaError(f"media {ref!r}: {exc}") from None
        if opened is None:
            opened = self.load(ref)
        self._opened[ref] = opened
        return opened

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
            return [self.load(inner)] * loops
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

    def duration_ms(self, ref: str) -> int:
        """How long `ref` plays, in whole milliseconds rounded up (MediaError if unusable)."""
        n = len(self.open(ref))
        return -(-n * 1000 // self.sample_rate)


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


def _is_xml(path: Path) -> bool:
    if path.suffix.lower() == ".xml":
        return True
    try:
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
