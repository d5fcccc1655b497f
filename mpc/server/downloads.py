"""Downloads: recordings at their `recording_url`, and what a participant heard (emulator only).

Files are served from the account's own folder only (a path that resolves elsewhere is 404).
Every file is streamed from disk in `CHUNK_BYTES` pieces (memory does not grow with its size or
the number of downloads: the server waits for each piece to be sent before reading the next),
and a `Range: bytes=...` request gets that part (206, `Content-Range`; 416 past the end), so
players seek. A WAV file still being written is served as it is at the request: its header made
to count the whole frames present then (mpcmix.mixer.wavfile.consistent_header), followed by
exactly those bytes of the file (a writer only appends), so the header always matches the bytes
sent, whatever the writer does meanwhile.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from mpcmix.errors import NotFoundError
from mpcmix.mixer import wavfile
from starlette.concurrency import run_in_threadpool

from .http import ERRORS, guard, mpc_target
from .routes import ACCOUNT, MPC
from .runtime import AccountRuntime
from .state import ServerState

MEMBER = MPC + "/{mpc_id}/Participant/{member_id}"
#: The answers to a Range request (OpenAPI `responses`).
RANGES: dict[int | str, dict[str, object]] = {
    "206": {"description": "the part a Range header asked for (Content-Range)"},
    "416": {"description": "the Range asked for starts past the end of the file"},
}
_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9_-]{1,200}\.(wav|mp3)$")
_RECORDING_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def add_download_routes(app: FastAPI, state: ServerState) -> None:
    async def recording(request: Request, auth_id: str, filename: str) -> Response:
        async def work() -> Response:
            runtime = state.runtime_for(request, auth_id)
            if not _SAFE_FILENAME.match(filename):
                raise NotFoundError(f"no recording file {filename!r} in this account")
            path, complete = await run_in_threadpool(runtime.recording_file, filename)
            return await _file_response(runtime, request, path, complete)
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
            return await _file_response(runtime, request, path, complete=False)
        return await guard(work)

    app.add_api_route(
        ACCOUNT + "/Recording/{filename}", recording, methods=["GET"], tags=["Downloads"],
        summary="Download a recording (the recording_url the API returned)",
        operation_id="download_recording",
        responses={"200": {"description": "the audio file",
                           "content": {"audio/mpeg": {}, "audio/wav": {}}},
                   **RANGES, **ERRORS},
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
                           "content": {"audio/wav": {}}}, **RANGES, **ERRORS},
        response_class=Response,
    )


#: Bytes read from the file and handed to the connection at a time.
CHUNK_BYTES = 1 << 16


async def _file_response(runtime: AccountRuntime, request: Request, path: Path,
                         complete: bool) -> Response:
    path = _confined(runtime.dir, path)
    media_type = "audio/mpeg" if path.suffix == ".mp3" else "audio/wav"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if complete or path.suffix != ".wav":
            header, total = b"", os.fstat(fd).st_size
        else:  # still being written: its header made to count what is there now
            consistent = await run_in_threadpool(wavfile.consistent_header, path)
            header, total = consistent.header, consistent.data_offset + consistent.data_length
        span = _range(request.headers.get("range"), total)
    except BaseException:
        os.close(fd)
        raise
    headers = {"Content-Disposition": f'attachment; filename="{path.name}"',
               "Accept-Ranges": "bytes"}
    if span is None:
        os.close(fd)
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{total}"})
    start, end = span  # inclusive
    status = 206 if (start, end) != (0, total - 1) and request.headers.get("range") else 200
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    headers["Content-Length"] = str(max(0, end - start + 1))
    return StreamingResponse(_pieces(fd, header, start, end), status_code=status,
                             media_type=media_type, headers=headers)


def _pieces(fd: int, header: bytes, start: int, end: int) -> Iterator[bytes]:
    """Bytes `start`..`end` (inclusive) of `header` followed by the file's bytes after it, read
    a piece at a time; the descriptor is closed when done (or when the client goes away)."""
    try:
        pos = start
        if pos < len(header):
            piece = header[pos:min(len(header), end + 1)]
            pos += len(piece)
            yield piece
        while pos <= end:
            piece = os.pread(fd, min(CHUNK_BYTES, end + 1 - pos), pos)
            if not piece:  # the file shrank under us: stop rather than send garbage
                return
            pos += len(piece)
            yield piece
    finally:
        os.close(fd)


def _range(header: str | None, total: int) -> tuple[int, int] | None:
    """(first, last) byte to send for a Range header over `total` bytes: the whole file when
    there is none, or it is not one range of bytes (several ranges, another unit, malformed:
    RFC 9110 lets a server ignore it); None when it starts past the end (416)."""
    whole = (0, total - 1)
    if not header:
        return whole
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return whole
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return whole
    try:
        if first_text.strip() == "":  # the last N bytes
            n = int(last_text)
            if n <= 0:
                return None if total == 0 or n == 0 else whole
            return (max(0, total - n), total - 1)
        first = int(first_text)
        last = int(last_text) if last_text.strip() else total - 1
    except ValueError:
        return whole
    if first >= total:
        return None
    if first < 0 or last < first:
        return whole
    return (first, min(last, total - 1))


def _confined(root: Path, path: Path) -> Path:
    real_root = root.resolve()
    real = path.resolve()
    if real_root not in real.parents or not real.is_file():
        raise NotFoundError(f"no file {path.name!r} in this account")
    return real
