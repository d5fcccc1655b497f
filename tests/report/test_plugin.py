"""The pytest plugin, as a user meets it: a test file written only with its fixtures and helpers,
run by pytest in a subprocess (the plugin loads through its pytest11 entry point)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ._support import COACHING

PRIVACY_TEST = '''
from mpcmix.testing import assert_hears, assert_never_hears

def test_the_customer_never_hears_the_coach(render_scenario):
    call = render_scenario({scenario!r})
    assert_never_hears(call, "customer", "boss", during=(4, 9))  # the supervisor coaches 4-9 s
    assert_hears(call, "agent", "boss", during=(4, 9))
'''

SERVER_TEST = '''
import plivo.rest.client

BASE_URLS = [getattr(plivo.rest.client, name) for name in
             ("PLIVO_API_BASE_URI", "API_VOICE_BASE_URI", "API_VOICE_BASE_URI_FALLBACK_1",
              "API_VOICE_BASE_URI_FALLBACK_2")]

def test_the_sdk_drives_the_emulator(mpc_server, plivo_client):
    plivo_client.multi_party_calls.add_participant(
        role="agent", friendly_name="demo", from_="+14155550000", to_="+14155550101")
    assert mpc_server.advance(1.5) == 1.5
    mpc = plivo_client.multi_party_calls.get(friendly_name="demo")
    assert mpc.status == "Active" and mpc.friendly_name == "demo"

def test_the_sdk_base_urls_are_restored_afterwards():
    assert [getattr(plivo.rest.client, name) for name in
            ("PLIVO_API_BASE_URI", "API_VOICE_BASE_URI", "API_VOICE_BASE_URI_FALLBACK_1",
             "API_VOICE_BASE_URI_FALLBACK_2")] == BASE_URLS
    assert not any("127.0.0.1" in url for url in BASE_URLS)
'''


def test_a_privacy_test_written_with_the_plugin_passes_and_fails_with_a_readable_message(tmp_path):
    leaky = tmp_path / "leaky.yaml"  # the same call, but the supervisor joins not coaching
    text = COACHING.read_text().replace("coach_mode: true", "coach_mode: false")
    leaky.write_text(text.replace("../", f"{COACHING.parent.parent}/"))
    (tmp_path / "test_coaching.py").write_text(PRIVACY_TEST.format(scenario=str(COACHING)))
    (tmp_path / "test_leaky.py").write_text(PRIVACY_TEST.format(scenario=str(leaky)))
    (tmp_path / "test_server.py").write_text(SERVER_TEST)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_PLUGINS")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN", "--tb=short",
         "test_coaching.py", "test_leaky.py", "test_server.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed, 3 passed" in out, out
    failure = out[out.index("test_the_customer_never_hears_the_coach"):]
    assert "test_leaky.py:6: in test_the_customer_never_hears_the_coach" in failure, out
    message = re.search(r"E   AssertionError: (.*)", failure)
    assert message is not None, out
    assert re.fullmatch(
        r"customer heard boss at 4\.00–9\.00 s within 4–9 s, level -\d+\.\d dBFS; expected never\. "
        r"Measured: heard 4\.00–12\.00 s, 15\.00–18\.00 s at -\d+\.\d dBFS; the rules allow "
        r"4\.00–12\.00 s, 15\.00–18\.00 s\. Routing at 4\.00 s: yes, boss is heard \(supervisor "
        r"voice, coach_mode=false reaches customer\)\.", message.group(1)), message.group(1)
    assert "mpc/testing.py" not in failure  # the helper hides its own frame
    assert Path(tmp_path / "test_coaching.py").exists()
