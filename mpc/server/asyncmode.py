"""Asynchronous mode: any API request with `callback_url` is answered at once with
``{"api_id", "message": "async api spawned"}`` and its own answer is sent to `callback_url`.

The operation runs as it would without `callback_url` (so what it changes is changed when the
request returns); its answer, the body and the HTTP status the synchronous request would have
had, leaves through the account's callback queue, signed like every other callback
(docs/server.md, Asynchronous mode). A `callback_url` that is not an http(s) URL is refused (400)
before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse, Response
from mpcmix.errors import MpcError
from mpcmix.model.values import as_method, as_url, is_given

from .http import new_api_id
from .runtime import AccountRuntime

SPAWNED = "async api spawned"
#: The event-log name of an asynchronous answer sent to its callback_url.
ASYNC_RESPONSE = "AsyncAPIResponse"


def async_target(args: dict[str, Any]) -> tuple[str, str] | None:
    """(callback_url, method) when the request asks for asynchronous mode, else None; both
    are taken out of `args` (the operation itself does not use them)."""
    url = args.pop("callback_url", None)
    method = args.pop("callback_method", None)
    method = as_method("callback_method", method) if is_given(method) else "POST"
    if not is_given(url):
        return None
    return as_url("callback_url", url), method  # the one rule for callback URLs (values)


def callback_params(api_id: str, status: int, body: Any) -> dict[str, str]:
    """The answer as callback parameters: each field of the body (lists and objects as JSON
    text, null left out), its `api_id` the one the immediate answer gave, and `status_code`."""
    params: dict[str, str] = {}
    for key, value in (body or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[key] = "true" if value else "false"
        elif isinstance(value, dict | list):
            params[key] = json.dumps(value, separators=(",", ":"))
        else:
            params[key] = str(value)
    params["api_id"] = api_id
    params["status_code"] = str(status)
    return params


async def answer_async(runtime: AccountRuntime, target: tuple[str, str],
                       run: Callable[[], Awaitable[tuple[Any, int]]]) -> Response:
    """Run the operation, send its answer (or its refusal) to `target`, answer 200 spawned."""
    api_id = new_api_id()
    try:
        body, status = await run()
    except MpcError as exc:
        body, status = {"error": exc.message}, exc.status
    url, method = target
    runtime.send_callback(ASYNC_RESPONSE, callback_params(api_id, status, body), url, method)
    return JSONResponse({"api_id": api_id, "message": SPAWNED}, status_code=200)
