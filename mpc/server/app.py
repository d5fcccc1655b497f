"""The FastAPI application: Plivo's Multiparty Call endpoints plus the emulator's own.

Thin by design: each endpoint authenticates, reads its arguments (JSON, form or query), calls the
account's `AccountRuntime` (which calls the call model), and formats the answer. Errors come back
as the API's `{"api_id": ..., "error": ...}` with 400/401/404/405; nothing a request can cause is
answered with a 5xx, because the plivo SDK resends a POST three times on a 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from mpcmix import __version__
from mpcmix.errors import AuthenticationError, MpcError, NotFoundError, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from . import params as P
from .auth import Authenticator
from .callbacks import CallbackDispatcher
from .clock import RealtimeClock, TickLateness, VirtualClock
from .config import Account, ServerConfig, default_epoch
from .media import server_media
from .openapi import install as install_openapi
from .runtime import AccountRuntime, new_api_id
from .wavsnap import wav_snapshot

log = logging.getLogger("mpcmix.server")

ACCOUNT = "/v1/Account/{auth_id}"
MPC = ACCOUNT + "/MultiPartyCall"
MPC_ID = MPC + "/{mpc_id}"
MEMBER = MPC_ID + "/Participant/{member_id}"

#: The longest single virtual step: every listener stream is rendered over it before answering.
MAX_ADVANCE_S = 86400
#: Open recordings and listener streams are flushed (headers rewritten) at least this often.
FLUSH_EVERY_S = 1.0
_FILE_PATH = re.compile(r"\.(wav|mp3)$")
_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9_-]{1,200}\.(wav|mp3)$")


# --- server state -------------------------------------------------------------------------------


class ServerState:
    """Everything the endpoints share: accounts, clock, callback dispatcher, ticker."""

    def __init__(self, config: ServerConfig, engine_factory: Callable[..., Any] | None = None):
        if config.epoch is None:
            config = replace(config, epoch=default_epoch())
        self.config = config
        self.auth = Authenticator(config.accounts)
        self.clock: VirtualClock | RealtimeClock = (
            VirtualClock(config.frame_ms) if config.clock == "virtual"
            else RealtimeClock(config.frame_ms)
        )
        self.dispatcher = CallbackDispatcher(
            max_pending=config.callback_queue_size,
            attempts=config.callback_attempts,
            backoff_s=config.callback_backoff_s,
            timeout_s=config.callback_timeout_s,
        )
        if config.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="mpcmix-serve-"))
        else:
            self.data_dir = config.data_dir
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self.media = server_media(config, self.data_dir)
        tokens = {a.auth_id: a.auth_token for a in config.accounts}
        self.runtimes: dict[str, AccountRuntime] = {}
        for account in config.accounts:
            main_token = tokens.get(account.parent or "", account.auth_token)
            self.runtimes[account.auth_id] = AccountRuntime(
                account,
                config,
                clock=self.clock,
                media=self.media,
                dispatcher=self.dispatcher,
                main_auth_token=main_token,
                data_dir=self.data_dir,
                engine_factory=engine_factory,
            )
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._advance_lock = threading.Lock()
        self.ticks = TickLateness(config.frame_ms)
        self.started = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        self.dispatcher.start()
        threading.Thread(target=self._prewarm, name="mpcmix-media-prewarm", daemon=True).start()
        if isinstance(self.clock, RealtimeClock):
            self._ticker = threading.Thread(target=self._tick_loop, name="mpcmix-ticker",
                                            daemon=True)
            self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5)
        for runtime in self.runtimes.values():
            try:
                runtime.close()
            except Exception:
                log.exception("closing account %s failed", runtime.account.auth_id)
        self.dispatcher.stop(timeout_s=2.0)

    def _prewarm(self) -> None:
        # Decode the lines' audio before the first call needs it, so no request waits on it.
        for spec in self.config.lines.values():
            if self._stop.is_set():
                return
            if spec.audio:
                try:
                    self.media.load(spec.audio)
                except Exception as exc:
                    log.warning("line audio %r cannot be used: %s", spec.audio, exc)

    def _tick_loop(self) -> None:
        # Render every account up to the last frame boundary passed, frame after frame; measure
        # how late each tick finishes (GET /emulator/stats) and flush every file once a second,
        # so a kill -9 loses at most the last second of audio from the files' headers.
        clock = self.clock
        assert isinstance(clock, RealtimeClock)
        rendered = clock.rendered_ms()
        last_flush = time.monotonic()
        while not self._stop.wait(clock.seconds_until_next_frame()):
            target = clock.rendered_ms()
            if target <= rendered:
                continue
            due_ms = rendered + clock.frame_ms  # the oldest boundary this tick serves
            for runtime in self.runtimes.values():
                runtime.tick(target)
            if time.monotonic() - last_flush >= FLUSH_EVERY_S:
                last_flush = time.monotonic()
                self.flush_all()
            done = clock.elapsed_ms_exact()
            self.ticks.record(done, done - due_ms)
            rendered = target

    def flush_all(self) -> None:
        """Flush every account's open files (WAV headers count what is on disk)."""
        for runtime in self.runtimes.values():
            runtime.flush()

    # -- lookups -------------------------------------------------------------------------------

    def account_for(self, request: Request) -> Account:
        return self.auth.authenticate(request.headers.get("authorization"))

    def runtime_for(self, request: Request, path_auth_id: str) -> AccountRuntime:
        account = self.auth.acting_as(self.account_for(request), path_auth_id)
        return self.runtimes[account.auth_id]

    def advance(self, seconds: Any) -> int:
        if not isinstance(self.clock, VirtualClock):
            raise ValidationError("the clock is real time: /emulator/advance needs --clock virtual")
        with self._advance_lock:
            now = self.clock.advance(seconds)
            for runtime in self.runtimes.values():
                runtime.tick(now)
            # Virtual time stands still between advances: flush after each one, so whatever it
            # rendered is counted in the files' headers (a kill -9 loses none of it).
            self.flush_all()
        return now


# --- responses ----------------------------------------------------------------------------------


def api_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The API's error body. Statuses a request may cause are 4xx only."""
    if status >= 500 or status < 400:
        status = 400
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Basic realm="mpcmix"'}
    return JSONResponse({"api_id": new_api_id(), "error": message}, status_code=status,
                        headers=dict(headers or {}))


def _ok(body: Any, status: int) -> Response:
    if body is None:
        return Response(status_code=204)
    if isinstance(body, dict):
        body = {"api_id": new_api_id(), **body} if "api_id" not in body else body
    return JSONResponse(body, status_code=status)


async def _guard(work: Callable[[], Awaitable[Response]]) -> Response:
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


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes, the most this server "
                           "takes (max_body_bytes)")


async def _read_body(request: Request) -> bytes:
    """The body, read up to the server's limit (a chunked body over it stops being read)."""
    limit = request.app.state.mpcmix.config.max_body_bytes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _args(request: Request, *, body: bool) -> dict[str, Any]:
    args = P.query_args(request.query_params.multi_items())
    if body:
        raw = await _read_body(request)
        args.update(P.parse_body(raw, request.headers.get("content-type")))
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


# --- the endpoints -------------------------------------------------------------------------------

_ERRORS = {
    "400": {"description": "a parameter is missing, malformed, out of range, or not supported"},
    "401": {"description": "missing or wrong credentials"},
    "404": {"description": "no such MPC, participant, recording or play in this account"},
    "405": {"description": "the resource does not take this method"},
}


def _doc(status: int, what: str, example: Mapping[str, Any] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = dict(_ERRORS)
    entry: dict[str, Any] = {"description": what}
    if example is not None:
        entry["content"] = {"application/json": {"example": example}}
    responses[str(status)] = entry
    return responses


_MPC_EXAMPLE = {
    "api_id": "ed93aea0-45cd-11eb-8530-0242ac110006",
    "friendly_name": "test_mpc",
    "mpc_uuid": "8742d531-292a-46aa-8754-836be1092885",
    "status": "Active",
}


def _add_mpc_routes(app: FastAPI, state: ServerState) -> None:
    def account_op(path: str, method: str, op: str, table: Mapping[str, P.Param], status: int,
                   summary: str, example: Mapping[str, Any] | None = None) -> None:
        async def endpoint(request: Request, auth_id: str) -> Response:
            async def work() -> Response:
                runtime = state.runtime_for(request, auth_id)
                args = P.coerce(table, await _args(request, body=method != "GET"))
                runtime = _sub_account(state, runtime, args)
                result = await run_in_threadpool(runtime.apply, op, table, args)
                return _ok(result, status)
            return await _guard(work)

        _register(app, path, method, endpoint, op, summary, table, status, example)

    def mpc_op(path: str, method: str, op: str, table: Mapping[str, P.Param], status: int,
               summary: str, example: Mapping[str, Any] | None = None) -> None:
        async def endpoint(request: Request, auth_id: str, mpc_id: str) -> Response:
            async def work() -> Response:
                runtime = state.runtime_for(request, auth_id)
                target = mpc_target(mpc_id)
                args = P.coerce(table, await _args(request, body=method != "GET"))
                if op == "start":
                    _check_start_status(args)
                result = await run_in_threadpool(runtime.apply, op, table, args, target=target)
                return _ok(result, status)
            return await _guard(work)

        _register(app, path, method, endpoint, op, summary, table, status, example)

    def member_op(path: str, method: str, op: str, table: Mapping[str, P.Param], status: int,
                  summary: str, example: Mapping[str, Any] | None = None,
                  prefixless: bool = False) -> None:
        async def endpoint(request: Request, auth_id: str, mpc_id: str, member_id: str) -> Response:
            async def work() -> Response:
                runtime = state.runtime_for(request, auth_id)
                target = mpc_target(mpc_id, prefixless_is_name=prefixless)
                args = P.coerce(table, await _args(request, body=method != "GET"))
                if op == "start_play_audio" and not (args.get("url") or args.get("urls")):
                    raise ValidationError("start_play_audio: urls (or url) is required")
                result = await run_in_threadpool(
                    runtime.apply, op, table, args, target=target, member=member_id
                )
                return _ok(result, status)
            return await _guard(work)

        _register(app, path, method, endpoint, op, summary, table, status, example)

    account_op(MPC + "/", "GET", "list", P.LIST, 200, "List all multiparty calls",
               {"api_id": "...", "meta": {"count": 1, "limit": 20, "next": None, "offset": 0,
                                          "previous": None}, "objects": [_MPC_EXAMPLE]})
    mpc_op(MPC_ID + "/", "GET", "get", P.CALLBACK_ONLY, 200, "Retrieve a multiparty call",
           _MPC_EXAMPLE)
    mpc_op(MPC_ID + "/", "POST", "start", P.START, 200, "Activate a multiparty call",
           {"api_id": "...", "message": "MPC: test_mpc started"})
    mpc_op(MPC_ID + "/", "DELETE", "end", P.CALLBACK_ONLY, 204, "End a multiparty call (SDK: stop)")
    mpc_op(MPC_ID + "/Participant/", "GET", "list_participants", P.LIST_PARTICIPANTS, 200,
           "List all participants")
    mpc_op(MPC_ID + "/Participant/", "POST", "add_participant", P.ADD_PARTICIPANT, 201,
           "Add a participant (creates the MPC when no live MPC has the name)",
           {"api_id": "...", "calls": [{"to": "+14155550100", "from": "+14155550000",
                                        "call_uuid": "..."}],
            "message": "add participant action initiated", "request_uuid": "..."})
    mpc_op(MPC_ID + "/Record/", "POST", "start_recording", P.START_RECORDING, 200,
           "Start recording the MPC",
           {"api_id": "...", "message": "MPC: test_mpc record started", "recording_id": "...",
            "recording_url": "http://HOST:PORT/v1/Account/AUTH_ID/Recording/ID.mp3"})
    mpc_op(MPC_ID + "/Record/", "DELETE", "stop_recording", P.CALLBACK_ONLY, 204,
           "Stop recording the MPC")
    mpc_op(MPC_ID + "/Record/Pause/", "POST", "pause_recording", P.CALLBACK_ONLY, 204,
           "Pause the MPC recording")
    mpc_op(MPC_ID + "/Record/Resume/", "POST", "resume_recording", P.CALLBACK_ONLY, 204,
           "Resume the MPC recording")
    member_op(MEMBER + "/", "GET", "get_participant", P.CALLBACK_ONLY, 200,
              "Retrieve a participant")
    member_op(MEMBER + "/", "POST", "update_participant", P.UPDATE_PARTICIPANT, 200,
              "Update participants (member id, comma-separated ids, or all)",
              {"api_id": "...", "mute": "MPC: test_mpc mute/unmute member(s) succeeded"})
    member_op(MEMBER + "/", "DELETE", "kick_participant", P.CALLBACK_ONLY, 204,
              "Kick participants (member id, comma-separated ids, or all)")
    # The SDK sends the name_/uuid_ prefix here; the API text leaves it out: accept both.
    member_op(MEMBER + "/Record/", "POST", "start_participant_recording",
              P.START_PARTICIPANT_RECORDING, 200, "Start recording a participant",
              {"api_id": "...", "message": "...", "recording_id": "...", "recording_url": "..."},
              prefixless=True)
    member_op(MEMBER + "/Record/", "DELETE", "stop_participant_recording", P.TRACK_TYPE, 204,
              "Stop recording a participant", prefixless=True)
    member_op(MEMBER + "/Record/Pause/", "POST", "pause_participant_recording", P.TRACK_TYPE,
              204, "Pause a participant recording", prefixless=True)
    member_op(MEMBER + "/Record/Resume/", "POST", "resume_participant_recording", P.TRACK_TYPE,
              204, "Resume a participant recording", prefixless=True)
    member_op(MPC_ID + "/Member/{member_id}/Play/", "POST", "start_play_audio", P.PLAY, 202,
              "Play audio to participants (member id, comma-separated ids, or all)",
              {"api_id": "...", "message": "play queued into MPC", "mpcMemberId": ["355"],
               "mpcName": "test_mpc"})
    member_op(MPC_ID + "/Member/{member_id}/Play/", "DELETE", "stop_play_audio", P.EMPTY, 204,
              "Stop playing audio (use the member form used to start it)")


def _register(app: FastAPI, path: str, method: str, endpoint: Callable[..., Any], op: str,
              summary: str, table: Mapping[str, P.Param], status: int,
              example: Mapping[str, Any] | None) -> None:
    extra: dict[str, Any] = {}
    if method == "GET":
        if table:
            extra["parameters"] = P.openapi_query(table)
    elif table:
        extra["requestBody"] = P.openapi_body(table, P.REQUIRED.get(op, ()),
                                              P.ONE_OF_REQUIRED.get(op, ()))
    app.add_api_route(
        path,
        endpoint,
        methods=[method],
        name=op,
        operation_id=op if op != "end" else "stop",
        summary=summary,
        tags=["MultiPartyCall"],
        status_code=status,
        responses=_doc(status, summary, example),
        openapi_extra=extra or None,
        response_class=Response,
    )


def _check_start_status(args: dict[str, Any]) -> None:
    status = args.get("status")
    if status is None:
        raise ValidationError("start: status is required (set it to Active)")
    if str(status).strip().lower() != "active":
        raise ValidationError(f"start: status must be Active, not {status!r}")


def _sub_account(state: ServerState, runtime: AccountRuntime,
                 args: dict[str, Any]) -> AccountRuntime:
    """`list(sub_account=SA...)` by a main account lists that subaccount's MPCs."""
    sub = args.pop("sub_account", None)
    if sub is None or sub == runtime.account.auth_id:
        return runtime
    target = state.runtimes.get(sub)
    if target is None or target.account.parent != runtime.account.auth_id:
        raise ValidationError(f"sub_account {sub!r} is not a subaccount of this account")
    return target


# --- downloads ------------------------------------------------------------------------------------


def _add_download_routes(app: FastAPI, state: ServerState) -> None:
    async def recording(request: Request, auth_id: str, filename: str) -> Response:
        async def work() -> Response:
            runtime = state.runtime_for(request, auth_id)
            if not _SAFE_FILENAME.match(filename):
                raise NotFoundError(f"no recording file {filename!r} in this account")
            path, complete = await run_in_threadpool(runtime.recording_file, filename)
            return await _file_response(runtime, path, complete)
        return await _guard(work)

    async def listener(request: Request, auth_id: str, mpc_id: str, member_id: str) -> Response:
        async def work() -> Response:
            runtime = state.runtime_for(request, auth_id)
            target = mpc_target(mpc_id)
            if "," in member_id or member_id == "all":
                raise NotFoundError("a listener stream belongs to one participant")
            path = await run_in_threadpool(runtime.listener_file, target, member_id)
            return await _file_response(runtime, path, complete=False)
        return await _guard(work)

    app.add_api_route(
        ACCOUNT + "/Recording/{filename}", recording, methods=["GET"], tags=["Downloads"],
        summary="Download a recording (the recording_url the API returned)",
        operation_id="download_recording",
        responses={"200": {"description": "the audio file",
                           "content": {"audio/mpeg": {}, "audio/wav": {}}}, **_ERRORS},
        response_class=Response,
    )
    app.add_api_route(
        MEMBER + "/Listener.wav", listener, methods=["GET"], tags=["Downloads"],
        summary="Download what a participant heard so far (emulator only)",
        operation_id="download_listener_stream",
        responses={"200": {"description": "16-bit PCM (or float) WAV, from the MPC's creation",
                           "content": {"audio/wav": {}}}, **_ERRORS},
        response_class=Response,
    )


async def _file_response(runtime: AccountRuntime, path: Path, complete: bool) -> Response:
    path = _confined(runtime.dir, path)
    media_type = "audio/mpeg" if path.suffix == ".mp3" else "audio/wav"
    if complete or path.suffix != ".wav":
        return FileResponse(path, media_type=media_type, filename=path.name)
    # A file still being written: its WAV header may not count the newest samples yet.
    data = await run_in_threadpool(wav_snapshot, path)
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{path.name}"'})


def _confined(root: Path, path: Path) -> Path:
    real_root = root.resolve()
    real = path.resolve()
    if real_root not in real.parents or not real.is_file():
        raise NotFoundError(f"no file {path.name!r} in this account")
    return real


# --- emulator-only endpoints ---------------------------------------------------------------------


def _add_emulator_routes(app: FastAPI, state: ServerState) -> None:
    async def advance(request: Request) -> Response:
        async def work() -> Response:
            state.account_for(request)
            args = await _args(request, body=True)
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
        return await _guard(work)

    async def clock(request: Request) -> Response:
        async def work() -> Response:
            state.account_for(request)
            now = state.clock.now_ms()
            return JSONResponse({"api_id": new_api_id(), "clock": state.clock.kind,
                                 "now": now / 1000, "now_ms": now,
                                 "frame_ms": state.config.frame_ms,
                                 "sample_rate": state.config.sample_rate})
        return await _guard(work)

    async def events(request: Request) -> Response:
        async def work() -> Response:
            account = state.account_for(request)
            q = P.query_args(request.query_params.multi_items())
            runtime = state.runtimes[account.auth_id]
            sub = q.get("sub_account")
            if sub:
                runtime = _sub_account(state, runtime, {"sub_account": sub})
            try:
                after = int(q.get("after", 0))
                limit = int(q["limit"]) if "limit" in q else None
            except (TypeError, ValueError):
                raise ValidationError("events: after and limit must be integers") from None
            records = runtime.events.read(after=after, limit=limit, name=q.get("name"),
                                          mpc_uuid=q.get("mpc_uuid"))
            return JSONResponse({"api_id": new_api_id(), "count": len(records),
                                 "events": records})
        return await _guard(work)

    def far_end(action: str) -> Callable[..., Awaitable[Response]]:
        async def endpoint(request: Request, call_uuid: str) -> Response:
            async def work() -> Response:
                account = state.account_for(request)
                digits = None
                if action == "dtmf":
                    args = await _args(request, body=True)
                    digits = args.get("digits")
                    if not isinstance(digits, str) or not digits:
                        raise ValidationError("dtmf: digits is required, e.g. {\"digits\": \"1\"}")
                runtime = _runtime_of_call(state, account, call_uuid)
                result = await run_in_threadpool(runtime.far_end, action, call_uuid, digits)
                body = result if isinstance(result, dict) else {
                    "message": f"call {call_uuid}: {action} done", "call_uuid": call_uuid}
                return _ok(body, 200)
            return await _guard(work)
        return endpoint

    async def health() -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def stats(request: Request) -> Response:
        async def work() -> Response:
            state.account_for(request)
            q = P.query_args(request.query_params.multi_items())
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
                "ticker": state.ticks.summary(window_s, now),
                "callbacks": {"pending": state.dispatcher.pending(),
                              "queue_size": state.dispatcher.max_pending},
            })
        return await _guard(work)

    tags = ["Emulator"]
    app.add_api_route("/emulator/advance", advance, methods=["POST"], tags=tags,
                      summary="Move the virtual clock forward by {\"seconds\": S}",
                      operation_id="emulator_advance", response_class=Response,
                      openapi_extra={"requestBody": {"required": True, "content": {
                          media: {"schema": {
                              "type": "object", "required": ["seconds"],
                              "properties": {"seconds": _SECONDS}}}
                          for media in ("application/json", "application/x-www-form-urlencoded")}}},
                      responses={"200": {"description": "the new time", "content": {
                          "application/json": {"example": {"now": 2.5, "now_ms": 2500}}}},
                          **_ERRORS})
    app.add_api_route("/emulator/clock", clock, methods=["GET"], tags=tags,
                      summary="The server clock", operation_id="emulator_clock",
                      response_class=Response)
    app.add_api_route("/emulator/events", events, methods=["GET"], tags=tags,
                      summary="This account's event log, with callback delivery status",
                      operation_id="emulator_events", response_class=Response,
                      openapi_extra={"parameters": [
                          {"name": n, "in": "query", "required": False, "schema": s}
                          for n, s in (("after", {"type": "integer"}),
                                       ("limit", {"type": "integer"}),
                                       ("name", {"type": "string"}),
                                       ("mpc_uuid", {"type": "string"}),
                                       ("sub_account", {"type": "string"}))]})
    for action, what in (("hangup", "The participant's phone hangs up"),
                         ("answer", "The participant's phone answers now"),
                         ("dtmf", "The participant's phone sends DTMF {\"digits\": ...}")):
        extra = None
        if action == "dtmf":
            extra = {"requestBody": {"required": True, "content": {
                media: {"schema": {"type": "object", "required": ["digits"], "properties": {
                    "digits": {"type": "string", "pattern": "^[0-9#*]+$"}}}}
                for media in ("application/json", "application/x-www-form-urlencoded")}}}
        app.add_api_route(f"/emulator/calls/{{call_uuid}}/{action}", far_end(action),
                          methods=["POST"], tags=tags, summary=what,
                          operation_id=f"emulator_{action}", response_class=Response,
                          openapi_extra=extra, responses=dict(_ERRORS))
    app.add_api_route("/emulator/stats", stats, methods=["GET"], tags=tags,
                      summary="Real-time ticker lateness (p50/p99/max over window_s seconds) and "
                              "the callback queue", operation_id="emulator_stats",
                      response_class=Response,
                      openapi_extra={"parameters": [
                          {"name": "window_s", "in": "query", "required": False,
                           "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400,
                                      "default": 60}}]})
    app.add_api_route("/emulator/health", health, methods=["GET"], tags=tags,
                      summary="Liveness (no credentials needed)",
                      operation_id="emulator_health", response_class=Response)


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


# --- plumbing -------------------------------------------------------------------------------------


class _TrailingSlash:
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


class _BodyLimit:
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
                        error = _too_large(self.max_bytes)
                        response = api_error(error.status, error.message,
                                             {"Connection": "close"})
                        await response(scope, receive, send)
                        return
        await self.app(scope, receive, send)


class _NoServerErrors:
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


def build_app(config: ServerConfig, *, engine_factory: Callable[..., Any] | None = None) -> FastAPI:
    """The ASGI application serving `config`'s accounts (threads start with its lifespan)."""
    state = ServerState(config, engine_factory=engine_factory)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, state.stop)

    app = FastAPI(
        title="mpcmix: Plivo Multiparty Call emulator",
        version=__version__,
        description=(
            "Plivo's Multiparty Call REST API under /v1/Account/{auth_id}/MultiPartyCall/, "
            "answered by a local call model that mixes what every participant hears; plus "
            "emulator-only endpoints under /emulator/. HTTP Basic auth with auth_id:auth_token. "
            "Errors are {\"api_id\": ..., \"error\": ...} with 400/401/404/405."
        ),
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.mpcmix = state

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
            # Starlette names only the first route that matched; each method is its own route.
            allowed = _allowed_methods(app, request.scope)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        elif exc.status_code == 404:
            message = f"no such resource: {request.url.path}"
        else:
            message = str(exc.detail)
        return api_error(exc.status_code, message, headers)

    @app.exception_handler(MpcError)
    async def mpc_error(_request: Request, exc: MpcError) -> Response:
        return api_error(exc.status, exc.message)

    _add_mpc_routes(app, state)
    _add_download_routes(app, state)
    _add_emulator_routes(app, state)
    install_openapi(app)
    app.add_middleware(_TrailingSlash)
    app.add_middleware(_BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(_NoServerErrors)
    return app


def _allowed_methods(app: FastAPI, scope: Mapping[str, Any]) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(scope)
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods |= set(route_methods)
    return sorted(methods)


__all__ = ["AuthenticationError", "ServerState", "api_error", "build_app", "mpc_target"]
