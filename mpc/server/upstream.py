"""The front's keep-alive HTTP/1.1 connections to a shard (plain asyncio streams).

A front forwards every API request to the shard that owns its MPC, so what a forward costs is
what the front costs. One request is one write (head and body together) on a connection kept
open; the answer's head is read, then its body by the framing it declares (Content-Length,
chunked, or up to the end of the connection), read whole when it is small (an API answer) or
handed on as it comes (a file). Only what the front needs of HTTP/1.1: no redirects, cookies,
proxies or TLS (a shard reached over https is asked through httpx, `mpcmix.server.front`).

A connection that was idle is used again only while younger than the shards' keep-alive; if one
is closed under a request before a single byte of the answer comes, the request is sent again on
a new connection (the shard read nothing of it: a server closes an idle connection, never one
with a request it has begun).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Idle connections older than this are not used again (uvicorn closes them after 5 s).
IDLE_S = 2.0
#: The most a head (status line and headers) of an answer may take.
HEAD_LIMIT = 1 << 20
_CHUNK = 1 << 16


class UpstreamError(Exception):
    """The shard's answer could not be read (closed early, or not HTTP/1.1)."""


@dataclass
class Answer:
    """A shard's answer: `body` when read whole, else `stream` (its chunks, as they come)."""

    status: int
    headers: list[tuple[str, str]]
    length: int | None
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None


class _Conn:
    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.used = reader, writer, time.monotonic()

    def close(self) -> None:
        self.writer.close()


class Upstream:
    """Connections to one shard at ``http://host:port``; see the module docstring."""

    def __init__(self, url: str, *, timeout_s: float = 600.0, max_idle: int = 64) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a plain http URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.netloc = parts.netloc.encode("latin-1")
        self.timeout_s = timeout_s
        self.max_idle = max_idle
        self._idle: list[_Conn] = []

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> _Conn | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.used < IDLE_S and not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            conn.close()
        return None

    def _give(self, conn: _Conn) -> None:
        if len(self._idle) < self.max_idle and not conn.writer.is_closing():
            conn.used = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()

    async def request(self, method: str, target: str, headers: list[tuple[bytes, bytes]],
                      body: bytes, *, whole_up_to: int) -> Answer:
        """Send a request (`headers` without Host, Content-Length or hop-by-hop ones) and read
        its answer's head; its body whole if it declares a length up to `whole_up_to`."""
        lines = [f"{method} {target} HTTP/1.1".encode("latin-1"), b"host: " + self.netloc,
                 b"content-length: " + str(len(body)).encode()]
        lines += [k + b": " + v for k, v in headers]
        message = b"\r\n".join(lines) + b"\r\n\r\n" + body
        async with asyncio.timeout(self.timeout_s):
            conn = self._take()
            if conn is not None:
                try:
                    return await self._exchange(conn, method, message, whole_up_to)
                except _NothingBack:  # closed by the shard while idle: it read nothing
                    pass
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=HEAD_LIMIT)
            try:
                return await self._exchange(_Conn(reader, writer), method, message, whole_up_to)
            except _NothingBack as exc:
                raise UpstreamError("the shard closed the connection without answering") from exc

    async def _exchange(self, conn: _Conn, method: str, message: bytes, whole_up_to: int) -> Answer:
        try:
            conn.writer.write(message)
            await conn.writer.drain()
            head = await conn.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            conn.close()
            if not exc.partial:
                raise _NothingBack from exc
            raise UpstreamError("the shard's answer ended in its head") from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            conn.close()
            raise _NothingBack from exc
        except BaseException:
            conn.close()
            raise
        try:
            status, headers = _parse_head(head)
            while 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
                status, headers = _parse_head(await conn.reader.readuntil(b"\r\n\r\n"))
        except BaseException:
            conn.close()
            raise
        fields = {k.lower(): v for k, v in headers}
        keep = fields.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            self._give(conn) if keep else conn.close()
            return Answer(status, headers, _length(fields), body=b"")
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return Answer(status, headers, None, stream=self._chunked(conn, keep))
        length = _length(fields)
        if length is None:  # up to the end of the connection
            return Answer(status, headers, None, stream=self._to_end(conn))
        if length <= whole_up_to:
            try:
                content = await conn.reader.readexactly(length)
            except BaseException:
                conn.close()
                raise
            self._give(conn) if keep else conn.close()
            return Answer(status, headers, length, body=content)
        return Answer(status, headers, length, stream=self._sized(conn, length, keep))

    async def _sized(self, conn: _Conn, length: int, keep: bool) -> AsyncIterator[bytes]:
        done = False
        try:
            left = length
            while left:
                chunk = await conn.reader.read(min(left, _CHUNK))
                if not chunk:
                    raise UpstreamError(f"the shard's answer ended {left} bytes short")
                left -= len(chunk)
                yield chunk
            done = True
        finally:
            self._give(conn) if done and keep else conn.close()

    async def _chunked(self, conn: _Conn, keep: bool) -> AsyncIterator[bytes]:
        done = False
        try:
            reader = conn.reader
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                        pass
                    break
                yield await reader.readexactly(size)
                await reader.readexactly(2)
            done = True
        finally:
            self._give(conn) if done and keep else conn.close()

    async def _to_end(self, conn: _Conn) -> AsyncIterator[bytes]:
        try:
            while chunk := await conn.reader.read(_CHUNK):
                yield chunk
        finally:
            conn.close()


class _NothingBack(Exception):
    """The connection closed before any byte of an answer (the request can be sent again)."""


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not status_line[1].isdigit():
        raise UpstreamError(f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise UpstreamError(f"a header line without a colon: {line[:80]!r}")
            headers.append((name.strip(), value.strip()))
    return int(status_line[1]), headers


def _length(fields: dict[str, str]) -> int | None:
    value = fields.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise UpstreamError(f"a Content-Length that is not a number: {value[:40]!r}")
    return int(value)


__all__ = ["Answer", "Upstream", "UpstreamError"]
