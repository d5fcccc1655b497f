"""The provider's audio-stream protocol: a stream's settings and the JSON events on its WebSocket.

Names and shapes follow the provider's audio-streaming documentation (the `<Stream>` element,
the Audio Stream API, and the stream events pages; docs/live-media.md lists each field and where
it was checked):

- sent by the provider: ``start`` (once, first: ``sequenceNumber``, ``start.callId``,
  ``start.streamId``, ``start.accountId``, ``start.tracks``, ``start.mediaFormat.encoding`` and
  ``.sampleRate``, ``extra_headers``), ``media`` (``sequenceNumber``, ``streamId``,
  ``media.track``, ``media.timestamp`` (Unix ms, a string), ``media.chunk`` (per track, from 1),
  ``media.payload`` (base64), ``extra_headers``), ``playedStream`` (``name``) once the audio
  queued before a checkpoint has played, ``clearedAudio`` after a ``clearAudio``, and ``stop``
  (``reason``) when the stream ends; ``sequenceNumber`` counts every event sent, from 1;
- sent by the application (a bidirectional stream): ``playAudio`` (``media.contentType``,
  ``media.sampleRate``, ``media.payload``), ``checkpoint`` (``streamId``, ``name``),
  ``clearAudio`` (``streamId``).

`StreamSpec` is a stream's settings (a stream line's, or an Audio Stream API request's), with the
documented rules checked once, here: the content types, a bidirectional stream takes the inbound
track only, ``extra_headers`` within 512 bytes of ``key=value`` pairs of letters and digits.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from mpcmix.errors import ValidationError

from .codec import decode, encode

#: content_type -> (encoding, sample rate)
CONTENT_TYPES: dict[str, tuple[str, int]] = {
    "audio/x-l16;rate=8000": ("audio/x-l16", 8000),
    "audio/x-l16;rate=16000": ("audio/x-l16", 16000),
    "audio/x-mulaw;rate=8000": ("audio/x-mulaw", 8000),
}
DEFAULT_CONTENT_TYPE = "audio/x-l16;rate=8000"
AUDIO_TRACKS = ("inbound", "outbound", "both")
#: What a playAudio may carry: encoding -> sample rates
PLAY_FORMATS: dict[str, tuple[int, ...]] = {"audio/x-l16": (8000, 16000), "audio/x-mulaw": (8000,)}
#: A media event carries this much audio, whatever the server's frame.
CHUNK_MS = 20
DEFAULT_STREAM_TIMEOUT_S = 86400
MAX_EXTRA_HEADERS = 512
_EXTRA_HEADERS = re.compile(r"^[A-Za-z0-9]+=[A-Za-z0-9]*(,[A-Za-z0-9]+=[A-Za-z0-9]*)*$")
#: The stream status callback's Event values.
START_STREAM, STOP_STREAM, DROPPED_STREAM = "StartStream", "StopStream", "DroppedStream"


@dataclass(frozen=True)
class StreamSpec:
    """One audio stream's settings (see the module docstring)."""

    url: str
    content_type: str = DEFAULT_CONTENT_TYPE
    bidirectional: bool = False
    audio_track: str = "inbound"
    extra_headers: str = ""
    stream_timeout_s: int = DEFAULT_STREAM_TIMEOUT_S
    status_callback_url: str | None = None
    status_callback_method: str = "POST"

    @property
    def encoding(self) -> str:
        return CONTENT_TYPES[self.content_type][0]

    @property
    def sample_rate(self) -> int:
        return CONTENT_TYPES[self.content_type][1]

    @property
    def tracks(self) -> list[str]:
        return ["inbound", "outbound"] if self.audio_track == "both" else [self.audio_track]


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValidationError(f"{name} must be true or false, not {value!r}")


def stream_spec(raw: Mapping[str, Any], *, where: str = "stream", url_key: str = "url",
                strict: bool = True) -> StreamSpec:
    """A `StreamSpec` from a mapping (a stream line's keys: ``url``, ``content_type``,
    ``bidirectional``, ``audio_track``, ``extra_headers``, ``stream_timeout``,
    ``status_callback_url``, ``status_callback_method``; the API names the URL
    ``service_url``); ValidationError naming `where`, the key and the rule otherwise. `strict`:
    an unknown key is an error (a file's typo); else it is ignored (a request: the SDK sends
    more)."""
    known = {url_key, "content_type", "bidirectional", "audio_track", "extra_headers",
             "stream_timeout", "status_callback_url", "status_callback_method"}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown and strict:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(unknown)} (known: "
                              f"{', '.join(sorted(known))})")
    url = raw.get(url_key)
    if not isinstance(url, str) or not re.match(r"^wss?://[^\s/?#]+", url):
        raise ValidationError(f"{where}: {url_key} must be a ws:// or wss:// URL, not {url!r}")
    content_type = str(raw.get("content_type") or DEFAULT_CONTENT_TYPE).replace(" ", "")
    if content_type not in CONTENT_TYPES:
        raise ValidationError(f"{where}: content_type {content_type!r} is not one of "
                              f"{', '.join(CONTENT_TYPES)}")
    bidirectional = _bool(f"{where}: bidirectional", raw.get("bidirectional", False))
    track = str(raw.get("audio_track") or "inbound").lower()
    if track not in AUDIO_TRACKS:
        raise ValidationError(f"{where}: audio_track must be inbound, outbound or both, not "
                              f"{track!r}")
    if bidirectional and track != "inbound":
        raise ValidationError(f"{where}: a bidirectional stream takes the inbound audio_track "
                              f"only, not {track!r}")
    headers = raw.get("extra_headers") or ""
    if not isinstance(headers, str) or (headers and not _EXTRA_HEADERS.match(headers)) or \
            len(headers.encode()) > MAX_EXTRA_HEADERS:
        raise ValidationError(f"{where}: extra_headers must be key=value pairs separated by "
                              f"commas, letters and digits only, at most {MAX_EXTRA_HEADERS} "
                              f"bytes, not {headers!r}")
    timeout = raw.get("stream_timeout", DEFAULT_STREAM_TIMEOUT_S)
    try:
        timeout_s = int(str(timeout))
    except ValueError:
        timeout_s = 0
    if timeout_s <= 0:
        raise ValidationError(f"{where}: stream_timeout must be a positive number of seconds, "
                              f"not {timeout!r}")
    callback = raw.get("status_callback_url") or None
    if callback is not None and (not isinstance(callback, str)
                                 or not re.match(r"^https?://[^\s]+$", callback)):
        raise ValidationError(f"{where}: status_callback_url must be an http(s) URL, not "
                              f"{callback!r}")
    method = str(raw.get("status_callback_method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ValidationError(f"{where}: status_callback_method must be GET or POST, not "
                              f"{method!r}")
    return StreamSpec(url, content_type, bidirectional, track, headers, timeout_s, callback,
                      method)


# -- events the provider sends -------------------------------------------------------------------

def start_event(seq: int, *, call_id: str, stream_id: str, account_id: str, spec: StreamSpec
                ) -> str:
    return json.dumps({
        "event": "start", "sequenceNumber": seq,
        "start": {"callId": call_id, "streamId": stream_id, "accountId": account_id,
                  "tracks": spec.tracks,
                  "mediaFormat": {"encoding": spec.encoding, "sampleRate": spec.sample_rate}},
        "extra_headers": spec.extra_headers,
    })


def media_event(seq: int, *, stream_id: str, track: str, timestamp_ms: int, chunk: int,
                payload: bytes, extra_headers: str) -> str:
    # written out rather than json.dumps of nested dicts: 50 of these a second per stream and
    # track, on the stream thread; the ids and track are plain text, the headers JSON-quoted
    payload_text = base64.b64encode(payload).decode()
    return (f'{{"event": "media", "sequenceNumber": {seq}, "streamId": "{stream_id}", '
            f'"media": {{"track": "{track}", "timestamp": "{timestamp_ms}", "chunk": {chunk}, '
            f'"payload": "{payload_text}"}}, "extra_headers": {json.dumps(extra_headers)}}}')


def played_stream_event(seq: int, *, stream_id: str, name: str) -> str:
    return json.dumps({"event": "playedStream", "sequenceNumber": seq, "streamId": stream_id,
                       "name": name})


def cleared_audio_event(seq: int, *, stream_id: str) -> str:
    return json.dumps({"event": "clearedAudio", "sequenceNumber": seq, "streamId": stream_id})


def stop_event(seq: int, *, stream_id: str, reason: str) -> str:
    return json.dumps({"event": "stop", "sequenceNumber": seq, "streamId": stream_id,
                       "reason": reason})


def encode_chunk(pcm: np.ndarray, spec: StreamSpec) -> bytes:
    """A chunk of int16 samples at the stream's rate, as its payload bytes."""
    return encode(pcm, spec.encoding)


# -- events the application sends ----------------------------------------------------------------

@dataclass(frozen=True)
class Incoming:
    """One event from the application, read: `kind` ``playAudio`` (with `pcm` int16 at
    `rate`), ``checkpoint`` (with `name`), ``clearAudio``; or ``invalid`` (with `problem`)."""

    kind: str
    pcm: np.ndarray | None = None
    rate: int = 0
    name: str = ""
    problem: str = ""


def read_incoming(message: str | bytes) -> Incoming:
    """What a text frame from the application asks; never raises (garbage is ``invalid``)."""
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        return Incoming("invalid", problem="not JSON")
    if not isinstance(data, dict):
        return Incoming("invalid", problem="not a JSON object")
    event = data.get("event")
    if event == "playAudio":
        media = data.get("media")
        if not isinstance(media, dict):
            return Incoming("invalid", problem="playAudio without a media object")
        encoding = str(media.get("contentType") or "").split(";")[0].strip()
        rate = media.get("sampleRate")
        if isinstance(rate, str) and rate.isdigit():
            rate = int(rate)
        if encoding not in PLAY_FORMATS or rate not in PLAY_FORMATS[encoding]:
            return Incoming("invalid", problem=f"playAudio format {encoding!r} at {rate!r} Hz is "
                            "not audio/x-l16 at 8000 or 16000 nor audio/x-mulaw at 8000")
        try:
            raw = base64.b64decode(str(media.get("payload") or ""), validate=True)
        except (binascii.Error, ValueError):
            return Incoming("invalid", problem="playAudio payload is not base64")
        return Incoming("playAudio", pcm=decode(raw, encoding), rate=int(rate))
    if event == "checkpoint":
        name = data.get("name")
        if not isinstance(name, str):
            return Incoming("invalid", problem="checkpoint without a name")
        return Incoming("checkpoint", name=name)
    if event == "clearAudio":
        return Incoming("clearAudio")
    return Incoming("invalid", problem=f"unknown event {event!r}")
