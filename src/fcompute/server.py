"""Runs the platform under uvicorn (uvloop + httptools, the fastest pairing measured here)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path

import uvicorn

from fcompute.config import Settings, check_bind_is_safe
from fcompute.platform import build_platform
from fcompute.serving.capacity import connection_capacity, raise_file_limit
from fcompute.serving.protocol import ConnectionGuard, protocol_for
from fcompute.serving.settings import ConnectionSettings
from fcompute.serving.table import ConnectionTable

log = logging.getLogger("fcompute")


class PortInUseError(Exception):
    pass


def bind(settings: Settings, port: int, what: str = "") -> socket.socket:
    """Binds before anything else starts, so a busy port fails fast with a clear message."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(
            f"cannot listen on {settings.host}:{port}{what}: {exc.strerror}"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


# sockaddr_un holds 108 bytes, the terminating NUL included.
_UNIX_PATH_MAX = 107


def bind_unix(path: Path) -> socket.socket:
    """The object store's Unix socket, for functions whose network holds only loopback.

    Its directory is private to the platform's user; the socket itself is open to every
    uid, because instances run under their own (the Linux sandbox shows them this one
    file and nothing else of the directory). A socket left by an earlier run is replaced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(os.fsencode(path)) <= _UNIX_PATH_MAX:
            sock.bind(str(path))
        else:
            # A deep data dir: reach the directory through a descriptor, whose path is short.
            directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
            try:
                sock.bind(f"/proc/self/fd/{directory}/{path.name}")
            finally:
                os.close(directory)
        path.chmod(0o666)
    except OSError as exc:
        sock.close()
        raise PortInUseError(f"cannot listen on {path}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class PlatformServer(uvicorn.Server):
    """Removes the store's Unix socket once it stops listening: uvicorn ends a run that a
    signal stopped by raising that signal again, so nothing after ``run`` would run."""

    def __init__(self, config: uvicorn.Config, storage_socket: Path) -> None:
        super().__init__(config)
        self._storage_socket = storage_socket

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().shutdown(sockets)
        finally:
            with contextlib.suppress(OSError):
                self._storage_socket.unlink()


def connection_guard(connections: ConnectionSettings) -> ConnectionGuard:
    """Raises the open-file limit and sizes the connection table to what it leaves."""
    limit = raise_file_limit()
    derived = connection_capacity(limit.now)
    capacity = connections.max_connections or derived
    raised = f", raised from {limit.before}" if limit.now != limit.before else ""
    log.info("accepting up to %d connections (open-file limit %d%s)", capacity, limit.now, raised)
    if capacity > derived:
        log.warning("--max-connections %d leaves fewer than %d descriptors for the database, "
                    "instances and logs under the open-file limit of %d", capacity,
                    limit.now - derived, limit.now)
    log.info("request deadlines: head %g s, body %d bytes/s over %g s", connections.head_timeout_s,
             connections.body_min_rate, connections.body_timeout_s)
    return ConnectionGuard(connections, ConnectionTable(capacity))


def serve(settings: Settings, connections: ConnectionSettings | None = None) -> None:
    check_bind_is_safe(settings)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    listener = bind(settings, settings.port)
    storage = bind(settings, settings.storage_port,
                   " (the object store's port; choose another with --storage-port)")
    storage_unix = bind_unix(settings.storage_socket)
    guard = connection_guard(connections or ConnectionSettings())
    platform = build_platform(settings)
    log.info("fcompute listening on http://%s:%d", settings.host, settings.port)
    log.info("object storage (S3 and OSS APIs) on %s, and for functions without internet "
             "access on %s", settings.storage_endpoint, settings.storage_socket)
    log.info("data directory: %s (metadata %s)", settings.data_dir.resolve(), settings.database)
    log.info("signatures: %s", "required" if settings.access_keys else
             "not required (no access keys configured, loopback only)")
    config = uvicorn.Config(
        platform.app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # The httptools protocol, with request deadlines and the connection cap.
        http=protocol_for(guard),
        # No WebSocket routes: an upgrade would also leave the connection table.
        ws="none",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level="warning",
        timeout_keep_alive=75,
    )
    PlatformServer(config, settings.storage_socket).run(
        sockets=[listener, storage, storage_unix])
