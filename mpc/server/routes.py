"""The API's endpoints, one per operation of the parameter table (mpcmix.model.params).

Each endpoint authenticates, reads its arguments (query, or a JSON or form body), names the MPC
and members from its path, and hands the arguments to the account's runtime, which runs the call
model's operation of the same name. The table gives the method, the path and the success status,
so an operation added there is served here without another edit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from mpcmix.errors import ValidationError
from mpcmix.model.params import OPERATIONS, Operation
from starlette.concurrency import run_in_threadpool

from .http import guard, mpc_target, ok, request_args
from .runtime import AccountRuntime
from .state import ServerState

ACCOUNT = "/v1/Account/{auth_id}"
MPC = ACCOUNT + "/MultiPartyCall"


def add_api_routes(app: FastAPI, state: ServerState) -> None:
    """An endpoint for every API operation of the table (the far end's are the emulator's)."""
    for op in OPERATIONS.values():
        if not op.emulator:
            _add_route(app, state, op)


def _add_route(app: FastAPI, state: ServerState, op: Operation) -> None:
    body = op.http != "GET"
    endpoint: Callable[..., Any]
    if "{member_id}" in op.path:
        async def endpoint(request: Request, auth_id: str, mpc_id: str, member_id: str
                           ) -> Response:
            async def work() -> Response:
                runtime = state.runtime_for(request, auth_id)
                target = mpc_target(mpc_id, prefixless_is_name=op.bare_name)
                args = await request_args(request, body=body)
                result = await run_in_threadpool(runtime.apply, op.name, args, target=target,
                                                 member=member_id)
                return ok(result, op.status)
            return await guard(work)
    elif "{mpc_id}" in op.path:
        async def endpoint(request: Request, auth_id: str, mpc_id: str) -> Response:
            async def work() -> Response:
                runtime = state.runtime_for(request, auth_id)
                target = mpc_target(mpc_id)
                args = await request_args(request, body=body)
                result = await run_in_threadpool(runtime.apply, op.name, args, target=target)
                return ok(result, op.status)
            return await guard(work)
    else:
        async def endpoint(request: Request, auth_id: str) -> Response:
            async def work() -> Response:
                runtime = state.runtime_for(request, auth_id)
                args = await request_args(request, body=body)
                runtime = sub_account(state, runtime, args)
                result = await run_in_threadpool(runtime.apply, op.name, args)
                return ok(result, op.status)
            return await guard(work)

    app.add_api_route(
        f"{MPC}/{op.path}",
        endpoint,
        methods=[op.http],
        name=op.name,
        operation_id="stop" if op.name == "end" else op.name,  # the SDK's name
        summary=op.summary,
        tags=["MultiPartyCall"],
        status_code=op.status,
        response_class=Response,
    )


def sub_account(state: ServerState, runtime: AccountRuntime,
                args: dict[str, Any]) -> AccountRuntime:
    """`list(sub_account=SA...)` by a main account lists that subaccount's MPCs."""
    sub = args.pop("sub_account", None)
    if isinstance(sub, list) and len(sub) == 1:
        sub = sub[0]
    if sub is not None and not isinstance(sub, str):
        raise ValidationError(f"sub_account must be one subaccount's auth_id, not {sub!r}")
    if not sub or sub == runtime.account.auth_id:
        return runtime
    target = state.runtimes.get(sub)
    if target is None or target.account.parent != runtime.account.auth_id:
        raise ValidationError(f"sub_account {sub!r} is not a subaccount of this account")
    return target
