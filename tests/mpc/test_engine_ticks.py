"""The call engine advanced one frame at a time (as the server's real-time clock does) writes the
same files and the same events, byte for byte, as one advanced in long blocks (a render): the
mixer's ticks, gathered writes, voices read ahead and speech judged per tick change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mpcmix import engine as engine_module
from mpcmix.scenario import render_scenario

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("frame_ms", [20, 60])
def test_ticking_the_bundled_coaching_call_equals_rendering_it(tmp_path, monkeypatch, frame_ms):
    doc = yaml.safe_load((FIXTURES / "scenarios" / "coaching.yaml").read_text())
    for event in doc["events"]:  # everyone's speak events (and state changes) to compare too
        if event["op"] == "add_participant":
            event["status_callback_url"] = "https://example.com/status"
            event["status_callback_events"] = "participant-speak-events,participant-state-changes"
    scenario = tmp_path / "scenarios" / "coaching.yaml"
    scenario.parent.mkdir()
    for kind in ("voices", "music"):
        (tmp_path / kind).symlink_to(FIXTURES / kind)
    scenario.write_text(yaml.safe_dump(doc))
    render_scenario(scenario, tmp_path / "blocks")
    original = engine_module.CallEngine._render_until

    def one_frame_at_a_time(self, t_ms: int) -> None:
        while self.now_ms < t_ms:
            original(self, min(t_ms, self.now_ms + frame_ms))

    monkeypatch.setattr(engine_module.CallEngine, "_render_until", one_frame_at_a_time)
    render_scenario(scenario, tmp_path / "ticks")
    blocks, ticks = _files(tmp_path / "blocks"), _files(tmp_path / "ticks")
    assert blocks.keys() == ticks.keys()
    assert blocks["events.jsonl"].count(b"ParticipantSpeakStart") >= 3, "speak events to compare"
    for name in blocks:
        assert blocks[name] == ticks[name], name
