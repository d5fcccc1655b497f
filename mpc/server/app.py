"""The FastAPI application: Plivo's Multiparty Call endpoints plus the emulator's own.

Thin by design: each endpoint authenticates, reads its arguments (JSON, form or query), calls the
account's `AccountRuntime` (which calls the call model), and formats the answer. The pieces:
`state` (accounts, clock, ticker), `routes` (the API, from the parameter table), `downloads`,
`emulator` (/emulator/...), `http` (reading requests, the API's error JSON), `middleware`,
`openapi` (the document, generated from the table).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from mpcmix import __version__
from mpcmix.errors import AuthenticationError, MpcError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .config import ServerConfig
from .console import add_console_routes
from .downloads import add_download_routes
from .emulator import add_emulator_routes
from .http import api_error
from .middleware import BodyLimit, NoServerErrors, TrailingSlash
from .openapi import install as install_openapi
from .routes import add_api_routes
from .state import ServerState
from .streamapi import add_stream_routes


def build_app(config: ServerConfig) -> FastAPI:
    """The ASGI application serving `config`'s accounts (threads start with its lifespan)."""
    state = ServerState(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, state.stop)

    app = FastAPI(
        title="mpcmix: Plivo Multiparty Call emulator",
        version=__version__,
        description=(
            "Plivo's Multiparty Call REST API under /v1/Account/{auth_id}/MultiPartyCall/, "
            "answered by a local call model that mixes what every participant hears; plus "
            "emulator-only endpoints under /emulator/. HTTP Basic auth with auth_id:auth_token. "
            "Errors are {\"api_id\": ..., \"error\": ...} with 400/401/404/405."
        ),
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.mpcmix = state

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
            # Starlette names only the first route that matched; each method is its own route.
            allowed = _allowed_methods(app, request.scope)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        elif exc.status_code == 404:
            message = f"no such resource: {request.url.path}"
        else:
            message = str(exc.detail)
        return api_error(exc.status_code, message, headers)

    @app.exception_handler(MpcError)
    async def mpc_error(_request: Request, exc: MpcError) -> Response:
        return api_error(exc.status, exc.message)

    add_api_routes(app, state)
    add_download_routes(app, state)
    add_emulator_routes(app, state)
    add_stream_routes(app, state)
    add_console_routes(app, state)
    install_openapi(app)
    app.add_middleware(TrailingSlash)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(NoServerErrors)
    return app


def _allowed_methods(app: FastAPI, scope: MutableMapping[str, Any]) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(scope)
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods |= set(route_methods)
    return sorted(methods)


__all__ = ["AuthenticationError", "ServerState", "api_error", "build_app"]
