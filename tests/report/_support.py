"""Shared by the report tests: paths, a small scenario builder over the fixture voices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
COACHING = FIXTURES / "scenarios" / "coaching.yaml"
FROM = "+14155550000"
NUMBERS = {"customer": "+14155550100", "agent": "+14155550101", "boss": "+14155550102"}
VOICES = {"customer": "voices/customer.wav", "agent": "voices/agent.wav", "boss": "voices/supervisor.wav"}
ROLES = {"customer": "customer", "agent": "agent", "boss": "supervisor"}


def three_party(events: list[dict[str, Any]], *, answer_after: dict[str, float] | None = None,
                mpc: str = "probe") -> dict[str, Any]:
    """A scenario dict (the scenario-file shape, absolute fixture paths): customer, agent and
    boss lines, and `events` after the adds (which the caller includes)."""
    answer_after = answer_after or {}
    return {
        "mpc": mpc,
        "lines": {NUMBERS[n]: {"audio": str(FIXTURES / VOICES[n]), "answer_after": answer_after.get(n, 0)}
                  for n in NUMBERS},
        "events": events,
    }


def add(at: float, name: str, **params: Any) -> dict[str, Any]:
    """An add_participant event for one of the three fixture parties."""
    return {"at": at, "op": "add_participant", "as": name, "role": ROLES[name], "from": FROM,
            "to": NUMBERS[name], **params}
