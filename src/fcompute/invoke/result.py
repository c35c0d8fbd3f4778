"""What an invocation produced, as the API reports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fcompute.pool.instance import StartInfo


@dataclass
class Timings:
    cold: bool = False
    code_ms: float = 0.0
    start_ms: float = 0.0
    init_ms: float = 0.0
    handler_ms: float = 0.0
    # Loop time by which a streamed response must be complete: the function's timeout from
    # the moment an instance took the request (set by the invoker).
    deadline: float | None = None

    def add_start(self, info: StartInfo | None) -> None:
        if info is not None:
            self.cold = True
            self.code_ms = info.code_ms
            self.start_ms = info.start_ms
            self.init_ms = info.init_ms

    def server_timing(self) -> str:
        """A standard ``Server-Timing`` header value (durations in ms)."""
        parts = []
        if self.cold:
            parts += [f"code;dur={self.code_ms:.3f}", f"start;dur={self.start_ms:.3f}",
                      f"init;dur={self.init_ms:.3f}"]
        parts.append(f"handler;dur={self.handler_ms:.3f}")
        return ", ".join(parts)


@dataclass
class InvocationResult:
    request_id: str
    body: bytes = b""
    error: dict[str, Any] | None = None
    log_tail: str | None = None
    timings: Timings = field(default_factory=Timings)
