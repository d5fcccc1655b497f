"""`mpcmix inspect` on the bundled coaching scenario, held against docs/routing.md cell by cell."""

from __future__ import annotations

import re

import pytest
from mpcmix.cli import main

from ._support import COACHING

# docs/routing.md, "Who hears whom", written out again here (not imported from routing): speaker row ->
# listener column -> allowed.
SPEC_TABLE = {
    "customer": {"customer": True, "agent": True, "supervisor": True, "recording": True},
    "agent": {"customer": True, "agent": True, "supervisor": True, "recording": True},
    "supervisor": {"customer": True, "agent": True, "supervisor": True, "recording": True},
    "coaching supervisor": {"customer": False, "agent": True, "supervisor": False, "recording": True},
}
ROLES = {"customer": "customer", "agent": "agent", "boss": "supervisor"}

# fixtures/scenarios/coaching.yaml, read by hand: at each time, who is in conference (answered,
# MPC Active, not held), who is muted, whether the supervisor coaches. The customer answers at 0
# and waits (Initialized) until the agent answers at 1 s; the supervisor joins coaching at 4 s.
STATES = {
    0.5: {"present": ["customer", "agent"], "in_conference": [], "muted": [], "coaching": False},
    3: {"present": ["customer", "agent"], "in_conference": ["customer", "agent"], "muted": [],
        "coaching": False},
    5: {"present": ["customer", "agent", "boss"], "in_conference": ["customer", "agent", "boss"],
        "muted": [], "coaching": True},
    6.5: {"present": ["customer", "agent", "boss"], "in_conference": ["customer", "agent", "boss"],
          "muted": ["agent"], "coaching": True},
    10: {"present": ["customer", "agent", "boss"], "in_conference": ["customer", "agent", "boss"],
         "muted": [], "coaching": False},
    13: {"present": ["customer", "agent", "boss"], "in_conference": ["agent", "boss"], "muted": [],
         "coaching": False},
    16: {"present": ["customer", "agent", "boss"], "in_conference": ["customer", "agent", "boss"],
         "muted": [], "coaching": False},
    19: {"present": ["customer", "agent", "boss"], "in_conference": ["agent", "boss"], "muted": [],
         "coaching": False},
}

CELL = re.compile(r"^(\S+) <- (\S+): (yes|no), (.+)$")


def _expected(state: dict) -> dict[tuple[str, str], bool]:
    cells = {}
    for speaker in state["present"]:
        row = "coaching supervisor" if speaker == "boss" and state["coaching"] else ROLES[speaker]
        for listener in [*state["present"], "recording"]:
            column = "recording" if listener == "recording" else ROLES[listener]
            cells[(listener, speaker)] = (
                listener != speaker
                and speaker in state["in_conference"]
                and (listener == "recording" or listener in state["in_conference"])
                and speaker not in state["muted"]
                and SPEC_TABLE[row][column]
            )
    return cells


def _inspect(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["inspect", str(COACHING), *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("at", sorted(STATES))
def test_inspect_at_a_time_matches_spec_section_1_cell_by_cell(capsys, at):
    status, out, _ = _inspect(capsys, "--at", str(at))
    assert status == 0
    cells = {}
    reasons = {}
    for line in out.splitlines():
        m = CELL.match(line)
        if m and ":" not in m.group(2):  # voices (music and cues are named by label)
            cells[(m.group(1), m.group(2))] = m.group(3) == "yes"
            reasons[(m.group(1), m.group(2))] = m.group(4)
    assert cells == _expected(STATES[at])
    # the grid above says the same
    lines = out.splitlines()
    header = lines[2].split()[3:]  # after "listener \ source"
    for row in lines[3:3 + len(STATES[at]["present"]) + 1]:
        listener, *marks = row.split()
        for source, mark in zip(header, marks, strict=False):
            if (listener, source) in cells:
                assert (mark == "yes") == cells[(listener, source)], (listener, source)
    if at == 5:
        assert reasons[("customer", "boss")] == "boss is coaching (heard by agents only)"
        assert reasons[("customer", "customer")] == "customer does not hear its own voice (mix-minus)"
    if at == 6.5:
        assert reasons[("customer", "agent")] == "agent is muted"
    if at == 13:
        assert reasons[("agent", "customer")] == "customer is not in conference (on hold)"
    if at == 0.5:
        assert "customer <- wait_music:customer: yes, customer hears its wait music (the MPC is Initialized)" in out


def test_inspect_a_listener_and_a_source_gives_the_spans_and_what_began_and_ended_them(capsys):
    status, out, _ = _inspect(capsys, "--listener", "customer", "--source", "boss")
    assert status == 0
    assert out.splitlines() == [
        "customer <- boss: heard in 2 spans",
        "  9–12 s: boss is heard (supervisor voice, coach_mode=false reaches customer)",
        "    began at 9 s: update_participant at 9 s (event 7): member=boss coach_mode=False; "
        "events: ParticipantCoachModeStop (boss); before: boss is coaching (heard by agents only)",
        "    ended at 12 s: update_participant at 12 s (event 8): member=customer hold=True; "
        "events: ParticipantHold (customer); now: customer is not in conference (on hold)",
        "  15–18 s: boss is heard (supervisor voice, coach_mode=false reaches customer)",
        "    began at 15 s: update_participant at 15 s (event 9): member=customer hold=False; "
        "events: ParticipantUnhold (customer); before: customer is not in conference (on hold)",
        "    ended at 18 s: hangup at 18 s (event 11): member=customer; events: ParticipantExit "
        "(customer); now: customer is not in conference (exited)",
    ]


def test_inspect_says_why_a_source_is_never_heard(capsys):
    status, out, _ = _inspect(capsys, "--listener", "boss", "--source", "boss")
    assert status == 0
    assert out.splitlines()[0] == "boss <- boss: never heard"
    assert "  4–20 s: boss does not hear its own voice (mix-minus)" in out.splitlines()


def test_inspect_reads_a_render_folder_too(capsys, coaching_report):
    assert main(["inspect", str(coaching_report), "--at", "5", "--listener", "agent",
                 "--source", "voice:boss"]) == 0
    out = capsys.readouterr().out
    assert "agent <- boss: yes, boss is heard (supervisor voice, coach_mode=true reaches agent)" in out
    assert "agent <- boss: heard in 1 span\n  4–20 s:" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--listener", "nobody", "--source", "boss"], "--listener 'nobody': not a listener of this "
                                                   "scenario (listeners: customer, agent, boss, recording)"),
    (["--listener", "agent", "--source", "ghost"], "--source 'ghost': not a source of this scenario"),
    (["--listener", "agent"], "give --listener and --source together"),
    ([], "give --at T, or --listener X --source Y, or both"),
    (["--at", "soon"], "--at must be a time in seconds, not 'soon'"),
])
def test_inspect_refuses_what_it_cannot_answer_with_status_2(capsys, args, message):
    status, _, err = _inspect(capsys, *args)
    assert status == 2
    assert message in err


def test_inspect_after_the_end_says_so(capsys):
    status, out, _ = _inspect(capsys, "--at", "25")
    assert status == 0
    assert out == "coaching_demo at 25 s: the scenario has ended (at 20 s); nobody hears anything\n"
