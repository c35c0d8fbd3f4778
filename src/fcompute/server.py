"""Runs the platform under uvicorn (uvloop + httptools, the fastest pairing measured here)."""

from __future__ import annotations

import logging
import socket

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
    guard = connection_guard(connections or ConnectionSettings())
    platform = build_platform(settings)
    log.info("fcompute listening on http://%s:%d", settings.host, settings.port)
    log.info("object storage (S3 and OSS APIs) on %s", settings.storage_endpoint)
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
    uvicorn.Server(config).run(sockets=[listener, storage])
