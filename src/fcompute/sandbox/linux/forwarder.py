"""The object store inside a network-isolated instance: ``127.0.0.1:<storage port>``
relayed to the platform's storage Unix socket.

An instance of a service with ``internetAccess: false`` has a network namespace of its
own with loopback only, so the platform's TCP ports are out of its reach. The zygote's
child binds ``127.0.0.1:<storage port>`` in that namespace (``listen``, while it still
may) and, once it has dropped its privileges and installed its seccomp filter, forks this
relay (``serve``): it runs as the instance's uid, in its cgroups, under the same filter,
and dies with the instance. Each connection it accepts is joined to a new connection to
the Unix socket the sandbox shows at ``mounts.STORAGE_SOCKET``, bytes unchanged both ways
(a signature covers the Host header, ``127.0.0.1:<port>``, which arrives as sent). The
relay knows that one destination; nothing else outside the instance is reachable.

One thread, non-blocking sockets and a selector; a connection reads again only once what
it read is delivered, so a slow reader holds at most one buffer per direction.

Standard library only: runs in the zygote's children.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import time
from typing import NoReturn

# Per direction of each connection. Larger reads cost fewer system calls per megabyte.
BUFFER_BYTES = 256 * 1024
LISTEN_BACKLOG = 128

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


def listen(port: int) -> socket.socket:
    """The relay's listening socket, in the caller's (the instance's) network namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(LISTEN_BACKLOG)
    return sock


class Direction:
    """Bytes from ``source`` to ``target`` through one buffer."""

    __slots__ = ("buffer", "done", "end", "eof", "source", "start", "target", "view")

    def __init__(self, source: socket.socket, target: socket.socket) -> None:
        self.source = source
        self.target = target
        self.buffer = bytearray(BUFFER_BYTES)
        self.view = memoryview(self.buffer)
        self.start = self.end = 0
        self.eof = False  # the source sent everything
        self.done = False  # ... and all of it reached the target, which was shut for writing

    def wants_read(self) -> bool:
        return not self.eof and self.start == self.end

    def wants_write(self) -> bool:
        return self.start < self.end

    def pull(self) -> None:
        try:
            count = self.source.recv_into(self.buffer)
        except BlockingIOError:
            return
        if count == 0:
            self.eof = True
        else:
            self.start, self.end = 0, count
        self.push()

    def push(self) -> None:
        while self.start < self.end:
            try:
                self.start += self.target.send(self.view[self.start:self.end])
            except BlockingIOError:
                return
        if self.eof and not self.done:
            self.done = True
            self.target.shutdown(socket.SHUT_WR)


class Link:
    """One client connection and its connection to the store."""

    def __init__(self, selector: selectors.BaseSelector, client: socket.socket,
                 upstream: socket.socket) -> None:
        self.selector = selector
        self.client = client
        self.upstream = upstream
        self.outbound = Direction(client, upstream)
        self.inbound = Direction(upstream, client)
        self.masks = {client: 0, upstream: 0}
        self.closed = False
        self.update()

    def on_ready(self, sock: socket.socket, mask: int) -> None:
        reading, writing = ((self.outbound, self.inbound) if sock is self.client
                            else (self.inbound, self.outbound))
        try:
            if mask & WRITE:
                writing.push()
            if mask & READ:
                reading.pull()
        except OSError:
            self.close()
            return
        if self.outbound.done and self.inbound.done:
            self.close()
        else:
            self.update()

    def update(self) -> None:
        for sock, reading, writing in ((self.client, self.outbound, self.inbound),
                                       (self.upstream, self.inbound, self.outbound)):
            mask = (READ if reading.wants_read() else 0) | (WRITE if writing.wants_write() else 0)
            if mask == self.masks[sock]:
                continue
            if self.masks[sock] == 0:
                self.selector.register(sock, mask, self)
            elif mask == 0:
                self.selector.unregister(sock)
            else:
                self.selector.modify(sock, mask, self)
            self.masks[sock] = mask

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sock, mask in self.masks.items():
            if mask:
                self.selector.unregister(sock)
            sock.close()


class Relay:
    def __init__(self, listener: socket.socket, socket_path: str) -> None:
        self.listener = listener
        self.socket_path = socket_path
        self.selector = selectors.DefaultSelector()
        listener.setblocking(False)
        self.selector.register(listener, READ, None)

    def run(self) -> None:
        while True:
            for key, mask in self.selector.select():
                if key.data is None:
                    self.accept()
                else:
                    key.data.on_ready(key.fileobj, mask)

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError:
                # Out of descriptors, say: the waiting connections stay queued meanwhile.
                time.sleep(0.01)
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                client.setblocking(False)
                # Responses go out as the store writes them, not held back by Nagle.
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                upstream.setblocking(False)
                # Never waits: a Unix socket connects at once, or fails at once (EAGAIN
                # when the platform's backlog is full), and the client then sees a reset.
                upstream.connect(self.socket_path)
            except OSError:
                client.close()
                upstream.close()
                continue
            Link(self.selector, client, upstream)


def serve(listener: socket.socket, socket_path: str) -> NoReturn:
    """The relay's process: forked by the instance's init; never returns."""
    from fcompute.sandbox.linux import libc

    status = 0
    try:
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.rename_process("fc-storage-relay")
        Relay(listener, socket_path).run()
    except BaseException:
        status = 1
        with contextlib.suppress(Exception):
            import traceback

            traceback.print_exc()  # into the function's log
    finally:
        os._exit(status)
