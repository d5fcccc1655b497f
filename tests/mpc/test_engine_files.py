"""The call engine's files: every stream of a render lines up; a server's engine lets go of the
files of MPCs that have ended."""

from __future__ import annotations

import soundfile as sf
from mpcmix.engine import CallEngine
from mpcmix.media import MediaLibrary
from mpcmix.model import CallModel, Line

from ..audio_checks import FIXTURES

SR = 16000


def _engine(tmp_path, **options) -> CallEngine:
    media = MediaLibrary(FIXTURES, SR)
    lines = {"+100": Line("voices/customer.wav", 0), "+101": Line("voices/agent.wav", 0)}
    model = CallModel("MAMPCMIXEMULATOR0001", lines=lines, media=media)
    return CallEngine(model, media, tmp_path / "out", sample_rate=SR, **options)


def _call(engine: CallEngine, name: str, at_ms: int) -> None:
    engine.advance_to(at_ms)
    for who, role, to in (("c", "customer", "+100"), ("a", "agent", "+101")):
        engine.model.add_participant(at_ms, friendly_name=name, label=f"{who}-{name}", role=role,
                                     **{"from": "+1", "to": to})
    engine.settle(at_ms)


def _one_ended_one_live(engine: CallEngine) -> None:
    """MPC "one" from 0 to 1 s, MPC "two" from 2 s; the engine brought to 3 s."""
    _call(engine, "one", 0)
    engine.advance_to(1000)
    engine.model.end(1000, friendly_name="one")
    engine.settle(1000)
    _call(engine, "two", 2000)
    engine.advance_to(3000)


def test_a_server_engine_closes_the_files_of_ended_mpcs(tmp_path):
    engine = _engine(tmp_path, close_ended_listeners=True)
    _one_ended_one_live(engine)
    assert sorted(engine.outputs.open_streams()) == ["a-two", "c-two"]
    assert sf.info(engine.listener_path("c-one")).frames == SR  # complete up to the end
    engine.close()
    assert sf.info(engine.listener_path("c-two")).frames == 3 * SR


def test_a_render_engine_lines_every_stream_up_at_close(tmp_path):
    engine = _engine(tmp_path)
    _one_ended_one_live(engine)
    engine.close()
    assert {sf.info(engine.listener_path(n)).frames for n in ("c-one", "a-one", "c-two")} == {3 * SR}
