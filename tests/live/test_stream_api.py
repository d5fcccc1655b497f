"""The Audio Stream API through the real plivo SDK: start a stream of both tracks on a
participant's call, the service receives the participant's voice (inbound) and what it hears
(outbound); list, get and stop it; its status callbacks."""

from __future__ import annotations

import plivo
from mpcmix.live.codec import ulaw_encode
from mpcmix.media import MediaLibrary
from mpcmix.server.process import sdk_pointed_at
from plivo.utils.signature_v3 import validate_v3_signature

from ..server.conftest import FIXTURES
from ..server.harness import MAIN, serve
from .bots import Bot
from .support import MPC, SR, config, files, ulaw_bytes


def test_the_sdk_starts_and_stops_a_stream_and_the_service_receives_the_audio(tmp_path):
    bot = Bot()
    try:
        with serve(config(tmp_path, bot)) as server, sdk_pointed_at(server.url), \
                server.http() as http:
            client = plivo.RestClient(MAIN.auth_id, MAIN.auth_token)
            for role, to in (("customer", "+15550000100"), ("agent", "+15550000103")):
                client.multi_party_calls.add_participant(
                    role=role, friendly_name="live", from_="+15550000000", to_=to,
                    enter_sound="none", exit_sound="none")
            server.advance(0.2)
            members = http.get(f"{MPC}/Participant/").json()["objects"]
            customer = next(m for m in members if m["role"] == "customer")
            call_uuid = customer["call_uuid"]
            started = client.calls.start_stream(
                call_uuid, service_url=bot.url, audio_track="both",
                content_type="audio/x-mulaw;rate=8000", extra_headers="ticket=42")
            stream_id = started.stream_id
            assert started.message == "audio streaming started"
            server.advance(1.0)
            bot.wait_for(lambda: len(bot.media()) >= 100)
            listed = client.calls.get_all_streams(call_uuid)
            one = client.calls.get_details_of_specific_stream(call_uuid, stream_id)
            client.calls.delete_specific_stream(call_uuid, stream_id)
            bot.wait_for(lambda: bot.events[-1]["event"] == "stop")
            stopped = client.calls.get_details_of_specific_stream(call_uuid, stream_id)
            streams, _ = files(server, {"customer": customer["member_id"]})
            names = [e["name"] for e in server.events() if e["name"].endswith("Stream")]
    finally:
        bot.close()
    assert [o.stream_id for o in listed.objects] == [stream_id]
    assert (one.audio_track, one.service_url, one.call_uuid) == ("both", bot.url, call_uuid)
    assert stopped.end_time is not None
    assert names == ["StartStream", "StopStream"]
    path, headers = bot.upgrades[0]
    assert path == "/bot"
    nonce = headers["x-plivo-signature-v3-nonce"]
    assert validate_v3_signature("GET", "http" + bot.url[2:], nonce, MAIN.auth_token,
                                 headers["x-plivo-signature-v3"])  # the SDK's own check
    start = bot.events[0]
    assert start["start"]["tracks"] == ["inbound", "outbound"]
    assert start["start"]["callId"] == call_uuid and start["extra_headers"] == "ticket=42"
    inbound = [m for m in bot.media() if m["media"]["track"] == "inbound"]
    outbound = [m for m in bot.media() if m["media"]["track"] == "outbound"]
    assert len(inbound) == len(outbound) == 50  # a second of both tracks, 20 ms each
    voice = MediaLibrary(FIXTURES, SR).load("voices/customer.wav")
    span = slice(1600, 1600 + 50 * 160)  # from the render after the stream started
    assert b"".join(ulaw_bytes(m) for m in inbound) == ulaw_encode(voice[span])
    assert b"".join(ulaw_bytes(m) for m in outbound) == ulaw_encode(streams["customer"][span])
