"""The front's connections to a shard (mpcmix.server.upstream) against a real peer on loopback.

The peer is a plain asyncio server that answers each request with the framing a test asks for
(Content-Length, chunked, to the end of the connection) and can close a kept-alive connection
under the next request, as a shard's keep-alive timeout does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from mpcmix.server.upstream import Upstream, UpstreamError

Answer = Callable[[bytes], bytes]


class Peer:
    """Answers requests with `answer(request head)`; counts connections and requests."""

    def __init__(self, answer: Answer, *, close_after: int | None = None) -> None:
        self.answer = answer
        self.close_after = close_after  # close each connection after this many answers
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                reply = self.answer(head)
                writer.write(reply)
                await writer.drain()
                answered += 1
                if b"connection: close" in reply.split(b"\r\n\r\n", 1)[0] or (
                        self.close_after is not None and answered >= self.close_after):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:  # also when the test ends with the connection open (cancelled)
            writer.close()


def sized(body: bytes, status: str = "200 OK") -> Answer:
    return lambda head: (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
                         f"content-length: {len(body)}\r\n\r\n").encode() + (
        b"" if head.startswith(b"HEAD") else body)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_a_small_answer_is_read_whole_and_the_connection_kept() -> None:
    async def go() -> None:
        peer = Peer(sized(b'{"ok": true}', "201 Created"))
        async with peer as url:
            link = Upstream(url)
            for k in range(3):
                answer = await link.request("POST", f"/v1/x?k={k}", [(b"x-a", b"1")], b'{"a": 1}',
                                            whole_up_to=1024)
                assert (answer.status, answer.body, answer.length) == (201, b'{"ok": true}', 12)
                assert ("content-type", "application/json") in answer.headers
            await link.close()
        assert peer.connections == 1  # kept alive
        first = peer.requests[0]
        assert first.startswith(b"POST /v1/x?k=0 HTTP/1.1\r\n")
        assert b"x-a: 1\r\n" in first and b"content-length: 8\r\n" in first
        assert first.endswith(b'\r\n\r\n{"a": 1}')
    run(go())


def test_a_large_answer_is_streamed_and_the_connection_kept_after_it() -> None:
    payload = bytes(range(256)) * 1024  # 256 KiB

    async def go() -> None:
        peer = Peer(sized(payload))
        async with peer as url:
            link = Upstream(url)
            answer = await link.request("GET", "/file.wav", [], b"", whole_up_to=1024)
            assert answer.body is None and answer.stream is not None and answer.length == len(payload)
            assert b"".join([c async for c in answer.stream]) == payload
            again = await link.request("GET", "/file.wav", [], b"", whole_up_to=1 << 20)
            assert again.body == payload
            await link.close()
        assert peer.connections == 1
    run(go())


def test_chunked_and_to_the_end_answers_are_read_in_full() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n")
    to_end = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"

    async def go() -> None:
        peer = Peer(lambda head: chunked if b"/chunked" in head else to_end)
        async with peer as url:
            link = Upstream(url)
            answer = await link.request("GET", "/chunked", [], b"", whole_up_to=1 << 20)
            assert answer.stream is not None
            assert b"".join([c async for c in answer.stream]) == b"hello, world"
            answer = await link.request("GET", "/chunked", [], b"", whole_up_to=1 << 20)
            assert answer.stream is not None
            assert b"".join([c async for c in answer.stream]) == b"hello, world"
            assert peer.connections == 1  # a chunked answer read to its end keeps it
            answer = await link.request("GET", "/end", [], b"", whole_up_to=1 << 20)
            assert answer.stream is not None
            assert b"".join([c async for c in answer.stream]) == b"until the end"
            await link.close()
    run(go())


def test_a_head_answer_has_no_body_whatever_its_length() -> None:
    async def go() -> None:
        peer = Peer(sized(b"x" * 5000))
        async with peer as url:
            link = Upstream(url)
            answer = await link.request("HEAD", "/f", [], b"", whole_up_to=1 << 20)
            assert (answer.status, answer.body, answer.length) == (200, b"", 5000)
            answer = await link.request("GET", "/f", [], b"", whole_up_to=1 << 20)
            assert answer.body == b"x" * 5000
            await link.close()
        assert peer.connections == 1
    run(go())


def test_a_kept_connection_the_peer_closed_is_not_used_again_and_requests_go_once() -> None:
    async def go() -> None:
        peer = Peer(sized(b"{}"), close_after=1)  # closes every connection after one answer
        async with peer as url:
            link = Upstream(url)
            for _ in range(3):
                answer = await link.request("POST", "/once", [], b"body", whole_up_to=1024)
                assert answer.body == b"{}"
                await asyncio.sleep(0.05)  # the peer's close arrives while the connection idles
            await link.close()
        assert len(peer.requests) == 3  # each request reached the peer exactly once
        assert peer.connections == 3
    run(go())


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 200 OK\r\ncontent-len", b"SMTP ready\r\n\r\n",
                                   b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"])
def test_a_broken_answer_is_an_error_not_a_hang(reply: bytes) -> None:
    async def go() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        link = Upstream(f"http://127.0.0.1:{port}", timeout_s=10)
        with pytest.raises((UpstreamError, asyncio.IncompleteReadError)):
            await link.request("GET", "/", [], b"", whole_up_to=1024)
        server.close()
        await asyncio.sleep(0.05)  # the closed connections' transports finish closing
    run(go())


def test_only_plain_http_urls_are_taken() -> None:
    with pytest.raises(ValueError, match="not a plain http URL"):
        Upstream("https://shard.example:8443")
