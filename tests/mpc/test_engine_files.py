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


def _overlapping(engine: CallEngine, step_ms: int | None) -> None:
    """MPCs "one" (0-1.5 s, recorded), "two" (from 0.5 s), "three" (from 1 s, a member muted at
    2 s); to 3 s, one frame at a time (`step_ms`) or from operation to operation."""

    def to(t_ms: int) -> None:
        while step_ms is not None and engine.now_ms + step_ms < t_ms:
            engine.advance_to(engine.now_ms + step_ms)
        engine.advance_to(t_ms)

    _call(engine, "one", 0)
    engine.model.start_recording(0, friendly_name="one", file_format="wav")
    engine.settle(0)
    to(500)
    _call(engine, "two", 500)
    to(1000)
    _call(engine, "three", 1000)
    to(1500)
    engine.model.end(1500, friendly_name="one")
    engine.settle(1500)
    to(2000)
    engine.model.update_participant(2000, "c-three", friendly_name="three", mute=True)
    engine.settle(2000)
    to(3000)
    engine.close()


def test_a_server_engine_ticking_frame_by_frame_writes_what_blocks_write(tmp_path):
    """Several MPCs coming and going, files fed through the tick ring, against long blocks."""
    files = {}
    for name, step in (("ticks", 20), ("blocks", None)):
        engine = _engine(tmp_path / name, close_ended_listeners=True, listener_origin="mpc",
                         kernel="auto")
        _overlapping(engine, step)
        out = tmp_path / name / "out"
        files[name] = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
                       if p.is_file()}
    assert len(files["ticks"]) == 7  # six listener streams, one recording
    assert files["ticks"] == files["blocks"]
