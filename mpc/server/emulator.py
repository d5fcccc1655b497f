"""The emulator's own endpoints, under /emulator: the virtual clock, the far end, the event log.

- ``POST /emulator/advance`` moves the virtual clock (``{"seconds": S}``);
- ``POST /emulator/calls/{call_uuid}/hangup|answer|dtmf`` act as the participant's phone;
- ``GET /emulator/events`` the account's event log with each callback's delivery status;
- ``GET /emulator/clock``, ``/emulator/stats`` (tick lateness), ``/emulator/health``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from mpcmix import __version__
from mpcmix.errors import NotFoundError, ValidationError
from mpcmix.model.params import OPERATIONS
from starlette.concurrency import run_in_threadpool

from .bodies import query_args
from .clock import RealtimeClock
from .config import Account
from .http import ERRORS, guard, new_api_id, ok, request_args
from .routes import sub_account
from .runtime import AccountRuntime
from .state import MAX_ADVANCE_S, ServerState

Endpoint = Callable[..., Awaitable[Response]]


def _advance(state: ServerState) -> Endpoint:
    async def advance(request: Request) -> Response:
        async def work() -> Response:
            state.account_for(request)
            args = await request_args(request, body=True)
            seconds = args.get("seconds")
            if isinstance(seconds, list) and len(seconds) == 1:
                seconds = seconds[0]
            try:
                value = float(seconds)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ValidationError("advance: seconds must be a number, e.g. {\"seconds\": 2.5}") \
                    from None
            if not 0 <= value <= MAX_ADVANCE_S:
                raise ValidationError(f"advance: seconds must be between 0 and {MAX_ADVANCE_S} "
                                      "(a day; longer spans: advance again)")
            now = await run_in_threadpool(state.advance, seconds)
            return JSONResponse({"api_id": new_api_id(), "now": now / 1000, "now_ms": now})
        return await guard(work)
    return advance


def _clock(state: ServerState) -> Endpoint:
    async def clock(request: Request) -> Response:
        async def work() -> Response:
            state.account_for(request)
            now = state.clock.now_ms()
            return JSONResponse({"api_id": new_api_id(), "clock": state.clock.kind,
                                 "now": now / 1000, "now_ms": now,
                                 "frame_ms": state.config.frame_ms,
                                 "sample_rate": state.config.sample_rate})
        return await guard(work)
    return clock


def _events(state: ServerState) -> Endpoint:
    async def events(request: Request) -> Response:
        async def work() -> Response:
            account = state.account_for(request)
            q = query_args(request.query_params.multi_items())
            runtime = state.runtimes[account.auth_id]
            sub = q.get("sub_account")
            if sub:
                runtime = sub_account(state, runtime, {"sub_account": sub})[1][0]
            try:
                after = int(q.get("after", 0))
                limit = int(q["limit"]) if "limit" in q else None
            except (TypeError, ValueError):
                raise ValidationError("events: after and limit must be integers") from None
            records = runtime.events.read(after=after, limit=limit, name=q.get("name"),
                                          mpc_uuid=q.get("mpc_uuid"))
            return JSONResponse({"api_id": new_api_id(), "count": len(records),
                                 "events": records})
        return await guard(work)
    return events


def _far_end(state: ServerState, action: str) -> Endpoint:
    async def endpoint(request: Request, call_uuid: str) -> Response:
        async def work() -> Response:
            account = state.account_for(request)
            digits = None
            if action == "dtmf":
                args = await request_args(request, body=True)
                digits = args.get("digits")
                if not isinstance(digits, str) or not digits:
                    raise ValidationError("dtmf: digits is required, e.g. {\"digits\": \"1\"}")
            runtime = _runtime_of_call(state, account, call_uuid)
            result = await run_in_threadpool(runtime.far_end, action, call_uuid, digits)
            body = result if isinstance(result, dict) else {
                "message": f"call {call_uuid}: {action} done", "call_uuid": call_uuid}
            return ok(body, 200)
        return await guard(work)
    return endpoint


async def _health() -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


def _stats(state: ServerState) -> Endpoint:
    async def stats(request: Request) -> Response:
        async def work() -> Response:
            state.account_for(request)
            q = query_args(request.query_params.multi_items())
            try:
                window_s = float(q.get("window_s", 60))
            except (TypeError, ValueError):
                raise ValidationError("stats: window_s must be a number of seconds") from None
            if not 0 < window_s <= 86400:
                raise ValidationError("stats: window_s must be more than 0 and at most 86400")
            now = state.clock.elapsed_ms_exact() if isinstance(state.clock, RealtimeClock) else 0.0
            return JSONResponse({
                "api_id": new_api_id(),
                "clock": state.clock.kind,
                "now_ms": state.clock.now_ms(),
                "elapsed_ms": round(now, 3),  # unrounded time since the clock's 0 (real time)
                "ticker": state.ticks.summary(window_s, now),
                "streams": state.streams.summary(),
                "costs": state.costs(),
                "callbacks": {"pending": state.dispatcher.pending(),
                              "queue_size": state.dispatcher.max_pending},
                "media": {"cached_bytes": state.media.cached_bytes(),
                          "cache_bytes": state.media.cache_bytes,
                          "cached_files": len(state.media.cached_files())},
            })
        return await guard(work)
    return stats


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """An OpenAPI request body taken as JSON or as a form."""
    return {"requestBody": {"required": True, "content": {
        media: {"schema": {"type": "object", "required": required, "properties": properties}}
        for media in ("application/json", "application/x-www-form-urlencoded")}}}


def _query(*parameters: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"parameters": [{"name": n, "in": "query", "required": False, "schema": s}
                           for n, s in parameters]}


def add_emulator_routes(app: FastAPI, state: ServerState) -> None:
    """The /emulator endpoints (see the module docstring)."""
    def route(path: str, endpoint: Endpoint, method: str, operation_id: str, summary: str,
              extra: dict[str, Any] | None = None, **options: Any) -> None:
        app.add_api_route(path, endpoint, methods=[method], tags=["Emulator"], summary=summary,
                          operation_id=operation_id, response_class=Response,
                          openapi_extra=extra, **options)

    route("/emulator/advance", _advance(state), "POST", "emulator_advance",
          "Move the virtual clock forward by {\"seconds\": S}", _body({"seconds": _SECONDS},
                                                                      ["seconds"]),
          responses={"200": {"description": "the new time", "content": {
              "application/json": {"example": {"now": 2.5, "now_ms": 2500}}}}, **ERRORS})
    route("/emulator/clock", _clock(state), "GET", "emulator_clock", "The server clock")
    route("/emulator/events", _events(state), "GET", "emulator_events",
          "This account's event log, with callback delivery status",
          _query(("after", {"type": "integer"}), ("limit", {"type": "integer"}),
                 ("name", {"type": "string"}), ("mpc_uuid", {"type": "string"}),
                 ("sub_account", {"type": "string"})))
    for op in (o for o in OPERATIONS.values() if o.emulator):
        extra = None
        if op.params:
            extra = _body({"digits": {"type": "string", "pattern": "^[0-9#*]+$"}}, ["digits"])
        route(op.path, _far_end(state, op.name), op.http, f"emulator_{op.name}", op.summary,
              extra, responses=dict(ERRORS))
    route("/emulator/stats", _stats(state), "GET", "emulator_stats",
          "Real-time ticker lateness (p50/p99/max over window_s seconds) and the callback queue",
          _query(("window_s", {"type": "number", "exclusiveMinimum": 0, "maximum": 86400,
                               "default": 60})))
    route("/emulator/health", _health, "GET", "emulator_health",
          "Liveness (no credentials needed)")


#: `/emulator/advance`'s seconds: a number (or its text, as a form sends it) up to a day.
_SECONDS: dict[str, Any] = {"anyOf": [
    {"type": "number", "minimum": 0, "maximum": MAX_ADVANCE_S},
    {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"},
    {"type": "array", "minItems": 1, "maxItems": 1,
     "items": {"type": "number", "minimum": 0, "maximum": MAX_ADVANCE_S}},
]}


def _runtime_of_call(state: ServerState, account: Account, call_uuid: str) -> AccountRuntime:
    # An account reaches its own calls, and a main account its subaccounts' calls.
    candidates = [state.runtimes[account.auth_id]] + [
        state.runtimes[a.auth_id] for a in state.auth.subaccounts_of(account.auth_id)
    ]
    for runtime in candidates:
        if runtime.knows_call(call_uuid):
            return runtime
    raise NotFoundError(f"no call {call_uuid!r} in this account")
