"""Messages between the platform and its zygote.

One JSON object per ``SOCK_SEQPACKET`` datagram, file descriptors alongside
with ``SCM_RIGHTS``. Message boundaries come from the socket type, so there is
no framing. Operations:

    platform -> zygote   {"op": "configure", ...}        + [] (first message only)
                         {"op": "start", "id": n, ...}   + [instance socket, log fd]
    zygote -> platform   {"op": "ready"} | {"op": "failed", "error": str}
                         {"op": "started", "id": n, "pid": p}  + [pidfd]
                         {"op": "error", "id": n, "error": str}
                         {"op": "exited", "pid": p, "status": s, "oom": bool}
                             (sent once the instance's cgroups are gone)

Standard library only: used by the zygote too.
"""

from __future__ import annotations

import array
import contextlib
import json
import socket
from typing import Any

MAX_MESSAGE = 65536
MAX_FDS = 4


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sock.sendmsg([data], ancillary)
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """The next message and the descriptors that came with it; None at end of stream."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(
        MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * fds.itemsize)
    )
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % fds.itemsize
            fds.frombytes(payload[:usable])
    if not data:
        for fd in fds:
            _close(fd)
        return None
    return json.loads(data), list(fds)


def _close(fd: int) -> None:
    import os

    with contextlib.suppress(OSError):
        os.close(fd)
