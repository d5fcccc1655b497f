"""Reading requests and writing answers in the API's shapes.

Errors come back as the API's ``{"api_id": ..., "error": ...}`` with 400/401/404/405 (413 for a
body over the limit); nothing a request can cause is answered with a 5xx, because the plivo SDK
resends a POST three times on a 5xx.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from mpcmix.errors import MpcError, NotFoundError

from .bodies import parse_body, query_args

log = logging.getLogger("mpcmix.server")


def new_api_id() -> str:
    """A fresh api_id for a response the server builds itself."""
    return str(uuidlib.uuid4())


def api_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The API's error body. Statuses a request may cause are 4xx only."""
    if status >= 500 or status < 400:
        status = 400
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Basic realm="mpcmix"'}
    return JSONResponse({"api_id": new_api_id(), "error": message}, status_code=status,
                        headers=dict(headers or {}))


def ok(body: Any, status: int) -> Response:
    if body is None:
        return Response(status_code=204)
    if isinstance(body, dict):
        body = {"api_id": new_api_id(), **body} if "api_id" not in body else body
    return JSONResponse(body, status_code=status)


async def guard(work: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await work()
    except MpcError as exc:
        return api_error(exc.status, exc.message)
    except Exception as exc:
        log.exception("unexpected error")
        return api_error(400, f"mpcmix could not process this request ({type(exc).__name__}: "
                              f"{exc}); see the server log")


class PayloadTooLarge(MpcError):
    """A request body over the server's limit (413, with the API's error JSON)."""

    status = 413


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes, the most this server "
                           "takes (max_body_bytes)")


async def read_body(request: Request) -> bytes:
    """The body, read up to the server's limit (a chunked body over it stops being read)."""
    limit = request.app.state.mpcmix.config.max_body_bytes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def request_args(request: Request, *, body: bool) -> dict[str, Any]:
    args = query_args(request.query_params.multi_items())
    if body:
        raw = await read_body(request)
        args.update(parse_body(raw, request.headers.get("content-type")))
    return args


def mpc_target(mpc_id: str, *, prefixless_is_name: bool = False) -> dict[str, str]:
    """`name_<friendly_name>` or `uuid_<mpc_uuid>` as the model's keyword."""
    if mpc_id.startswith("name_") and len(mpc_id) > 5:
        return {"friendly_name": mpc_id[5:]}
    if mpc_id.startswith("uuid_") and len(mpc_id) > 5:
        return {"uuid": mpc_id[5:]}
    if prefixless_is_name and mpc_id:
        return {"friendly_name": mpc_id}
    raise NotFoundError(f"no MPC {mpc_id!r}: name it name_<friendly_name> or uuid_<mpc_uuid>")


#: The error answers every endpoint may give (OpenAPI `responses`).
ERRORS: dict[int | str, dict[str, Any]] = {
    "400": {"description": "a parameter is missing, malformed, out of range, or not supported"},
    "401": {"description": "missing or wrong credentials"},
    "404": {"description": "no such MPC, participant, recording or play in this account"},
    "405": {"description": "the resource does not take this method"},
}
