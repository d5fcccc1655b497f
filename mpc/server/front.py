"""The front of a sharded server (``mpcmix serve --workers N``): answers HTTP, forwards each
request to the shard that owns what it names, and merges what spans them.

Each shard is a whole server (its own clock thread, mixer, accounts and data folder), reached by
URL, so shards may run on other hosts (``--shard-urls``). The front keeps no state of its own:

- an MPC's requests (``.../MultiPartyCall/name_X/...``, ``uuid_X``, a bare name) go to the shard
  its account and name place it on, or that its uuid names (`mpcmix.model.ids`); recordings
  (``.../Recording/<id>...``) and the far end (``/emulator/calls/<call_uuid>/...``) by their id;
- ``GET .../MultiPartyCall/`` (the list) asks every shard for all its matches and pages the
  merge itself, newest first (`mpcmix.model.mpc_ops.list_page`: the same page rule); in
  asynchronous mode (``callback_url``) shard 0 answers, with its own MPCs;
- ``POST /emulator/advance`` moves every shard's virtual clock, all at once;
- ``/emulator/events`` without ``mpc_uuid`` merges the shards' logs (each record names its
  ``shard``; ``after`` counts in each shard's own log); ``/emulator/stats`` lists each shard's;
- the Audio Stream API (``.../Call/<call_uuid>/Stream/...``) goes to the shard its call_uuid
  names; ``/emulator/live`` and ``/emulator/streams`` merge every shard's; the console's
  WebSockets (``/console/listen``, ``/console/mic``) are relayed to the shard of the MPC they
  name (`mpcmix.server.console.relay`); stream lines need nothing here: the shard that owns the
  call connects to the bot itself;
- anything else (``/emulator/clock``, the OpenAPI document, the console's page, unknown paths)
  goes to shard 0.

Requests go over the front's own keep-alive connections to each shard (`upstream`: one write a
request). An answer up to 256 KiB is read whole and passed on; a larger one (a download) is
streamed, never held in memory; a shard that cannot be reached is answered 502 with the API's
error JSON.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi.responses import JSONResponse, Response, StreamingResponse
from mpcmix import __version__
from mpcmix.model.ids import shard_of_id, shard_of_name
from mpcmix.model.mpc_ops import list_page
from mpcmix.model.params import OPERATIONS
from mpcmix.model.serialize import list_uri
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.routing import Route

from .bodies import query_args
from .console.relay import merge_live, socket_routes
from .http import api_error, guard, new_api_id, too_large
from .middleware import NoServerErrors
from .routes import MATCHES_HEADER
from .upstream import Upstream, UpstreamError

#: Headers that describe one connection, not the message: never passed on.
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                  "upgrade", "host", "content-length"})
#: Request headers the front does not pass on as they came (its own connection's).
_SENT = _HOP | {"expect"}
#: Response headers the front's own server writes.
_OWN = _HOP | {"date", "server"}
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class Front:
    """Forwards to `shard_urls` (shard K answers at ``shard_urls[K]``); see the module docstring."""

    def __init__(self, shard_urls: Sequence[str], *, max_body_bytes: int = 1 << 20,
                 timeout_s: float = 600.0) -> None:
        if not shard_urls:
            raise ValueError("a front needs at least one shard URL")
        self.urls = tuple(u.rstrip("/") for u in shard_urls)
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._links: dict[int, Upstream | None] = {}

    @property
    def shards(self) -> int:
        return len(self.urls)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s, connect=10.0),
                                             limits=httpx.Limits(max_connections=256,
                                                                 max_keepalive_connections=64))
        return self._client

    def _upstream(self, shard: int) -> Upstream | None:
        """The front's connections to `shard` (None: a URL they cannot serve, httpx does)."""
        if shard not in self._links:
            try:
                self._links[shard] = Upstream(self.urls[shard], timeout_s=self.timeout_s)
            except ValueError:
                self._links[shard] = None
        return self._links[shard]

    async def close(self) -> None:
        links, self._links = self._links, {}
        for link in links.values():
            if link is not None:
                await link.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- where a request goes ------------------------------------------------------------------

    def shard_of_mpc(self, auth_id: str, mpc_id: str) -> int:
        """The shard of ``name_X``, ``uuid_X`` or a bare name (where the API takes one; elsewhere
        the shard it lands on answers 404, as one server would)."""
        if mpc_id.startswith("uuid_") and len(mpc_id) > 5:
            return shard_of_id(mpc_id[5:], self.shards)
        if mpc_id.startswith("name_") and len(mpc_id) > 5:
            return shard_of_name(auth_id, mpc_id[5:], self.shards)
        return shard_of_name(auth_id, mpc_id, self.shards)

    async def handle(self, request: Request) -> Response:
        async def work() -> Response:
            raw = request.scope.get("raw_path") or request.url.path.encode()
            parts = [unquote(p) for p in raw.decode("latin-1").split("?", 1)[0].split("/")]
            body = await self._body(request)
            if parts[1:3] == ["v1", "Account"] and len(parts) > 4:
                auth_id, kind = parts[3], parts[4]
                mpc_id = parts[5] if len(parts) > 5 else ""
                if kind == "MultiPartyCall" and not mpc_id:
                    if request.method == "GET" and "callback_url" not in request.query_params:
                        return await self.list(request, auth_id)
                    return await self.forward(request, 0, body)
                if kind == "MultiPartyCall":
                    return await self.forward(request, self.shard_of_mpc(auth_id, mpc_id), body)
                if kind in ("Recording", "Call") and len(parts) > 5:  # by the id it names
                    return await self.forward(request, shard_of_id(mpc_id, self.shards), body)
                return await self.forward(request, 0, body)
            path = "/".join(parts)
            if path == "/emulator/health":
                return await self.health()
            if path == "/emulator/advance":
                return await self.broadcast(request, body)
            if path.startswith("/emulator/calls/") and len(parts) > 3:
                return await self.forward(request, shard_of_id(parts[3], self.shards), body)
            if path == "/emulator/events":
                mpc_uuid = request.query_params.get("mpc_uuid")
                if mpc_uuid:
                    return await self.forward(request, shard_of_id(mpc_uuid, self.shards), body)
                return await self.events(request)
            if path == "/emulator/stats":
                return await self.stats(request)
            if path == "/emulator/live":
                return await self.merged(request, lambda bodies: merge_live(bodies))
            if path == "/emulator/streams":
                return await self.merged(request, lambda bodies: {
                    "api_id": new_api_id(), "streams": [s for body in bodies for s in body["streams"]]})
            return await self.forward(request, 0, body)
        return await guard(work)

    async def _body(self, request: Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise too_large(self.max_body_bytes)
            chunks.append(chunk)
        return b"".join(chunks)

    # -- forwarding ----------------------------------------------------------------------------

    def _request(self, request: Request, shard: int, body: bytes,
                 extra: dict[str, str] | None = None) -> httpx.Request:
        url = self.urls[shard] + _target(request)
        headers = [(k, v) for k, v in request.headers.raw if k.decode("latin-1").lower() not in _HOP]
        headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
        return self.client.build_request(request.method, url, headers=headers, content=body)

    async def forward(self, request: Request, shard: int, body: bytes) -> Response:
        """The shard's answer (status, headers and body as the shard sent them): read whole when
        it says it is small (an API answer: one write to the client), else streamed (a file).
        Over the front's own keep-alive connections (`upstream.Upstream`: one write a request),
        or httpx for a shard it cannot reach so (https)."""
        link = self._upstream(shard)
        if link is not None:
            sent = [(k, v) for k, v in request.headers.raw if k.lower().decode("latin-1") not in _SENT]
            try:
                answer = await link.request(request.method, _target(request), sent, body,
                                            whole_up_to=_BUFFERED_BYTES)
            except (OSError, TimeoutError, UpstreamError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError) as exc:
                return _unreachable(shard, self.urls[shard], exc)
            kept = {k: v for k, v in answer.headers if k.lower() not in _OWN}
            if answer.length is not None:
                kept["content-length"] = str(answer.length)
            if answer.body is not None:
                return _Raw(answer.body, answer.status, kept)
            assert answer.stream is not None
            return StreamingResponse(answer.stream, status_code=answer.status, headers=kept)
        try:
            upstream = await self.client.send(self._request(request, shard, body), stream=True)
        except httpx.TransportError as exc:
            return _unreachable(shard, self.urls[shard], exc)
        headers = {k: v for k, v in upstream.headers.multi_items() if k.lower() not in _OWN}
        if "content-length" in upstream.headers:
            headers["content-length"] = upstream.headers["content-length"]
        return StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code, headers=headers,
                                 background=BackgroundTask(upstream.aclose))

    async def _all(self, request: Request, body: bytes, extra: dict[str, str] | None = None
                   ) -> list[httpx.Response] | Response:
        """Every shard's answer to the request, in shard order (asked all at once), or the answer
        to give instead: the first shard's error (a 4xx is the same on every shard) or a 502."""
        requests = [self._request(request, k, body, extra) for k in range(self.shards)]
        answers = await asyncio.gather(*(self.client.send(r) for r in requests), return_exceptions=True)
        out: list[httpx.Response] = []
        for shard, answer in enumerate(answers):
            if isinstance(answer, BaseException):
                if isinstance(answer, httpx.TransportError):
                    return _unreachable(shard, self.urls[shard], answer)
                raise answer
            out.append(answer)
        for answer in out:
            if answer.status_code >= 300:
                return _buffered(answer)
        return out

    async def broadcast(self, request: Request, body: bytes) -> Response:
        """The request to every shard at once (the virtual clock): shard 0's answer, or the first
        error."""
        answers = await self._all(request, body)
        return answers if isinstance(answers, Response) else _buffered(answers[0])

    async def list(self, request: Request, auth_id: str) -> Response:
        """`list` over every shard: each one's matches, merged newest first, paged here."""
        answers = await self._all(request, b"", {MATCHES_HEADER: "1"})
        if isinstance(answers, Response):
            return answers
        bodies = [answer.json() for answer in answers]
        if not all(isinstance(body, dict) and "matches" in body for body in bodies):
            return _buffered(answers[0])  # not a page (asynchronous mode): as shard 0 answered
        found: list[tuple[int, int, int, dict[str, Any]]] = []
        for shard, body in enumerate(bodies):
            found.extend((created, order, shard, obj) for created, order, obj in body["matches"])
        found.sort(key=lambda item: (-item[0], item[1], item[2]))
        args = query_args(request.query_params.multi_items())
        args.pop("sub_account", None)  # the shards chose the accounts; the page is the same rule
        parsed = OPERATIONS["list"].parse(args)
        page = list_page([obj for *_, obj in found], parsed["limit"], parsed["offset"],
                         lambda limit, offset: list_uri(auth_id, limit, offset), new_api_id())
        return JSONResponse(page)

    async def events(self, request: Request) -> Response:
        """The event logs of every shard, merged by time (each record names its `shard`)."""
        answers = await self._all(request, b"")
        if isinstance(answers, Response):
            return answers
        records: list[dict[str, Any]] = []
        for shard, answer in enumerate(answers):
            records.extend({**record, "shard": shard} for record in answer.json()["events"])
        records.sort(key=lambda r: (r.get("at") or 0, r["shard"], r.get("seq") or 0))
        limit = request.query_params.get("limit")
        if limit is not None and limit.isdigit():
            records = records[:int(limit)]
        return JSONResponse({"api_id": new_api_id(), "count": len(records), "events": records})

    async def stats(self, request: Request) -> Response:
        """Shard 0's statistics, and every shard's under ``shards``."""
        answers = await self._all(request, b"")
        if isinstance(answers, Response):
            return answers
        bodies = [answer.json() for answer in answers]
        return JSONResponse({**bodies[0], "api_id": new_api_id(), "workers": self.shards, "shards": bodies})

    async def merged(self, request: Request, merge: Callable[[builtins.list[Any]], dict[str, Any]]) -> Response:
        """Every shard's answer to a GET, joined by `merge` (shard order)."""
        answers = await self._all(request, b"")
        if isinstance(answers, Response):
            return answers
        return JSONResponse(merge([answer.json() for answer in answers]))

    async def health(self) -> Response:
        """200 when every shard answers its health check (503 naming those that do not)."""
        async def one(url: str) -> bool:
            try:
                return (await self.client.get(f"{url}/emulator/health", timeout=5.0)).status_code == 200
            except httpx.TransportError:
                return False
        up = await asyncio.gather(*(one(url) for url in self.urls))
        down = [k for k, ok in enumerate(up) if not ok]
        body: dict[str, Any] = {"status": "ok" if not down else "degraded", "version": __version__,
                                "workers": self.shards}
        if down:
            body["shards_down"] = down
        return JSONResponse(body, status_code=200 if not down else 503)


def _target(request: Request) -> str:
    """The request's path and query as the client sent them (what a shard is asked)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")


#: An answer up to this size is read whole before it is passed on (API answers are a few kB).
_BUFFERED_BYTES = 256 * 1024


class _Raw(Response):
    """The shard's body and headers as they came (no content type or length made again)."""

    def __init__(self, content: bytes, status_code: int, headers: dict[str, str]) -> None:
        self.body = content
        self.status_code = status_code
        self.background = None
        self.init_headers(headers)


def _buffered(answer: httpx.Response) -> Response:
    headers = {k: v for k, v in answer.headers.multi_items() if k.lower() not in _OWN | {"content-encoding"}}
    return Response(answer.content, status_code=answer.status_code, headers=headers)


def _unreachable(shard: int, url: str, exc: Exception) -> Response:
    return JSONResponse({"api_id": new_api_id(),
                         "error": f"shard {shard} ({url}) cannot be reached: {type(exc).__name__}"},
                        status_code=502)


def build_front(shard_urls: Sequence[str], *, max_body_bytes: int = 1 << 20) -> Any:
    """The front's ASGI application, forwarding to `shard_urls`."""
    front = Front(shard_urls, max_body_bytes=max_body_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await front.close()

    def shard_url_of(mpc_uuid: str) -> str:  # a console socket's MPC: its shard ('' or junk: 0)
        return front.urls[shard_of_id(mpc_uuid, front.shards)]

    app = Starlette(routes=[*socket_routes(shard_url_of),
                            Route("/{path:path}", front.handle, methods=_METHODS)], lifespan=lifespan)
    app.state.front = front
    return NoServerErrors(app)


__all__ = ["Front", "api_error", "build_front"]
