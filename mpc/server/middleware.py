"""ASGI middleware of the server: trailing slashes, the body limit, and no 5xx ever.

The plivo SDK resends a POST three times on a 5xx, so an exception that escapes an endpoint is
answered as a 400 with the API's error JSON.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from .http import api_error, too_large

log = logging.getLogger("mpcmix.server")

_FILE_PATH = re.compile(r"\.(wav|mp3)$")


class TrailingSlash:
    """Serve API paths sent without their trailing slash as if they had it (no redirect)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if (path.startswith("/v1/Account/") and not path.endswith("/")
                    and not _FILE_PATH.search(path)):
                scope = dict(scope)
                scope["path"] = path + "/"
                if scope.get("raw_path"):
                    scope["raw_path"] = scope["raw_path"] + b"/"
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse a body declared larger than `max_bytes` (Content-Length) with 413 before reading
    it; a chunked body is counted as it is read (`_read_body`)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    try:
                        declared = int(value)
                    except ValueError:
                        declared = -1
                    if declared > self.max_bytes:
                        error = too_large(self.max_bytes)
                        response = api_error(error.status, error.message,
                                             {"Connection": "close"})
                        await response(scope, receive, send)
                        return
        await self.app(scope, receive, send)


class NoServerErrors:
    """Last line of defence: an exception that escapes an endpoint becomes a 400, never a 500."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.exception("unhandled error")
            if started:
                return
            response = api_error(400, f"mpcmix could not process this request "
                                      f"({type(exc).__name__}); see the server log")
            await response(scope, receive, send)
