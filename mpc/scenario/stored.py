"""A render's own copy of its scenario: ``DIR/scenario.json``, resolved, so DIR can be re-rendered.

`mpcmix render` stores the scenario it rendered beside the output, in the scenario-file shape (docs/scenarios.md), with
every audio reference made absolute (a line's `audio`, the music, sound and Play URLs): `mpcmix
report DIR` re-renders it to measure who heard whom, and ``mpcmix render DIR/scenario.json``
works from anywhere. Built-in references (``beep:1``, ``none``, ``default:wait``), URLs and
absolute paths are kept as written. The audio files themselves are not copied: a report on a
folder whose audio has moved stops with a message naming the missing file.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import urlsplit

from mpcmix.errors import ScenarioError

from .load import LoadedScenario, ScenarioEvent, load_scenario

#: The file name of a render's stored scenario.
SCENARIO_FILE = "scenario.json"

#: Event parameters that name audio (docs/scenarios.md: music and enter/exit sound URLs, Play's urls).
MEDIA_PARAMS = frozenset({
    "wait_music_url", "agent_hold_music_url", "customer_hold_music_url", "enter_sound",
    "exit_sound", "confirm_key_sound_url", "url", "urls",
})


def scenario_to_json(scenario: LoadedScenario) -> dict[str, Any]:
    """`scenario` as a JSON-ready dict in the scenario-file shape (docs/scenarios.md), audio
    references made absolute."""
    base = scenario.base_dir.absolute()
    lines: dict[str, Any] = {}
    for number, line in scenario.lines.items():
        spec: dict[str, Any] = {}
        if line.audio is not None:
            spec["audio"] = _absolute(line.audio, base)
        spec["answer_after"] = "never" if line.answer_after_s is None else _seconds(line.answer_after_s)
        lines[number] = spec
    out: dict[str, Any] = {
        "mpc": scenario.mpc,
        "sample_rate": scenario.sample_rate,
        "frame_ms": scenario.frame_ms,
        "seed": scenario.seed,
        "epoch": scenario.epoch.isoformat(sep=" "),
        "auth_id": scenario.auth_id,
        "rate_per_minute": scenario.rate_per_minute,
        "description": f"resolved copy of {scenario.source}",
        "lines": lines,
        "events": [_event(e, base) for e in scenario.events],
    }
    if scenario.expectations:
        out["expect"] = [x.as_dict() for x in scenario.expectations]
    return out


def write_scenario_json(scenario: LoadedScenario, out_dir: str | Path) -> Path:
    """Write ``out_dir/scenario.json`` (see the module docstring); its path."""
    path = Path(out_dir) / SCENARIO_FILE
    with open(path, "w", encoding="utf-8") as f:
        json.dump(scenario_to_json(scenario), f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
    return path


def load_stored_scenario(render_dir: str | Path) -> LoadedScenario:
    """The scenario stored in a render folder (ScenarioError if the folder has none)."""
    path = Path(render_dir) / SCENARIO_FILE
    if not path.is_file():
        raise ScenarioError(
            f"{render_dir}: no {SCENARIO_FILE} (is it a folder written by `mpcmix render`?)"
        )
    return load_scenario(path)


def _event(event: ScenarioEvent, base: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"at": _seconds(event.at_s), "op": event.op}
    for key, value in (("as", event.as_name), ("member", event.member),
                       ("friendly_name", event.friendly_name), ("uuid", event.uuid),
                       ("expect_error", event.expect_error)):
        if value is not None:
            out[key] = value
    for key, value in event.params.items():
        out[key] = _media(value, base) if key in MEDIA_PARAMS else value
    return out


def _seconds(value: Fraction) -> float | str:
    """A time as JSON: a float when it reads back as the same fraction, else "p/q" (exact)."""
    as_float = float(value)
    return as_float if Fraction(str(as_float)) == value else str(value)


def _media(value: Any, base: Path) -> Any:
    if isinstance(value, str):
        return _absolute(value, base)
    if isinstance(value, list):
        return [_absolute(v, base) if isinstance(v, str) else v for v in value]
    return value


def _absolute(ref: str, base: Path) -> str:
    """A relative path made absolute against `base`; anything else (a URL, ``beep:1``) as is."""
    scheme = urlsplit(ref).scheme
    if ref in ("", "none") or (scheme and len(scheme) > 1) or PurePath(ref).is_absolute():
        return ref
    return str(base / ref)
