"""The HTTP server: Plivo's Multiparty Call API, answered by mpcmix's call engine (docs/server.md).

`serve_main(argv) -> int` runs `mpcmix serve`; `build_app(config) -> FastAPI` gives the ASGI app
for a `ServerConfig` (see `load_config`). Imported lazily so that `import mpcmix.server` alone does
not pull in FastAPI.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "build_app": "mpcmix.server.app",
    "serve_main": "mpcmix.server.main",
    "ServerConfig": "mpcmix.server.config",
    "Account": "mpcmix.server.config",
    "ConfigError": "mpcmix.server.config",
    "load_config": "mpcmix.server.config",
    "sign_v3": "mpcmix.server.callbacks",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mpcmix.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
