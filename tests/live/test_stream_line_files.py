"""Stream lines in files: `mpcmix render` refuses them (exit 2: no live peer), `mpcmix serve`
refuses a stream line that breaks a documented rule (exit 2, naming the line and the rule)."""

from __future__ import annotations

import subprocess
import sys

import pytest

BOT = '{stream: {url: "ws://127.0.0.1:9/bot", content_type: "audio/x-mulaw;rate=8000", bidirectional: true}}'


def _mpcmix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mpcmix.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_render_refuses_a_stream_line(tmp_path):
    scenario = tmp_path / "bot.yaml"
    scenario.write_text(f"""mpc: m
lines:
  "+1": {BOT}
events:
  - {{at: 0, op: add_participant, role: agent, from: "+0", to: "+1"}}
  - {{at: 1, op: end}}
""")
    done = _mpcmix("render", str(scenario), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "line '+1' is a stream line: a render has no live peer" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("stream", "rule"), [
    ('{url: "ws://h/b", bidirectional: true, audio_track: both}',
     "a bidirectional stream takes the inbound audio_track only"),
    ('{url: "http://h/b"}', "url must be a ws:// or wss:// URL"),
    ('{url: "ws://h/b", content_type: "audio/x-alaw;rate=8000"}', "content_type"),
    ('{url: "ws://h/b", extra_headers: "a=1;b=2"}', "extra_headers must be key=value pairs"),
])
def test_serve_refuses_a_stream_line_that_breaks_a_rule(tmp_path, stream, rule):
    lines = tmp_path / "lines.yaml"
    lines.write_text(f'"+1": {{stream: {stream}}}\n')
    done = _mpcmix("serve", "--port", "0", "--lines", str(lines), "--data-dir",
                   str(tmp_path / "data"))
    assert done.returncode == 2, done.stderr
    assert "line '+1'" in done.stderr and rule in done.stderr
