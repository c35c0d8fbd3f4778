"""Minimal HTTP/1.1 load clients for the benchmarks.

The measuring client shares the machine's two vCPUs with the server under test, so it
must cost as little as possible per request: requests are pre-built bytes, responses
are parsed only as far as framing needs (status line, ``content-length``).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")
# One request, or several sent in turn (cycled through): a mix of targets, in the order given.
Requests = bytes | Sequence[bytes]
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def build_request(host: str, port: int, method: str, path: str, body: bytes = b"",
                  headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}",
             f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Reply:
    status: int
    head: bytes  # status line and headers, without the blank line
    body: bytes

    def header(self, name: str) -> str:
        match = re.search(rb"\r\n" + re.escape(name.encode()) + rb":\s*([^\r]*)", self.head,
                          re.IGNORECASE)
        return match.group(1).decode("latin-1") if match else ""


class _Framing:
    """Finds where one response ends in a byte buffer (content-length framing only)."""

    @staticmethod
    def split(buffer: bytes | bytearray) -> tuple[int, int] | None:
        """(header end, response end) of the first complete response, or None."""
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        found = _CONTENT_LENGTH.search(buffer, 0, head_end + 2)
        length = int(found.group(1)) if found else 0
        end = head_end + 4 + length
        return (head_end, end) if len(buffer) >= end else None


class BlockingClient:
    """One keep-alive connection, one request at a time: the latency probe."""

    def __init__(self, host: str, port: int) -> None:
        self._sock = socket.create_connection((host, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def call(self, request: bytes) -> Reply:
        self._sock.sendall(request)
        buffer = self._buffer
        while True:
            frame = _Framing.split(buffer)
            if frame is not None:
                break
            chunk = self._sock.recv(262144)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buffer += chunk
        head_end, end = frame
        self._buffer = buffer[end:]
        head = buffer[:head_end]
        return Reply(int(head[9:12]), head, buffer[head_end + 4:end])

    def close(self) -> None:
        self._sock.close()


def request_source(requests: Requests) -> Callable[[], bytes]:
    """What sends next: always the one request, or the next of the sequence, cycling."""
    if isinstance(requests, bytes):
        return itertools.repeat(requests).__next__
    return itertools.cycle(requests).__next__


def measure_latency(host: str, port: int, request: Requests, seconds: float,
                    max_requests: int = 200_000) -> list[float]:
    """Sequential requests on one connection for ``seconds``; latencies in seconds."""
    client = BlockingClient(host, port)
    next_request = request_source(request)
    try:
        for distinct in [request] if isinstance(request, bytes) else sorted(set(request)):
            first = client.call(distinct)
            if first.status != 200:
                raise RuntimeError(
                    f"benchmark request failed: {first.status} {first.body[:200]!r}")
        samples: list[float] = []
        clock = time.perf_counter
        stop = clock() + seconds
        call = client.call
        while len(samples) < max_requests:
            began = clock()
            call(next_request())
            ended = clock()
            samples.append(ended - began)
            if ended >= stop:
                break
        return samples
    finally:
        client.close()


@dataclass
class Throughput:
    requests: int
    seconds: float
    errors: int
    client: str
    notes: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


_WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = ""
wrk.headers["Content-Type"] = "application/octet-stream"
"""

# A share of the requests to another path: each request is drawn in the script (formatted
# once, in init), which costs wrk a Lua call per request that the plain script does not.
_WRK_SPLIT = """\
local main, other
init = function(args)
  main = wrk.format(nil, "{main}")
  other = wrk.format(nil, "{other}")
end
request = function()
  if math.random() < {share!r} then return other end
  return main
end
"""


def wrk_throughput(host: str, port: int, path: str, connections: int, seconds: float,
                   split: tuple[str, float] | None = None) -> Throughput:
    """Runs wrk with one thread (the other vCPU is the server's) and parses its summary.

    With ``split`` (another path, a share), that share of the requests goes to the other
    path, drawn request by request.
    """
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        text = _WRK_SCRIPT
        if split is not None:
            text += _WRK_SPLIT.format(main=path, other=split[0], share=split[1])
        script.write_text(text)
        duration = max(1, round(seconds))
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script),
             f"http://{host}:{port}{path}"],
            capture_output=True, text=True, check=True, timeout=duration + 30,
        ).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    elapsed = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Throughput(int(total.group(1)), elapsed, errors, "wrk")


class _LoadConnection(asyncio.Protocol):
    """Sends the next request as soon as the previous response is complete."""

    def __init__(self, state: _LoadState) -> None:
        self._next_request = state.next_request
        self._state = state
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._state.take()
        self._transport.write(self._next_request())

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        state = self._state
        while True:
            frame = _Framing.split(buffer)
            if frame is None:
                return
            if buffer[9:12] != state.expect:
                state.errors += 1
            del buffer[:frame[1]]
            state.completed += 1
            state.answered()
            if state.running and self._transport is not None and state.take():
                self._transport.write(self._next_request())


@dataclass
class _LoadState:
    next_request: Callable[[], bytes]
    expect: bytes = b"200"
    total: int | None = None  # requests to send in all; None: until ``running`` turns False
    finished: asyncio.Future[None] | None = None  # resolved at the ``total``-th answer
    running: bool = True
    sent: int = 0
    completed: int = 0
    errors: int = 0

    def take(self) -> bool:
        if self.total is not None and self.sent >= self.total:
            return False
        self.sent += 1
        return True

    def answered(self) -> None:
        finished = self.finished
        if finished is not None and not finished.done() and self.completed == self.total:
            finished.set_result(None)


async def _connect(host: str, port: int, state: _LoadState,
                   connections: int) -> list[asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    transports: list[asyncio.BaseTransport] = []
    for _ in range(connections):
        transport, _protocol = await loop.create_connection(
            lambda: _LoadConnection(state), host, port)
        transports.append(transport)
    return transports


async def _python_load(host: str, port: int, request: Requests, connections: int,
                       seconds: float, expect: bytes) -> Throughput:
    state = _LoadState(request_source(request), expect=expect)
    transports = await _connect(host, port, state, connections)
    await asyncio.sleep(0.2)  # let every connection reach steady state before counting
    start_count, began = state.completed, time.perf_counter()
    await asyncio.sleep(seconds)
    done, ended = state.completed, time.perf_counter()
    state.running = False
    for transport in transports:
        transport.close()
    return Throughput(done - start_count, ended - began, state.errors, "python-asyncio")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop

        return uvloop.run(coroutine)
    except ImportError:
        return asyncio.run(coroutine)


def python_throughput(host: str, port: int, request: Requests, connections: int,
                      seconds: float, expect: bytes = b"200") -> Throughput:
    """Fallback when wrk is missing: asyncio keep-alive connections (uvloop if present).

    Answers with another status than ``expect`` are counted as errors.
    """
    return _run(_python_load(host, port, request, connections, seconds, expect))


async def _send_count(host: str, port: int, request: bytes, count: int, connections: int,
                      expect: bytes) -> int:
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    state = _LoadState(request_source(request), expect=expect, total=count, finished=finished)
    transports = await _connect(host, port, state, min(connections, count))
    await finished
    for transport in transports:
        transport.close()
    return state.errors


def send_count(host: str, port: int, request: bytes, count: int, connections: int,
               expect: bytes = b"200") -> int:
    """Sends exactly ``count`` requests over keep-alive connections; returns the errors."""
    return _run(_send_count(host, port, request, count, connections, expect))
