"""Runs the platform under uvicorn (uvloop + httptools, the fastest pairing measured here)."""

from __future__ import annotations

import logging
import socket

import uvicorn

from fcompute.config import Settings, check_bind_is_safe
from fcompute.platform import build_platform

log = logging.getLogger("fcompute")


class PortInUseError(Exception):
    pass


def bind(settings: Settings) -> socket.socket:
    """Binds before anything else starts, so a busy port fails fast with a clear message."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings) -> None:
    check_bind_is_safe(settings)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    listener = bind(settings)
    platform = build_platform(settings)
    log.info("fcompute listening on http://%s:%d", settings.host, settings.port)
    log.info("data directory: %s (metadata %s)", settings.data_dir.resolve(), settings.database)
    log.info("signatures: %s", "required" if settings.access_keys else
             "not required (no access keys configured, loopback only)")
    config = uvicorn.Config(
        platform.app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level="warning",
        timeout_keep_alive=75,
    )
    uvicorn.Server(config).run(sockets=[listener])
