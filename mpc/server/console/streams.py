"""The console's two WebSockets: "listen as" (a mix out) and the microphone (a voice in).

Both sit on the engine's live ports (`mpcmix.engine.live.LiveHub`, ``runtime.engine.live``):
nothing here touches the mixing path, which never waits on a socket.

``/console/listen?auth_id=A&mpc=UUID&member=M`` (``member`` a member_id, or ``recording``): the
client's first message is its credentials, ``{"auth_id": ..., "auth_token": ...}`` (a browser
cannot send an Authorization header on a WebSocket; one sent is used instead). The server answers
``{"event": "start", "sample_rate", "frame_ms", "encoding": "pcm_s16le", "channels": 1, ...}``,
then one binary message a frame: what that participant hears (or the MPC's recording row), 16-bit
little-endian PCM at the call's rate, as the engine mixes it (a frame a tick on the real-time
clock; on the virtual clock as `/emulator/advance` renders). A reader that falls behind loses the
oldest frames (at most `LISTEN_QUEUE_MS` are queued). ``{"event": "end"}`` when the MPC ends.

``/console/mic?auth_id=A&mpc=UUID&role=R[&enter_sound=S]``: after the credentials, the server adds
a participant of role R to the MPC (with `add_participant`'s own rules and defaults; `enter_sound`
as that parameter takes it), dialling a number of its own whose line's voice is live (``live:console-N``),
and answers ``{"event": "joined", "member_id", "call_uuid", "sample_rate", ...}``. Every binary
message from then on is that participant's voice: 16-bit little-endian PCM at the call's rate. When
the socket closes the participant hangs up; when it leaves the call (kicked, the MPC ended) the
server sends ``{"event": "left"}`` and closes. A text message is answered with
``{"event": "queued", "queued_ms", "left"}``: what was sent and not played yet.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
from typing import Any

import numpy as np
from fastapi import FastAPI
from mpcmix.errors import MpcError
from mpcmix.mixer.liveport import LiveInput
from mpcmix.model import Line
from mpcmix.model.params import ROLES
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..runtime import AccountRuntime
from ..state import ServerState

log = logging.getLogger("mpcmix.server")

#: How long a client has to send its credentials.
AUTH_TIMEOUT_S = 10.0
#: The most of a mix queued for a listener that reads too slowly (older frames are dropped).
LISTEN_QUEUE_MS = 1000
#: The largest binary message the microphone may send (a second of audio at 48 kHz).
MIC_MAX_BYTES = 2 * 48000
#: The microphone's playout delay on the real-time clock: a browser sends its audio in bursts
#: (128-sample blocks from the audio thread, through the page's event loop), and the ticker takes
#: a frame every frame_ms; this much queued first keeps the voice whole through that jitter.
#: None on the virtual clock, where what is sent plays exactly from the next advance.
MIC_PLAYOUT_MS = 60
#: The caller ID the console's microphone participants are dialled from.
MIC_FROM = "mpcmix-console"

_mic_numbers = itertools.count(1)


class _Refused(Exception):
    """A request the socket refuses (bad credentials, an unknown MPC or member): told and closed."""

    def __init__(self, message: str, code: int = 1008) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


async def _authenticate(ws: WebSocket, state: ServerState) -> AccountRuntime:
    """The runtime of the account named by ``auth_id`` in the query, for the credentials the
    client sends first (or its Authorization header)."""
    header = ws.headers.get("authorization")
    if header is None:
        try:
            text = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S)
            creds = json.loads(text)
            pair = f"{creds['auth_id']}:{creds['auth_token']}".encode()
        except WebSocketDisconnect:
            raise _Refused("the client went away before sending its credentials", 1000) from None
        except (TimeoutError, ValueError, KeyError, TypeError):
            raise _Refused("send the credentials first: {\"auth_id\": ..., \"auth_token\": ...}") \
                from None
        header = "Basic " + base64.b64encode(pair).decode()
    try:
        account = state.auth.authenticate(header)
        target = ws.query_params.get("auth_id") or account.auth_id
        account = state.auth.acting_as(account, target)
    except MpcError as exc:
        raise _Refused(exc.message) from None
    return state.runtimes[account.auth_id]


def _mpc_of(runtime: AccountRuntime, ws: WebSocket) -> str:
    mpc = ws.query_params.get("mpc") or ""
    with runtime.lock:
        if mpc not in runtime.model.live_mpcs():
            raise _Refused(f"no live MPC {mpc!r} in account {runtime.account.auth_id} "
                           "(name it by its mpc_uuid)")
    return mpc


def _listen_row(runtime: AccountRuntime, mpc: str, member: str) -> str:
    """The engine row of `member` of MPC `mpc` (``recording``: the MPC's recording row)."""
    with runtime.lock:
        if member == "recording":
            return runtime.model.recording_name(mpc)
        try:
            if runtime.model.mpc_uuid_of_member(member) != mpc:
                raise MpcError("other MPC")
            return runtime.model.member_label(member)
        except MpcError:
            raise _Refused(f"no participant {member!r} in MPC {mpc}: give a member_id of it, "
                           "or 'recording'") from None


async def _refuse(ws: WebSocket, exc: _Refused) -> None:
    if ws.client_state is WebSocketState.CONNECTED and ws.application_state is WebSocketState.CONNECTED:
        try:
            await ws.send_text(json.dumps({"event": "error", "error": exc.message}))
            await ws.close(exc.code)
        except (WebSocketDisconnect, RuntimeError):
            pass  # it went away meanwhile


def _start_message(event: str, state: ServerState, **extra: Any) -> str:
    return json.dumps({"event": event, "sample_rate": state.config.sample_rate,
                       "frame_ms": state.config.frame_ms, "encoding": "pcm_s16le", "channels": 1,
                       **extra})


async def listen(ws: WebSocket, state: ServerState) -> None:
    """``/console/listen``: what one participant (or the recording) hears, frame by frame."""
    await ws.accept()
    try:
        runtime = await _authenticate(ws, state)
        mpc = _mpc_of(runtime, ws)
        member = ws.query_params.get("member") or ""
        row = _listen_row(runtime, mpc, member)
    except _Refused as exc:
        await _refuse(ws, exc)
        return
    hub = runtime.engine.live
    feed = hub.subscribe(row, max_ms=LISTEN_QUEUE_MS, loop=asyncio.get_running_loop())
    frame = state.config.sample_rate * state.config.frame_ms // 1000
    closed = asyncio.ensure_future(_until_closed(ws))
    try:
        await ws.send_text(_start_message("start", state, mpc_uuid=mpc, member=member, row=row))
        while True:
            got = asyncio.ensure_future(feed.get())
            done, _ = await asyncio.wait({got, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                got.cancel()
                return
            item = got.result()
            if item is None:
                await ws.send_text(json.dumps({"event": "end", "dropped_samples": feed.dropped}))
                await ws.close(1000)
                return
            block = item[1].astype("<i2", copy=False)
            for i in range(0, len(block), frame):
                await ws.send_bytes(block[i:i + frame].tobytes())
    except (WebSocketDisconnect, RuntimeError):
        return  # the client went away mid-send
    finally:
        hub.unsubscribe(feed)
        closed.cancel()


async def _until_closed(ws: WebSocket) -> None:
    """Read (and ignore) what a listener sends, until it closes the socket."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return


def _join(runtime: AccountRuntime, mpc: str, role: str, enter_sound: str | None
          ) -> tuple[str, str, LiveInput]:
    """Add a participant of `role` to MPC `mpc` whose voice is live: (member_id, call_uuid, the
    input its voice is pushed into). Its line answers at once, so its input is made now rather
    than at the engine's next render: what the socket sends from now on is queued for it (on
    the virtual clock, audio sent before the next advance plays from that advance)."""
    with runtime.lock:
        number = f"console-mic-{next(_mic_numbers)}"
        runtime.model.set_line(number, Line(audio=f"live:{number}", answer_after_ms=0))
        args = {"role": role, "from": MIC_FROM, "to": number, "enter_sound": enter_sound}
        answer = runtime.apply("add_participant", args, target={"uuid": mpc})
        call_uuid = str(answer["calls"][0]["call_uuid"])
        member_id = runtime.model.member_of_call(call_uuid)
        label = runtime.model.member_label(member_id)
        prefill = MIC_PLAYOUT_MS if runtime.clock.kind == "realtime" else 0
        port = runtime.engine.live.voice(label, number, runtime.engine.now_ms, prefill_ms=prefill)
        return member_id, call_uuid, port


def _hang_up(runtime: AccountRuntime, call_uuid: str) -> None:
    try:
        runtime.far_end("hangup", call_uuid)
    except MpcError:
        pass  # it left already (kicked, or its MPC ended)


async def mic(ws: WebSocket, state: ServerState) -> None:
    """``/console/mic``: join an MPC as a participant whose voice is what the socket sends."""
    await ws.accept()
    try:
        runtime = await _authenticate(ws, state)
        mpc = _mpc_of(runtime, ws)
        role = ws.query_params.get("role") or "customer"
        if role not in ROLES:
            raise _Refused(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        try:
            member_id, call_uuid, port = await run_in_threadpool(
                _join, runtime, mpc, role, ws.query_params.get("enter_sound"))
        except MpcError as exc:
            raise _Refused(f"add_participant: {exc.message}") from None
    except _Refused as exc:
        await _refuse(ws, exc)
        return
    try:
        await ws.send_text(_start_message("joined", state, mpc_uuid=mpc, member_id=member_id,
                                          call_uuid=call_uuid, role=role))
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:  # any text: how much is queued (sent, not played yet)
                await ws.send_text(json.dumps({"event": "queued", "queued_ms": port.queued_ms,
                                               "left": port.closed}))
                continue
            if len(data) > MIC_MAX_BYTES or len(data) % 2:
                raise _Refused(f"a microphone message is 16-bit PCM, at most {MIC_MAX_BYTES} bytes "
                               f"(got {len(data)})", 1009)
            if port.closed:  # the participant left the call (kicked, hung up, the MPC ended)
                await ws.send_text(json.dumps({"event": "left", "member_id": member_id}))
                await ws.close(1000)
                return
            port.push(np.frombuffer(data, dtype="<i2").astype(np.int16))
    except _Refused as exc:
        await _refuse(ws, exc)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        await run_in_threadpool(_hang_up, runtime, call_uuid)


def add_stream_routes(app: FastAPI, state: ServerState) -> None:
    """The console's WebSockets (see the module docstring)."""

    async def listen_endpoint(ws: WebSocket) -> None:
        await listen(ws, state)

    async def mic_endpoint(ws: WebSocket) -> None:
        await mic(ws, state)

    app.add_api_websocket_route("/console/listen", listen_endpoint)
    app.add_api_websocket_route("/console/mic", mic_endpoint)


__all__ = ["add_stream_routes", "listen", "mic"]
