"""Scenarios: timed scripts of API operations, loaded, checked and played through a call engine.

- `load`: a scenario file (YAML or JSON) or dict checked into a `LoadedScenario`
  (`load_scenario`, `scenario_from_dict`; the lines, `parse_lines`);
- `driver`: `ScenarioDriver`, which plays a scenario through an engine and reports to a sink,
  and `scenario_engine`, the engine a scenario runs on;
- `folder`: `render_scenario`, the atomic render folder of `mpcmix render`;
- `stored`: a render's own ``scenario.json``.

Docs: docs/scenarios.md (the format), docs/semantics.md (Scenarios, The output folder).
"""

from __future__ import annotations

from .driver import CollectingSink, ScenarioDriver, ScenarioSink, scenario_engine
from .folder import RenderSummary, render_scenario
from .load import (
    API_OPS,
    FAR_END_OPS,
    LOOKUP_OPS,
    MEMBER_OPS,
    RECORDING_LISTENER,
    STREAM_TAG,
    Expectation,
    LineSpec,
    LoadedScenario,
    ScenarioEvent,
    frame_boundary_ms,
    load_scenario,
    parse_lines,
    scenario_from_dict,
    scenario_from_text,
    stream_lines,
    to_model_lines,
)
from .stored import SCENARIO_FILE, load_stored_scenario, write_scenario_json

__all__ = [
    "API_OPS",
    "FAR_END_OPS",
    "LOOKUP_OPS",
    "MEMBER_OPS",
    "RECORDING_LISTENER",
    "SCENARIO_FILE",
    "STREAM_TAG",
    "CollectingSink",
    "Expectation",
    "LineSpec",
    "LoadedScenario",
    "RenderSummary",
    "ScenarioDriver",
    "ScenarioEvent",
    "ScenarioSink",
    "frame_boundary_ms",
    "load_scenario",
    "load_stored_scenario",
    "parse_lines",
    "render_scenario",
    "scenario_engine",
    "scenario_from_dict",
    "scenario_from_text",
    "stream_lines",
    "to_model_lines",
    "write_scenario_json",
]
