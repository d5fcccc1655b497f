"""The console behind a front that forwards to shards (``mpcmix serve --workers N``).

A sharded server's front answers the console's page and ``GET /emulator/live`` like any other
request (the page from any shard; `merge_live` joins every shard's live MPCs), and relays the
console's WebSockets to the shard that owns the MPC they name (``mpc=<mpc_uuid>`` in the query,
placed by the uuid as every uuid-named request is; `socket_routes` are those routes): `relay`
pipes one WebSocket to another, both ways, message for message (text stays text, binary stays binary), with the client's
Authorization header if it sent one, until either side closes; a close on one side closes the
other with its code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..http import new_api_id

#: The console's WebSocket paths (a front relays them to the MPC's shard).
SOCKETS = ("/console/listen", "/console/mic")


def socket_mpc(query: dict[str, str]) -> str:
    """The mpc_uuid a console WebSocket names (its shard owns the call), or '' if none."""
    return str(query.get("mpc") or "")


def shard_socket_url(shard_url: str, path: str, query_string: str) -> str:
    """The shard's WebSocket URL for `path` (``http://host:port`` -> ``ws://host:port/path?q``)."""
    base = "ws" + shard_url.rstrip("/")[4:] if shard_url.startswith("http") else shard_url
    return f"{base}{path}" + (f"?{query_string}" if query_string else "")


def socket_routes(shard_url_of: Callable[[str], str], *, open_timeout_s: float = 10.0
                  ) -> list[WebSocketRoute]:
    """A front's routes for the console's sockets: each relayed to ``shard_url_of(mpc_uuid)``
    (the mpc its query names, '' if none), e.g. ``lambda mpc: urls[shard_of_id(mpc, n)]``."""

    async def forward(ws: WebSocket) -> None:
        url = shard_url_of(socket_mpc(dict(ws.query_params)))
        await relay(ws, shard_socket_url(url, ws.url.path, ws.url.query),
                    open_timeout_s=open_timeout_s)

    return [WebSocketRoute(path, forward) for path in SOCKETS]


def merge_live(answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One ``GET /emulator/live`` answer from every shard's (shard order: their MPCs in turn)."""
    if not answers:
        raise ValueError("no shard answered")
    first = answers[0]
    return {"api_id": new_api_id(), "clock": first["clock"],
            "now_ms": max(int(a["now_ms"]) for a in answers), "frame_ms": first["frame_ms"],
            "sample_rate": first["sample_rate"], "auth_id": first["auth_id"],
            "mpcs": [mpc for answer in answers for mpc in answer["mpcs"]]}


async def relay(ws: WebSocket, url: str, *, open_timeout_s: float = 10.0) -> None:
    """Accept `ws` and pipe it to the WebSocket at `url` until either side closes."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

    await ws.accept()
    headers = {}
    if ws.headers.get("authorization"):
        headers["Authorization"] = ws.headers["authorization"]
    code = 1000
    try:
        async with connect(url, additional_headers=headers, open_timeout=open_timeout_s,
                           max_size=None, compression=None, proxy=None) as upstream:

            async def down() -> None:  # the shard -> the client
                try:
                    async for message in upstream:
                        if isinstance(message, bytes):
                            await ws.send_bytes(message)
                        else:
                            await ws.send_text(message)
                except ConnectionClosed:
                    pass

            async def up() -> None:  # the client -> the shard
                while True:
                    message = await ws.receive()
                    if message["type"] == "websocket.disconnect":
                        return
                    if message.get("bytes") is not None:
                        await upstream.send(message["bytes"])
                    elif message.get("text") is not None:
                        await upstream.send(message["text"])

            tasks = {asyncio.ensure_future(down()), asyncio.ensure_future(up())}
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            code = upstream.close_code or 1000
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        if ws.application_state is WebSocketState.CONNECTED:
            error = f"the shard that owns this call cannot be reached ({type(exc).__name__})"
            try:
                await ws.send_text(json.dumps({"event": "error", "error": error}))
            except (WebSocketDisconnect, RuntimeError):
                pass
        code = 1011
    except (WebSocketDisconnect, RuntimeError, ConnectionClosed):
        pass
    if ws.application_state is WebSocketState.CONNECTED and \
            ws.client_state is WebSocketState.CONNECTED:
        try:
            await ws.close(code if code in (1000, 1008, 1009, 1011) else 1000)
        except (WebSocketDisconnect, RuntimeError):
            pass
