"""The stream payloads and events: G.711 μ-law as tables, L16, resampling across blocks, a
stream's settings and their rules, and reading what an application sends (never raising)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpcmix.errors import ValidationError
from mpcmix.live.codec import Resampler, decode, encode, ulaw_decode, ulaw_encode
from mpcmix.live.protocol import media_event, read_incoming, stream_spec


def test_mu_law_tables_match_g711():
    assert ulaw_encode(np.array([0, -1, 32767, -32768, 8159, 100], np.int16)) == \
        bytes([0xFF, 0x7F, 0x80, 0x00, 0x9F, 0xF2])
    assert ulaw_decode(bytes([0x80, 0x00, 0xFF, 0x9F, 0xF2])).tolist() == \
        [32124, -32124, 0, 8316, 104]
    codes = bytes(range(256))
    again = ulaw_encode(ulaw_decode(codes))
    assert [a for a, b in zip(again, codes, strict=True) if a != b] == [0xFF]  # -0 is +0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=400))
def test_mu_law_round_trip_error_is_within_half_a_segment_step(values):
    x = np.array(values, np.int16)
    y = ulaw_decode(ulaw_encode(x)).astype(np.int32)
    clipped = np.clip(x.astype(np.int32), -32635, 32635)
    step = np.maximum(8, 2 ** (np.floor(np.log2(np.abs(clipped) + 132)) - 4))
    assert np.all(np.abs(y - clipped) <= step)


def test_l16_is_little_endian_signed_16_bit():
    assert encode(np.array([1, -2], np.int16), "audio/x-l16") == b"\x01\x00\xfe\xff"
    assert decode(b"\x01\x00\xfe\xff\x07", "audio/x-l16").tolist() == [1, -2]


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (48000, 8000), (8000, 48000),
                                          (8000, 8000)])
def test_resampling_does_not_depend_on_how_the_stream_is_cut(src, dst):
    x = (np.sin(np.arange(src) * 2 * np.pi * 440 / src) * 10000).astype(np.int16)
    whole = Resampler(src, dst)(x)
    cut = Resampler(src, dst)
    pieces = np.concatenate([cut(x[i:i + 7 * src // 400]) for i in range(0, len(x), 7 * src // 400)])
    assert np.array_equal(whole, pieces) and len(whole) == dst
    spectrum = np.abs(np.fft.rfft(whole[dst // 10:].astype(float)))
    peak_hz = np.argmax(spectrum) * dst / (2 * (len(spectrum) - 1))
    assert abs(peak_hz - 440) < 5


def test_a_stream_spec_has_the_documented_defaults_and_rules():
    spec = stream_spec({"url": "wss://bot.example/ws"})
    assert (spec.content_type, spec.bidirectional, spec.audio_track, spec.stream_timeout_s) == \
        ("audio/x-l16;rate=8000", False, "inbound", 86400)
    assert spec.tracks == ["inbound"] and spec.sample_rate == 8000
    assert stream_spec({"url": "ws://h/b", "audio_track": "both"}).tracks == ["inbound", "outbound"]
    for bad in ({"url": "ws://h/b", "stream_timeout": 0}, {"url": "ws://h/b", "typo": 1},
                {"url": "ws://h/b", "extra_headers": "a=1" * 200},
                {"url": "ws://h/b", "status_callback_method": "PUT"}):
        with pytest.raises(ValidationError):
            stream_spec(bad)
    assert stream_spec({"service_url": "ws://h/b", "call_uuid": "x"}, url_key="service_url",
                       strict=False).url == "ws://h/b"


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=50), st.binary(max_size=50),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                              lambda c: st.lists(c, max_size=3) | st.dictionaries(
                                  st.sampled_from(["event", "media", "name", "payload",
                                                   "contentType", "sampleRate"]), c, max_size=4),
                              max_leaves=10).map(json.dumps)))
def test_reading_what_an_application_sends_never_raises(message):
    assert read_incoming(message).kind in ("playAudio", "checkpoint", "clearAudio", "invalid")


def test_play_audio_is_decoded_and_a_media_event_is_json():
    pcm = np.array([0, 1000, -1000], np.int16)
    got = read_incoming(json.dumps({"event": "playAudio", "media": {
        "contentType": "audio/x-l16", "sampleRate": 16000,
        "payload": base64.b64encode(encode(pcm, "audio/x-l16")).decode()}}))
    assert got.kind == "playAudio" and got.rate == 16000 and got.pcm.tolist() == pcm.tolist()
    event = json.loads(media_event(7, stream_id="s", track="outbound", timestamp_ms=5, chunk=3,
                                   payload=b"\x01", extra_headers='a="1"'))
    assert event == {"event": "media", "sequenceNumber": 7, "streamId": "s",
                     "media": {"track": "outbound", "timestamp": "5", "chunk": 3,
                               "payload": "AQ=="}, "extra_headers": 'a="1"'}
