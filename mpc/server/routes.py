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

from .asyncmode import answer_async, async_target
from .http import guard, mpc_target, ok, request_args
from .runtime import AccountRuntime
from .state import ServerState

ACCOUNT = "/v1/Account/{auth_id}"
#: A request header by which a sharded server's front asks a shard's `list` for every match.
MATCHES_HEADER = "x-mpcmix-list-matches"
MPC = ACCOUNT + "/MultiPartyCall"


def add_api_routes(app: FastAPI, state: ServerState) -> None:
    """An endpoint for every API operation of the table (the far end's are the emulator's)."""
    for op in OPERATIONS.values():
        if not op.emulator:
            _add_route(app, state, op)


def _add_route(app: FastAPI, state: ServerState, op: Operation) -> None:
    body = op.http != "GET"
    endpoint: Callable[..., Any]

    async def answer(request: Request, auth_id: str, path: dict[str, str]) -> Response:
        async def work() -> Response:
            runtime = state.runtime_for(request, auth_id)
            args = await request_args(request, body=body)
            target = async_target(args)

            matches = MATCHES_HEADER in request.headers  # a front merging its shards' lists

            async def run() -> tuple[Any, int]:
                return await _run(state, runtime, op, args, path, matches), op.status

            if target is not None:
                return await answer_async(runtime, target, run)
            result, status = await run()
            return ok(result, status)
        return await guard(work)

    if "{member_id}" in op.path:
        async def endpoint(request: Request, auth_id: str, mpc_id: str, member_id: str
                           ) -> Response:
            return await answer(request, auth_id, {"mpc_id": mpc_id, "member_id": member_id})
    elif "{mpc_id}" in op.path:
        async def endpoint(request: Request, auth_id: str, mpc_id: str) -> Response:
            return await answer(request, auth_id, {"mpc_id": mpc_id})
    else:
        async def endpoint(request: Request, auth_id: str) -> Response:
            return await answer(request, auth_id, {})

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


async def _run(state: ServerState, runtime: AccountRuntime, op: Operation, args: dict[str, Any],
               path: dict[str, str], matches: bool = False) -> Any:
    """Operation `op` of the account with a request's arguments and path; its answer's body
    (`matches`: a list's every match rather than a page, for a front: `list_mpcs`)."""
    if "mpc_id" not in path:  # list: this account's MPCs, and its subaccounts'
        runtime, accounts = sub_account(state, runtime, args)
        return await run_in_threadpool(list_mpcs, runtime, accounts, args, matches)
    target = mpc_target(path["mpc_id"], prefixless_is_name=op.bare_name)
    return await run_in_threadpool(runtime.apply, op.name, args, target=target,
                                   member=path.get("member_id"))


def sub_account(state: ServerState, runtime: AccountRuntime, args: dict[str, Any]
                ) -> tuple[AccountRuntime, list[AccountRuntime]]:
    """Whose MPCs `list` shows: (the account answering, every account listed). A main
    account lists its own MPCs and its subaccounts' (as their `sub_account` says), or one
    subaccount's with ``sub_account=SA...``; a subaccount only its own."""
    sub = args.pop("sub_account", None)
    if isinstance(sub, list) and len(sub) == 1:
        sub = sub[0]
    if sub is not None and not isinstance(sub, str):
        raise ValidationError(f"sub_account must be one subaccount's auth_id, not {sub!r}")
    if not sub or sub == runtime.account.auth_id:
        subs = [r for r in state.runtimes.values()
                if r.account.parent == runtime.account.auth_id] if not sub else []
        return runtime, [runtime, *subs]
    target = state.runtimes.get(sub)
    if target is None or target.account.parent != runtime.account.auth_id:
        raise ValidationError(f"sub_account {sub!r} is not a subaccount of this account")
    return runtime, [target]


def list_mpcs(runtime: AccountRuntime, accounts: list[AccountRuntime],
              args: dict[str, Any], matches: bool = False) -> Any:
    """`list` over several accounts' MPCs: merged newest first, then one page of them. With
    `matches`, every match instead, ``{"matches": [[creation ms, account order, object], ...]}``:
    a sharded server's front merges its shards' and pages them itself (front.py)."""
    parsed = OPERATIONS["list"].parse(args)  # refuses a bad filter before any account is read
    found: list[tuple[int, int, dict[str, Any]]] = []
    for order, account in enumerate(accounts):
        found.extend((created, order, obj) for created, obj in account.list_matches(args))
    found.sort(key=lambda item: (-item[0], item[1]))
    if matches:
        return {"matches": [list(item) for item in found]}
    with runtime.lock:
        page = runtime.model.list_page([obj for _, _, obj in found], parsed["limit"],
                                       parsed["offset"])
    return page
