"""The server's engine with many MPCs changing one at a time: its span plan is changed in place
for the MPCs that changed (`CallEngine._plan_span`), the mixer's cohorts grow, move and are laid
out again (`LiveMixer`), and at every change the plan is checked against one laid out from
scratch (`CallEngine.verify_plan`, set for the whole suite in tests/conftest.py). The files written
one frame at a time equal those written in long blocks between the same operations, byte for byte,
and a coaching supervisor is never heard by a customer."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mpcmix.errors import MpcError
from mpcmix.scenario import parse_lines
from mpcmix.server.config import Account, ServerConfig
from mpcmix.server.media import server_media
from mpcmix.server.runtime import account_engine

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CUSTOMER, AGENT, SUPERVISOR = "+14155550100", "+14155550101", "+14155550102"
LINES = parse_lines({CUSTOMER: {"audio": "voices/customer.wav"}, AGENT: {"audio": "voices/agent.wav"},
                     SUPERVISOR: {"audio": "voices/supervisor.wav"}}, "test lines")
ACCOUNT = Account("MAINCREMENTAL0000001", "x" * 32)
FRAME_MS = 20


def _operations(seed: int, n: int = 240) -> list[tuple[int, str, dict]]:
    """(frame, op, args): MPCs opened over time (customer, agent, coaching supervisor, recorded),
    then mutes, holds, coaching, participant recordings, pauses, kicks and ends at random."""
    rng = random.Random(seed)
    ops: list[tuple[int, str, dict]] = []
    frame = 0
    for i in range(n):
        frame += rng.choice((0, 0, 1, 2))
        mpc = f"m{rng.randrange(max(1, i // 4 + 1))}"
        kind = rng.random()
        if i < 40 or kind < 0.2:
            name = f"m{i // 4}" if i < 40 else f"m{rng.randrange(12)}"
            ops.append((frame, "open", {"name": name}))
        elif kind < 0.45:
            ops.append((frame, "update", {"name": mpc, "role": rng.choice(("agent", "customer")),
                                          "set": rng.choice(("mute", "hold")),
                                          "value": rng.random() < 0.5}))
        elif kind < 0.55:
            ops.append((frame, "coach", {"name": mpc, "value": rng.random() < 0.5}))
        elif kind < 0.7:
            ops.append((frame, rng.choice(("pause", "resume", "stop", "start")), {"name": mpc}))
        elif kind < 0.8:
            ops.append((frame, "track", {"name": mpc}))
        elif kind < 0.9:
            ops.append((frame, "kick", {"name": mpc, "role": rng.choice(("agent", "customer"))}))
        else:
            ops.append((frame, "end", {"name": mpc}))
    return ops


def _run(tmp: Path, ops: list[tuple[int, str, dict]], one_frame: bool) -> Path:
    config = ServerConfig(accounts=(ACCOUNT,), clock="virtual", media_root=FIXTURES, lines=LINES,
                          data_dir=tmp, frame_ms=FRAME_MS)
    engine = account_engine(ACCOUNT, config, server_media(config, tmp), tmp / "out")
    model = engine.model

    def go(to_ms: int) -> None:
        if one_frame:
            while engine.now_ms < to_ms:
                engine.advance_to(engine.now_ms + FRAME_MS)
        else:
            engine.advance_to(to_ms)

    for frame, op, args in ops:
        now = frame * FRAME_MS
        go(now)
        name = args["name"]
        try:
            if op == "open":
                for role, to, extra in (("customer", CUSTOMER, {}), ("agent", AGENT, {}),
                                        ("supervisor", SUPERVISOR, {"coach_mode": True})):
                    model.add_participant(now, friendly_name=name, role=role, from_="+14155550000",
                                          to=to, **extra)
                model.start_recording(now, friendly_name=name, file_format="wav")
            elif op in ("update", "kick", "track", "coach"):
                role = "supervisor" if op == "coach" else args.get("role", "agent")
                members = model.list_participants(now, friendly_name=name)["objects"]
                member = next((m["member_id"] for m in members
                               if m["role"] == role and m["exit_time"] is None), None)
                if member is None:
                    continue
                if op == "update":
                    model.update_participant(now, member, friendly_name=name,
                                             **{args["set"]: args["value"]})
                elif op == "coach":
                    model.update_participant(now, member, friendly_name=name,
                                             coach_mode=args["value"])
                elif op == "kick":
                    model.kick_participant(now, member, friendly_name=name)
                else:
                    model.start_participant_recording(now, member, friendly_name=name,
                                                      file_format="wav", record_track_type="both")
            elif op == "end":
                model.end(now, friendly_name=name)
            else:
                getattr(model, f"{op}_recording")(now, friendly_name=name,
                                                  **({"file_format": "wav"} if op == "start" else {}))
        except MpcError:
            pass  # refused (ended, not recording, already paused): changes nothing
        engine.settle(now)
    go(ops[-1][0] * FRAME_MS + 600)
    engine.close()
    return tmp / "out"


@pytest.mark.parametrize("seed", [1, 2])
def test_many_mpcs_changing_one_at_a_time_write_what_long_blocks_write(tmp_path, seed):
    ops = _operations(seed)
    ticks = _run(tmp_path / "ticks", ops, one_frame=True)
    blocks = _run(tmp_path / "blocks", ops, one_frame=False)
    names = sorted(str(p.relative_to(ticks)) for p in ticks.rglob("*.wav"))
    assert names == sorted(str(p.relative_to(blocks)) for p in blocks.rglob("*.wav"))
    assert len([n for n in names if n.startswith("recordings")]) >= 12
    assert len([n for n in names if n.startswith("listeners")]) >= 60
    for name in names:
        assert (ticks / name).read_bytes() == (blocks / name).read_bytes(), name
    heard = [sf.read(ticks / name, dtype="int16")[0] for name in names if name.startswith("listeners")]
    assert sum(int(np.abs(x).max(initial=0)) > 0 for x in heard) >= len(heard) // 2  # audio flowed
