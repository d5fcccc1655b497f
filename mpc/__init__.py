"""mpcmix: hear, test and benchmark what every party of a Multiparty Call hears, offline.

The package is light to import: the names below are loaded on first use (PEP 562), so that
``import mpcmix.routing`` does not pull in numpy, the mixer or the server.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "MpcError": "mpcmix.errors",
    "ValidationError": "mpcmix.errors",
    "NotFoundError": "mpcmix.errors",
    "MediaError": "mpcmix.errors",
    "ScenarioError": "mpcmix.errors",
    "Scenario": "mpcmix.api",
    "Render": "mpcmix.api",
    "render": "mpcmix.api",
    "render_many": "mpcmix.batch",
    "LoadedScenario": "mpcmix.scenario",
    "load_scenario": "mpcmix.scenario",
    "render_scenario": "mpcmix.scenario",
    "state_timeline": "mpcmix.analysis.timeline",
    "CallModel": "mpcmix.model",
    "CallEngine": "mpcmix.engine",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mpcmix' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
