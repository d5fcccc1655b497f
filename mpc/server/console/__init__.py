"""The web console served at ``/console``: live MPCs, their participants, the routing matrix now,
the API's buttons, "listen as" and a microphone (docs/console.md).

The page (``index.html``, ``console.js``, ``console.css`` beside this module) is plain HTML and
JavaScript shipped in the package: no CDN, no build step. It asks for an account's auth id and
token and sends them as HTTP Basic credentials to the real API's endpoints (the buttons) and to
``GET /emulator/live`` (what it shows), which this module serves: every live MPC of the account
(and its subaccounts), each participant as Get Participant returns it, and the routing matrix as
`mpcmix.routing.build_matrix` computes it from the call model's state at that frame, with each
cell's reason (`mpcmix.routing.explain`): the routing layer's rule, not a copy of it.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from mpcmix.routing import CallState, build_matrix, explain
from mpcmix.routing.matrix import HOLD_MUSIC, VOICE, WAIT_MUSIC
from starlette.concurrency import run_in_threadpool

from ..http import guard, new_api_id
from ..state import ServerState
from .streams import add_stream_routes

#: The page's files, by the name the browser asks for, and their media types.
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "capture-worklet.js": "text/javascript; charset=utf-8",
}


def static_file(name: str) -> bytes:
    """One of the page's files (`STATIC`), read from the installed package."""
    return resources.files(__name__).joinpath(name).read_bytes()


def source_kind(label: str) -> tuple[str, str | None]:
    """(kind, owner label) of a routing matrix column: voice, wait_music, hold_music, or an
    overlay (cue / play: its own name, no owner)."""
    for prefix in (VOICE, WAIT_MUSIC, HOLD_MUSIC):
        if label.startswith(prefix):
            return prefix[:-1], label[len(prefix):]
    return label.partition(":")[0], None


def call_view(mpc: dict[str, Any], call: CallState, members: dict[str, str]) -> dict[str, Any]:
    """One live MPC as the console shows it: the MPC object, its participants (each with its
    routing label and phase), and its routing matrix now with every cell's reason."""
    matrix = build_matrix(call)
    reasons = explain(call)
    phases = {p.name: p.phase.value for p in call.participants}
    labels = {member_id: label for label, member_id in members.items()}
    participants = [{**obj, "label": labels.get(obj["member_id"], obj["member_id"]),
                     "phase": phases.get(labels.get(obj["member_id"], ""), "exited")}
                    for obj in mpc["participants"]]
    sources = []
    for label in matrix.sources:
        kind, owner = source_kind(label)
        sources.append({"label": label, "kind": kind, "owner": owner,
                        "member_id": members.get(owner) if owner else None})
    return {
        "mpc": mpc["mpc"],
        "participants": participants,
        "matrix": {
            "listeners": [{"label": name, "member_id": members.get(name),
                           "recording": name == call.recording_name}
                          for name in matrix.listeners],
            "sources": sources,
            "gains": [list(row) for row in matrix.gains],
            "reasons": [[reasons[(listener, source)] for source in matrix.sources]
                        for listener in matrix.listeners],
        },
    }


def live(state: ServerState, request: Request) -> dict[str, Any]:
    """`GET /emulator/live`: every live MPC of the authenticated account and its subaccounts."""
    account = state.account_for(request)
    accounts = [account, *state.auth.subaccounts_of(account.auth_id)]
    mpcs = []
    now_ms = state.clock.now_ms()
    for acc in accounts:
        now_ms, calls = state.runtimes[acc.auth_id].live_view()
        for mpc, call, members in calls:
            mpcs.append({"auth_id": acc.auth_id, **call_view(mpc, call, members)})
    return {"api_id": new_api_id(), "clock": state.clock.kind, "now_ms": now_ms,
            "frame_ms": state.config.frame_ms, "sample_rate": state.config.sample_rate,
            "auth_id": account.auth_id, "mpcs": mpcs}


def add_console_routes(app: FastAPI, state: ServerState) -> None:
    """``/console`` (the page and its files, no credentials: the page asks for them),
    ``GET /emulator/live`` (Basic credentials, as every emulator endpoint) and the WebSockets
    ``/console/listen`` and ``/console/mic`` (`streams`)."""

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        media_type = STATIC.get(name)
        if media_type is None:
            return JSONResponse({"api_id": new_api_id(), "error": f"no such resource: /console/{name}"},
                                status_code=404)
        return Response(static_file(name), media_type=media_type,
                        headers={"Cache-Control": "no-cache"})

    async def live_endpoint(request: Request) -> Response:
        async def work() -> Response:
            return JSONResponse(await run_in_threadpool(live, state, request))
        return await guard(work)

    # Plain routes (not API routes): the page is no endpoint of the API or its OpenAPI document.
    app.add_route("/console", page, methods=["GET"])
    app.add_route("/console/", page, methods=["GET"])
    app.add_route("/console/{name}", page, methods=["GET"])
    # Its answer's schema is in the OpenAPI document (`Live`), the path is not: with it, the
    # seeded schemathesis run (tests/reliability_server/test_api_fuzzing.py) draws a case its
    # inferred links misread (update_participant on member `all` taken as creating `all`, whose
    # Listener.wav is then a 404, as it must be).
    app.add_api_route("/emulator/live", live_endpoint, methods=["GET"], tags=["Emulator"],
                      summary="The live MPCs: their participants and routing matrix now (the "
                              "console's view)",
                      operation_id="emulator_live", response_class=Response,
                      include_in_schema=False)
    add_stream_routes(app, state)
