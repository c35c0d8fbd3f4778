"""A minimal S3 client over raw HTTP/1.1 sockets, to measure the object store with.

The client shares the machine's two vCPUs with the store, so it does as little as it can:
requests are unsigned (a platform without access keys accepts any request on loopback)
and say ``x-amz-content-sha256: UNSIGNED-PAYLOAD``, so neither side hashes the body for a
signature; an upload's body goes from the page cache to the socket with ``sendfile``; a
download is received into one reused buffer and dropped. What is left is the store's own
work: the HTTP server, the front door, the digests it always computes (MD5, CRC32,
CRC-64), the file writes and the fsyncs.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
UNSIGNED = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}


def request_head(host: str, port: int, method: str, path: str, length: int,
                 headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {length}",
             *(f"{name}: {value}" for name, value in {**UNSIGNED, **(headers or {})}.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Reply:
    status: int
    head: bytes
    body: bytes


def _split(buffer: bytes | bytearray) -> tuple[int, int] | None:
    """(end of the head, end of the response) of the first whole response, or None."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    found = _CONTENT_LENGTH.search(buffer, 0, head_end + 2)
    end = head_end + 4 + (int(found.group(1)) if found else 0)
    return (head_end, end) if len(buffer) >= end else None


class Connection:
    """One keep-alive connection to the store, one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._sock = socket.create_connection((host, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def _read_head(self) -> tuple[int, int]:
        """Reads up to the end of a response head: (status, content-length); what came
        after the head stays in the buffer."""
        buffer = self._buffer
        while (head_end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the store closed the connection")
            buffer += chunk
        found = _CONTENT_LENGTH.search(buffer, 0, head_end + 2)
        self._buffer = buffer[head_end + 4:]
        return int(buffer[9:12]), int(found.group(1)) if found else 0

    def _read_reply(self) -> Reply:
        status, length = self._read_head()
        while len(self._buffer) < length:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the store closed the connection")
            self._buffer += chunk
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return Reply(status, b"", body)

    def call(self, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> Reply:
        self._sock.sendall(request_head(self.host, self.port, method, path, len(body),
                                        headers) + body)
        return self._read_reply()

    def put_file(self, path: str, source: Path) -> Reply:
        """PUT of the whole file, sent with ``sendfile`` (no copy through the client)."""
        size = source.stat().st_size
        self._sock.sendall(request_head(self.host, self.port, "PUT", path, size))
        with open(source, "rb") as file:
            sent = self._sock.sendfile(file)
        if sent != size:
            raise ConnectionError(f"sent {sent} of {size} bytes")
        return self._read_reply()

    def get_discard(self, path: str, buffer_size: int = 1 << 20) -> tuple[int, int]:
        """GET whose body is received and dropped: (status, body bytes received)."""
        self._sock.sendall(request_head(self.host, self.port, "GET", path, 0))
        status, length = self._read_head()
        got = min(length, len(self._buffer))
        self._buffer = self._buffer[got:]
        view = memoryview(bytearray(buffer_size))
        while got < length:
            count = self._sock.recv_into(view, min(buffer_size, length - got))
            if not count:
                raise ConnectionError("the store closed the connection mid-body")
            got += count
        return status, got

    def close(self) -> None:
        self._sock.close()


# many small PUTs at a fixed concurrency ------------------------------------------


@dataclass
class LoadResult:
    completed: int
    errors: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


class _State:
    def __init__(self, requests: Sequence[bytes], deadline: float) -> None:
        self.requests = requests
        self.deadline = deadline
        self.next_index = 0
        self.completed = 0
        self.errors = 0
        self.open = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def take(self) -> bytes | None:
        if self.next_index >= len(self.requests) or time.perf_counter() >= self.deadline:
            return None
        request = self.requests[self.next_index]
        self.next_index += 1
        return request

    def finished_one(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.done.done():
            self.done.set_result(None)


class _PutConnection(asyncio.Protocol):
    """Sends the next request as soon as the previous answer is in; stops when the
    requests or the time run out."""

    def __init__(self, state: _State) -> None:
        self._state = state
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._state.open += 1
        self._send_next()

    def _send_next(self) -> None:
        request = self._state.take()
        if request is None or self._transport is None:
            self._state.finished_one()
            return
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (frame := _split(self._buffer)) is not None:
            if self._buffer[9:12] != b"200":
                self._state.errors += 1
            del self._buffer[:frame[1]]
            self._state.completed += 1
            self._send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def _put_many(host: str, port: int, requests: Sequence[bytes], connections: int,
                    seconds: float) -> LoadResult:
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    state = _State(requests, began + seconds)
    transports = []
    for _ in range(connections):
        transport, _protocol = await loop.create_connection(lambda: _PutConnection(state),
                                                            host, port)
        transports.append(transport)
    await state.done
    elapsed = time.perf_counter() - began
    for transport in transports:
        transport.close()
    return LoadResult(state.completed, state.errors, elapsed)


def put_many(host: str, port: int, requests: Sequence[bytes], connections: int,
             seconds: float) -> LoadResult:
    """Sends ``requests`` (whole PUT requests as bytes) over ``connections`` keep-alive
    connections, each request once, until all are answered or ``seconds`` have passed
    (the requests in flight then finish)."""
    try:
        import uvloop

        return uvloop.run(_put_many(host, port, requests, connections, seconds))
    except ImportError:
        return asyncio.run(_put_many(host, port, requests, connections, seconds))


def small_put_requests(host: str, port: int, bucket: str, prefix: str, count: int,
                       size: int) -> list[bytes]:
    """``count`` PUT requests of distinct keys, each with ``size`` random bytes."""
    body = os.urandom(size)
    return [request_head(host, port, "PUT", f"/{bucket}/{prefix}{index:06d}", size,
                         {"content-type": "application/octet-stream"}) + body
            for index in range(count)]
