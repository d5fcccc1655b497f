"""Downloads: recordings at their `recording_url`, and what a participant heard (emulator only).

Files are served from the account's own folder only (a path that resolves elsewhere is 404). A
WAV file still being written is served as a consistent snapshot: its header counts exactly the
samples sent.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from mpcmix.errors import NotFoundError
from mpcmix.mixer import wavfile
from starlette.concurrency import run_in_threadpool

from .http import ERRORS, guard, mpc_target
from .routes import ACCOUNT, MPC
from .runtime import AccountRuntime
from .state import ServerState

MEMBER = MPC + "/{mpc_id}/Participant/{member_id}"
_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9_-]{1,200}\.(wav|mp3)$")
_RECORDING_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def add_download_routes(app: FastAPI, state: ServerState) -> None:
    async def recording(request: Request, auth_id: str, filename: str) -> Response:
        async def work() -> Response:
            runtime = state.runtime_for(request, auth_id)
            if not _SAFE_FILENAME.match(filename):
                raise NotFoundError(f"no recording file {filename!r} in this account")
            path, complete = await run_in_threadpool(runtime.recording_file, filename)
            return await _file_response(runtime, path, complete)
        return await guard(work)

    async def recording_resource(request: Request, auth_id: str, recording_id: str) -> Response:
        async def work() -> Response:
            runtime = state.runtime_for(request, auth_id)
            if not _RECORDING_ID.match(recording_id):
                raise NotFoundError(f"no recording {recording_id!r} in this account")
            found = await run_in_threadpool(runtime.recording_object, recording_id)
            return JSONResponse(found)
        return await guard(work)

    async def listener(request: Request, auth_id: str, mpc_id: str, member_id: str) -> Response:
        async def work() -> Response:
            runtime = state.runtime_for(request, auth_id)
            target = mpc_target(mpc_id)
            if "," in member_id or member_id == "all":
                raise NotFoundError("a listener stream belongs to one participant")
            path = await run_in_threadpool(runtime.listener_file, target, member_id)
            return await _file_response(runtime, path, complete=False)
        return await guard(work)

    app.add_api_route(
        ACCOUNT + "/Recording/{filename}", recording, methods=["GET"], tags=["Downloads"],
        summary="Download a recording (the recording_url the API returned)",
        operation_id="download_recording",
        responses={"200": {"description": "the audio file",
                           "content": {"audio/mpeg": {}, "audio/wav": {}}}, **ERRORS},
        response_class=Response,
    )
    app.add_api_route(
        ACCOUNT + "/Recording/{recording_id}/", recording_resource, methods=["GET"],
        tags=["Downloads"], summary="A recording's resource (RecordingResourceURL)",
        operation_id="get_recording", responses=ERRORS, response_class=Response,
    )
    app.add_api_route(
        MEMBER + "/Listener.wav", listener, methods=["GET"], tags=["Downloads"],
        summary="Download what a participant heard so far (emulator only)",
        operation_id="download_listener_stream",
        responses={"200": {"description": "16-bit PCM (or float) WAV, from the MPC's creation",
                           "content": {"audio/wav": {}}}, **ERRORS},
        response_class=Response,
    )


async def _file_response(runtime: AccountRuntime, path: Path, complete: bool) -> Response:
    path = _confined(runtime.dir, path)
    media_type = "audio/mpeg" if path.suffix == ".mp3" else "audio/wav"
    if complete or path.suffix != ".wav":
        return FileResponse(path, media_type=media_type, filename=path.name)
    # A file still being written: its WAV header may not count the newest samples yet.
    data = await run_in_threadpool(wavfile.snapshot, path)
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{path.name}"'})


def _confined(root: Path, path: Path) -> Path:
    real_root = root.resolve()
    real = path.resolve()
    if real_root not in real.parents or not real.is_file():
        raise NotFoundError(f"no file {path.name!r} in this account")
    return real
