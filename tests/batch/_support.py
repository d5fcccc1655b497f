"""Tiny scenarios for the batch tests: three voices, 2-3 s of audio, written into a folder."""

from __future__ import annotations

from pathlib import Path

VOICES = Path(__file__).resolve().parents[2] / "fixtures" / "voices"

#: A coaching call of `end` seconds: the supervisor joins at ${coach_at} with ${coach_mode}.
TEMPLATE = f"""\
mpc: tiny
lines:
  "+100": {{audio: {VOICES}/customer.wav}}
  "+101": {{audio: ${{voice}}}}
  "+102": {{audio: {VOICES}/supervisor.wav}}
events:
  - {{at: 0, op: add_participant, as: customer, role: customer, from: "+1", to: "+100"}}
  - {{at: 0, op: add_participant, as: agent, role: agent, from: "+1", to: "+101"}}
  - {{at: 0.2, op: start_recording, file_format: wav}}
  - {{at: ${{coach_at}}, op: add_participant, as: boss, role: supervisor, coach_mode: ${{coach_mode}},
     from: "+1", to: "+102"}}
  - {{at: 2, op: end}}
expect:
  - {{never_hears: [customer, boss]}}
  - {{hears: [agent, boss], during: [${{coach_at}}, 2]}}
"""


def write_grid(folder: Path, *, voices: tuple[str, ...] = ("agent", "customer"),
               coach_at: tuple[float, ...] = (0.5, 1), coach_mode: tuple[bool, ...] = (True,),
               name: str = "tiny") -> Path:
    """A template and its grid in `folder`; the grid's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(TEMPLATE)
    values = ", ".join(f"{VOICES}/{v}.wav" for v in voices)
    grid = folder / f"{name}.grid.yaml"
    grid.write_text(f"template: {name}.yaml\nvars:\n  voice: [{values}]\n"
                    f"  coach_at: [{', '.join(map(str, coach_at))}]\n"
                    f"  coach_mode: [{', '.join(str(m).lower() for m in coach_mode)}]\n")
    return grid


def write_leak(folder: Path) -> Path:
    """A supervisor without coach mode in a scenario expecting the customer never hears it."""
    path = folder / "leak.yaml"
    path.write_text(TEMPLATE.replace("${voice}", f"{VOICES}/agent.wav").replace("${coach_at}", "1")
                    .replace("${coach_mode}", "false").replace("mpc: tiny", "mpc: leak"))
    return path


def write_broken(folder: Path) -> dict[str, str]:
    """Broken scenarios, by file stem: what each one's error names."""
    (folder / "typo.yaml").write_text("mpc: x\nevents: [{at: 0, op: add_participantt}]\n")
    (folder / "rule.yaml").write_text(
        TEMPLATE.replace("${voice}", f"{VOICES}/agent.wav").replace("${coach_at}", "1")
        .replace("${coach_mode}", "true")
        .replace("  - {at: 2, op: end}",
                 "  - {at: 1.5, op: update_participant, member: customer, coach_mode: true}\n"
                 "  - {at: 2, op: end}"))
    (folder / "nosuchvoice.yaml").write_text(
        TEMPLATE.replace("${voice}", f"{VOICES}/nobody.wav").replace("${coach_at}", "1")
        .replace("${coach_mode}", "true"))
    return {"typo": "unknown operation 'add_participantt'",
            "rule": "coach_mode applies only to supervisors",
            "nosuchvoice": "nobody.wav"}
