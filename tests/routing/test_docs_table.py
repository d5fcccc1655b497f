"""docs/routing.md's voice table is the code's `VOICE_TABLE`, cell for cell."""

from __future__ import annotations

from pathlib import Path

from mpcmix.routing.rules import VOICE_TABLE, ListenerKind, SpeakerKind

DOC = Path(__file__).resolve().parents[2] / "docs" / "routing.md"


def _doc_table() -> dict[str, dict[str, bool]]:
    lines = [line for line in DOC.read_text(encoding="utf-8").splitlines()
             if line.startswith("| ")]
    head = [cell.strip() for cell in lines[0].strip("|").split("|")]
    table = {}
    for line in lines[1:]:
        cells = [cell.strip().strip("*") for cell in line.strip("|").split("|")]
        if cells[0] in {kind.value for kind in SpeakerKind}:
            table[cells[0]] = {listener: cell.split()[-1] == "yes"
                               for listener, cell in zip(head[1:], cells[1:], strict=True)}
    return table


def test_the_documented_voice_table_is_the_one_routing_applies():
    code = {speaker.value: {listener.value: allowed for listener, allowed in row.items()}
            for speaker, row in VOICE_TABLE.items()}
    assert _doc_table() == code
    assert set(code[SpeakerKind.CUSTOMER.value]) == {kind.value for kind in ListenerKind}
