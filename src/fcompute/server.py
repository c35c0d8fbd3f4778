"""Runs the platform under uvicorn (uvloop + httptools, the fastest pairing measured here)."""

from __future__ import annotations

import logging

import uvicorn

from fcompute.config import Settings, check_bind_is_safe
from fcompute.platform import build_platform

log = logging.getLogger("fcompute")


def serve(settings: Settings) -> None:
    check_bind_is_safe(settings)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
    uvicorn.Server(config).run()
