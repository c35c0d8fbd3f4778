"""What `fcompute serve` lets operators set about client connections."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConnectionSettings:
    # Seconds a request head may take: from the connection's opening for the first request,
    # from its first byte for a later one on a keep-alive connection (the gap between
    # requests is bounded by the keep-alive timeout instead).
    head_timeout_s: float = 10.0
    # The body must keep arriving: at least body_min_rate bytes per second on average over
    # each window of body_timeout_s seconds, not counting windows where the platform itself
    # stopped reading (the application had not taken what had arrived).
    body_timeout_s: float = 10.0
    body_min_rate: int = 1024
    # Open client connections at most; 0 derives it from the open-file limit.
    max_connections: int = 0
