"""The server's parts that stand alone: configuration, credentials, signatures, WAV snapshots,
the callback queue. (The endpoints are tested through the plivo SDK in the other files.)"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mpcmix.mixer.wavfile import snapshot as wav_snapshot
from mpcmix.server.auth import Authenticator, parse_basic
from mpcmix.server.callbacks import CallbackDispatcher, Delivery, form_params, sign_v3
from mpcmix.server.clock import VirtualClock
from mpcmix.server.config import ConfigError, generate_account, load_config, parse_account
from plivo.utils import is_valid_mainaccount, is_valid_subaccount
from plivo.utils.signature_v3 import validate_v3_signature

from .harness import MAIN, OTHER, SUB, CallbackReceiver


def test_a_generated_account_is_one_the_sdk_accepts() -> None:
    for _ in range(20):
        account = generate_account()
        assert is_valid_mainaccount(account.auth_id)
        assert len(account.auth_token) == 40


def test_no_account_configured_generates_one() -> None:
    config = load_config([], environ={})
    assert config.generated_account and len(config.accounts) == 1
    assert is_valid_mainaccount(config.accounts[0].auth_id)


@pytest.mark.parametrize("text", ["MA123:tok", "XXMPCMIXTESTMAIN0001:tok", "MAMPCMIXTESTMAIN0001",
                                  "MAMPCMIXTESTMAIN0001:tok@MAMPCMIXTESTMAIN0002"])
def test_malformed_accounts_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_account(text)


def test_a_subaccount_names_its_parent() -> None:
    sub = parse_account(f"{SUB.auth_id}:{SUB.auth_token}@{MAIN.auth_id}")
    assert sub.parent == MAIN.auth_id and is_valid_subaccount(sub.auth_id)
    with pytest.raises(ConfigError, match="parent"):
        load_config(["--account", f"{SUB.auth_id}:{SUB.auth_token}@{MAIN.auth_id}"], environ={})


def test_settings_come_from_cli_then_environment_then_file(tmp_path: Path) -> None:
    config_file = tmp_path / "serve.yaml"
    config_file.write_text(
        "port: 9000\nclock: virtual\nsample_rate: 8000\nframe_ms: 40\nseed: 7\n"
        f"accounts: ['{MAIN.auth_id}:{MAIN.auth_token}']\nmedia_root: media\n"
    )
    (tmp_path / "media").mkdir()
    environ = {"MPCMIX_CONFIG": str(config_file), "MPCMIX_SAMPLE_RATE": "48000",
               "MPCMIX_FRAME_MS": "10"}
    config = load_config(["--frame-ms", "60"], environ=environ)
    assert config.port == 9000 and config.clock == "virtual" and config.seed == 7
    assert config.sample_rate == 48000  # environment over file
    assert config.frame_ms == 60  # command line over environment
    assert config.media_root == tmp_path / "media"  # a file's paths are relative to the file
    assert [a.auth_id for a in config.accounts] == [MAIN.auth_id]
    assert not config.generated_account


def test_accounts_from_the_environment() -> None:
    environ = {"MPCMIX_ACCOUNTS": f"{MAIN.auth_id}:{MAIN.auth_token},{OTHER.auth_id}:x"}
    config = load_config([], environ=environ)
    assert [a.auth_id for a in config.accounts] == [MAIN.auth_id, OTHER.auth_id]


@pytest.mark.parametrize("argv", [["--clock", "sometimes"], ["--sample-rate", "44100"],
                                  ["--frame-ms", "25"], ["--media-root", "/no/such/folder"]])
def test_unusable_settings_are_refused(argv: list[str]) -> None:
    with pytest.raises((ConfigError, SystemExit)):
        load_config(argv, environ={})


def test_lines_file_is_read(tmp_path: Path) -> None:
    lines = tmp_path / "lines.yaml"
    lines.write_text('"+1": {audio: voices/a.wav, answer_after: 0.5}\n"+2": {answer_after: never}\n')
    config = load_config(["--lines", str(lines)], environ={})
    assert config.lines["+1"].audio == "voices/a.wav"
    assert float(config.lines["+1"].answer_after_s) == 0.5
    assert config.lines["+2"].answer_after_s is None
    lines.write_text('"+1": {audio: a.wav, ring: 3}\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\)"):
        load_config(["--lines", str(lines)], environ={})


def _basic(auth_id: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{auth_id}:{token}".encode()).decode()


def test_basic_auth_checks_the_token_and_the_path_account() -> None:
    auth = Authenticator([MAIN, SUB, OTHER])
    assert auth.authenticate(_basic(MAIN.auth_id, MAIN.auth_token)) == MAIN
    for header in [None, "", "Bearer x", "Basic !!!", _basic(MAIN.auth_id, "wrong"),
                   _basic("MANOSUCHACCOUNT00001", MAIN.auth_token)]:
        with pytest.raises(Exception) as info:
            auth.authenticate(header)
        assert getattr(info.value, "status", None) == 401
    assert auth.acting_as(MAIN, SUB.auth_id) == SUB  # a parent acts on its subaccount
    for account, path in [(SUB, MAIN.auth_id), (OTHER, MAIN.auth_id), (MAIN, OTHER.auth_id)]:
        with pytest.raises(Exception) as info:
            auth.acting_as(account, path)
        assert getattr(info.value, "status", None) == 401
    assert parse_basic(_basic("a", "b:c")) == ("a", "b:c")


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("url", ["https://example.com/cb/", "http://127.0.0.1:9/cb?x=1&b=2",
                                 "https://example.com/cb?empty="])
def test_signatures_validate_with_the_sdk(method: str, url: str) -> None:
    params = form_params({"EventName": "MPCStart", "MPCName": "a b&c=d", "SequenceNumber": 3,
                          "Flag": True, "Empty": "", "Unicode": "é"})
    nonce = "12345678901234567890"
    signature = sign_v3(method, url, params, nonce, MAIN.auth_token)
    assert validate_v3_signature(method, url, nonce, MAIN.auth_token, signature, dict(params))
    assert not validate_v3_signature(method, url, nonce, OTHER.auth_token, signature, dict(params))
    tampered = {**params, "MPCName": "other"}
    assert not validate_v3_signature(method, url, nonce, MAIN.auth_token, signature, tampered)


def test_signature_of_a_callback_without_parameters() -> None:
    signature = sign_v3("POST", "https://example.com/cb", {}, "1", MAIN.auth_token)
    assert validate_v3_signature("POST", "https://example.com/cb", "1", MAIN.auth_token, signature, {})


def test_virtual_clock_moves_in_whole_frames() -> None:
    clock = VirtualClock(20)
    assert clock.advance(0.1) == 100
    assert clock.advance("0.001") == 120  # rounded up to the next frame boundary
    assert clock.advance(0) == 120
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_a_wav_being_written_is_served_with_consistent_sizes(tmp_path: Path) -> None:
    path = tmp_path / "open.wav"
    samples = (np.arange(1000) % 100).astype(np.int16)
    with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as f:
        f.write(samples)
        f.flush()
        f.write(samples)  # written after the header was last updated
        raw = path.read_bytes()
        snap = wav_snapshot(path)
    assert struct.unpack_from("<I", snap, 4)[0] == len(snap) - 8
    data, _ = sf.read(__import__("io").BytesIO(snap), dtype="int16")
    assert len(data) >= 1000 and len(raw) == len(snap)


def test_callbacks_are_retried_with_backoff_then_delivered_in_order() -> None:
    receiver = CallbackReceiver(fail_first=2).start()
    outcomes: list[tuple[int, str]] = []
    dispatcher = CallbackDispatcher(attempts=4, backoff_s=0.01, timeout_s=2, workers=2)
    dispatcher.start()
    try:
        for i in range(5):
            dispatcher.submit(Delivery(
                url=f"{receiver.url}/cb", method="POST", params={"SequenceNumber": str(i)},
                auth_token=MAIN.auth_token, main_auth_token=MAIN.auth_token,
                on_done=lambda status, detail, i=i: outcomes.append((i, status))))
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.stop()
        receiver.stop()
    got = [r.params["SequenceNumber"] for r in receiver.snapshot()]
    assert got == ["0", "1", "2", "3", "4"]  # per URL, in order, despite the failed attempts
    assert (0, "retrying") in outcomes and (0, "delivered") in outcomes
    for r in receiver.snapshot():
        assert validate_v3_signature("POST", r.url, r.headers["X-Plivo-Signature-V3-Nonce"],
                                     MAIN.auth_token, r.headers["X-Plivo-Signature-V3"], r.params)


def test_a_dead_receiver_is_given_up_and_a_full_queue_drops_without_blocking() -> None:
    outcomes: list[str] = []
    dispatcher = CallbackDispatcher(max_pending=2, attempts=2, backoff_s=0.01, timeout_s=0.5,
                                    workers=1)
    dead = "http://127.0.0.1:9/cb"  # nothing listens on the discard port
    for _ in range(3):
        dispatcher.submit(Delivery(url=dead, method="GET", params={}, auth_token="t",
                                   main_auth_token="t",
                                   on_done=lambda status, detail: outcomes.append(status)))
    assert outcomes == ["dropped"]  # the third did not fit; submit did not wait
    dispatcher.start()
    try:
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.stop()
    assert outcomes.count("failed") == 2


def test_a_callback_url_that_cannot_be_parsed_fails_alone_and_no_worker_dies() -> None:
    """Deliveries built from URLs the request check would refuse (made here directly): each
    fails as a delivery; the one worker goes on to deliver the next."""
    receiver = CallbackReceiver().start()
    outcomes: list[tuple[str, str]] = []
    dispatcher = CallbackDispatcher(attempts=1, backoff_s=0.01, timeout_s=2, workers=1)
    dispatcher.start()
    try:
        for url in ("http://[::1", "http://a\ud800/", "://", f"{receiver.url}/ok"):
            dispatcher.submit(Delivery(
                url=url, method="POST", params={"EventName": "X\ud800" if "a" in url else "X"},
                auth_token=MAIN.auth_token, main_auth_token=MAIN.auth_token,
                on_done=lambda status, detail, url=url: outcomes.append((url, status))))
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.stop()
        receiver.stop()
    assert [status for _, status in outcomes] == ["failed", "failed", "failed", "delivered"]
    assert [r.path for r in receiver.snapshot()] == ["/ok"]


def test_one_accounts_slow_receiver_does_not_delay_another_accounts_callbacks() -> None:
    from tests.reliability_server.receivers import Receiver

    slow, fast = Receiver(delay_s=3).start(), CallbackReceiver().start()
    dispatcher = CallbackDispatcher(max_pending=5, attempts=1, timeout_s=10, workers=1)
    dispatcher.start()
    outcomes: list[str] = []
    try:
        for i in range(8):  # more than the slow account's queue holds: the rest are dropped
            dispatcher.submit(Delivery(url=f"{slow.url}/slow/{i}", method="POST", params={},
                                       auth_token="t", main_auth_token="t", account="A",
                                       on_done=lambda status, detail: outcomes.append(status)))
        dispatcher.submit(Delivery(url=f"{fast.url}/fast", method="POST", params={},
                                   auth_token="t", main_auth_token="t", account="B"))
        got = fast.wait_for(lambda r: r.path == "/fast", timeout_s=2)  # not behind 3 s x 5
        assert got and dispatcher.pending("A") > 0
    finally:
        dispatcher.stop(timeout_s=0.5)
        slow.stop()
        fast.stop()
    assert outcomes.count("dropped") == 3
