"""Reference servers that give the invoke benchmark its floors.

Both run under uvicorn with the settings ``fcompute serve`` uses (uvloop, httptools,
no access log), so the difference to the platform is the platform's own work:

- ``frontdoor``: a raw ASGI app that answers every request itself. Nothing can be
  faster through this HTTP stack: it is the cost of the front door alone.
- ``hop``: the same app, but each request makes one round trip over a Unix socket to a
  worker process that answers ``ok`` (workers start on demand, one per concurrent
  request, like instances). It is the floor of any design that runs user code in
  another process, before any FC semantics (routing, lookup, framing, logs).

Run: ``python bench/_floor_app.py {frontdoor|hop} PORT``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HEADERS = [(b"content-type", b"application/octet-stream"), (b"content-length", b"0")]

# The worker: stdlib only, one blocking read and one write per request.
_WORKER = """
import socket, sys
sock = socket.socket(fileno=int(sys.argv[1]))
while True:
    if not sock.recv(65536):
        break
    sock.sendall(b"ok")
"""


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def frontdoor(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await _drain(receive)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b""})


class _Worker(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reply: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(None)

    async def call(self) -> None:
        assert self.transport is not None
        self.reply = asyncio.get_running_loop().create_future()
        self.transport.write(b"go")
        await self.reply


class HopApp:
    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._processes: list[asyncio.subprocess.Process] = []

    async def _start_worker(self) -> _Worker:
        parent, child = socket.socketpair()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", _WORKER, str(child.fileno()),
            pass_fds=(child.fileno(),),
        )
        child.close()
        self._processes.append(process)
        worker = _Worker()
        await asyncio.get_running_loop().create_unix_connection(lambda: worker, sock=parent)
        return worker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await _drain(receive)
        worker = self._idle.pop() if self._idle else await self._start_worker()
        try:
            await worker.call()
        finally:
            self._idle.append(worker)
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": b""})


def main(argv: list[str]) -> None:
    mode, port = argv[1], int(argv[2])
    app: Callable[[Scope, Receive, Send], Awaitable[None]] = (
        frontdoor if mode == "frontdoor" else HopApp()
    )
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", lifespan="off",
        access_log=False, server_header=False, log_level="warning",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv)
