"""The Audio Stream API on calls, and the emulator's view of every stream.

``POST /v1/Account/{auth_id}/Call/{call_uuid}/Stream/`` starts a stream of a participant's call
(``service_url``, ``bidirectional``, ``audio_track``, ``stream_timeout``,
``status_callback_url``, ``status_callback_method``, ``content_type``, ``extra_headers``: the
rules are `mpcmix.live.protocol.stream_spec`'s, shared with stream lines); ``GET`` the call's
streams or one (``.../Stream/{stream_id}/``); ``DELETE`` them all or one. The plivo SDK's
``calls.start_stream``, ``get_all_streams``, ``get_details_of_specific_stream``,
``delete_all_streams``, ``delete_specific_stream`` reach these. ``GET /emulator/streams`` lists
every stream of the account with its counters. Not in the OpenAPI document (a fuzzer's requests
would open WebSockets to the URLs it makes up).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .emulator import _runtime_of_call
from .http import guard, new_api_id, ok, request_args
from .runtime import AccountRuntime
from .state import ServerState

CALL_STREAM = "/v1/Account/{auth_id}/Call/{call_uuid}/Stream/"


def add_stream_routes(app: FastAPI, state: ServerState) -> None:
    """The Audio Stream API's endpoints and /emulator/streams."""
    manager = state.streams

    def runtime_of(request: Request, auth_id: str, call_uuid: str) -> AccountRuntime:
        account = state.auth.acting_as(state.account_for(request), auth_id)
        return _runtime_of_call(state, account, call_uuid)

    async def start(request: Request, auth_id: str, call_uuid: str) -> Response:
        async def work() -> Response:
            runtime = runtime_of(request, auth_id, call_uuid)
            args = await request_args(request, body=True)
            body = await run_in_threadpool(manager.api_start, runtime, call_uuid, args)
            return ok(body, 201)
        return await guard(work)

    async def list_all(request: Request, auth_id: str, call_uuid: str) -> Response:
        async def work() -> Response:
            runtime = runtime_of(request, auth_id, call_uuid)
            return ok(await run_in_threadpool(manager.api_list, runtime, call_uuid), 200)
        return await guard(work)

    async def get_one(request: Request, auth_id: str, call_uuid: str, stream_id: str) -> Response:
        async def work() -> Response:
            runtime = runtime_of(request, auth_id, call_uuid)
            return ok(await run_in_threadpool(manager.api_get, runtime, call_uuid, stream_id), 200)
        return await guard(work)

    async def stop_all(request: Request, auth_id: str, call_uuid: str) -> Response:
        async def work() -> Response:
            runtime = runtime_of(request, auth_id, call_uuid)
            await run_in_threadpool(manager.api_stop, runtime, call_uuid, None)
            return ok(None, 204)
        return await guard(work)

    async def stop_one(request: Request, auth_id: str, call_uuid: str, stream_id: str) -> Response:
        async def work() -> Response:
            runtime = runtime_of(request, auth_id, call_uuid)
            await run_in_threadpool(manager.api_stop, runtime, call_uuid, stream_id)
            return ok(None, 204)
        return await guard(work)

    async def streams(request: Request) -> Response:
        async def work() -> Response:
            account = state.account_for(request)
            runtime = state.runtimes[account.auth_id]
            return JSONResponse({"api_id": new_api_id(), "streams": manager.describe(runtime)})
        return await guard(work)

    def route(path: str, endpoint: Callable[..., Awaitable[Response]], method: str,
              name: str) -> None:
        app.add_api_route(path, endpoint, methods=[method], name=name, include_in_schema=False,
                          response_class=Response)

    route(CALL_STREAM, start, "POST", "start_stream")
    route(CALL_STREAM, list_all, "GET", "get_all_streams")
    route(CALL_STREAM, stop_all, "DELETE", "delete_all_streams")
    route(CALL_STREAM + "{stream_id}/", get_one, "GET", "get_details_of_specific_stream")
    route(CALL_STREAM + "{stream_id}/", stop_one, "DELETE", "delete_specific_stream")
    route("/emulator/streams", streams, "GET", "emulator_streams")
