"""One running instance: a sandboxed process tree with a runtime agent on the other end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from fcompute.pool.connection import ConnectionLost, Frame, InstanceConnection
from fcompute.runtime import errors as runtime_errors
from fcompute.runtime.protocol import MAX_RESPONSE_BYTES, Kind
from fcompute.sandbox.base import ExitReason, SandboxProcess


class InstanceState(Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


@dataclass(frozen=True)
class StartInfo:
    """How long each step of a cold start took, in milliseconds."""

    code_ms: float
    start_ms: float
    init_ms: float


class InstanceFailure(Exception):
    """The instance failed in a way that ends it (timeout, exit, failed start)."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = {"errorType": error_type, "errorMessage": message,
                      "stackTrace": stack or []}


class Instance:
    def __init__(
        self, instance_id: str, function_key: str, process: SandboxProcess,
        connection: InstanceConnection,
    ) -> None:
        self.id = instance_id
        self.function_key = function_key
        self.process = process
        self.connection = connection
        self.state = InstanceState.STARTING
        self.last_used = time.monotonic()
        self.invocations = 0

    @property
    def alive(self) -> bool:
        return self.state is not InstanceState.DEAD and not self.connection.lost

    def kill(self) -> None:
        self.state = InstanceState.DEAD
        self.process.kill()
        self.connection.close()

    async def failure(self, timed_out_after: float | None = None) -> InstanceFailure:
        """Kills the instance and explains why it ended."""
        self.kill()
        if timed_out_after is not None:
            return InstanceFailure(
                runtime_errors.TIMEOUT, f"Function timed out after {timed_out_after:g} seconds"
            )
        violation = self.connection.violation
        if violation is not None:
            return InstanceFailure(violation.error_type,
                                   f"{violation.message}; the instance was stopped")
        try:
            code = await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            code = -1
        if self.process.exit_reason() is ExitReason.OUT_OF_MEMORY:
            return InstanceFailure(
                runtime_errors.OUT_OF_MEMORY,
                "the instance ran out of memory and was stopped; raise memorySize",
            )
        return InstanceFailure(
            runtime_errors.EXITED, f"the instance exited unexpectedly (status {code})"
        )

    async def request(
        self, kind: Kind, meta: dict[str, Any], payload: bytes, timeout: float
    ) -> Frame:
        """Sends one request and waits for its single reply frame (INVOKE, INIT)."""
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            self.connection.send(kind, meta, payload)
        except ConnectionLost:
            raise await self.failure() from None
        return await self._reply(_REPLIES[kind], _request_id(meta), deadline, timeout)

    async def request_more(self, meta: dict[str, Any], timeout: float) -> Frame:
        """Waits for the reply that follows LOADED: the initializer's outcome."""
        deadline = asyncio.get_running_loop().time() + timeout
        return await self._reply(_AFTER_LOADED, _request_id(meta), deadline, timeout)

    async def stream(
        self, kind: Kind, meta: dict[str, Any], payload: bytes, timeout: float
    ) -> AsyncIterator[Frame]:
        """Sends one request and yields reply frames until HTTP_END or ERROR."""
        deadline = asyncio.get_running_loop().time() + timeout
        request_id = _request_id(meta)
        try:
            self.connection.send(kind, meta, payload)
        except ConnectionLost:
            raise await self.failure() from None
        expected = _HTTP_FIRST
        while True:
            frame = await self._reply(expected, request_id, deadline, timeout)
            yield frame
            if frame[0] in _FINAL:
                return
            expected = _HTTP_REST

    async def _reply(
        self, expected: frozenset[Kind], request_id: str, deadline: float, timeout: float
    ) -> Frame:
        """The next reply frame, checked: its kind must be one that may come now, and it
        must name the request in flight. The last reply ends the request."""
        try:
            frame = await self.connection.receive(deadline)
        except TimeoutError:
            raise await self.failure(timed_out_after=timeout) from None
        except ConnectionLost:
            raise await self.failure() from None
        kind, meta, payload = frame
        if kind not in expected:
            self.connection.break_off(runtime_errors.PROTOCOL_ERROR,
                                      f"the instance sent {kind.name} out of turn")
            raise await self.failure()
        if meta.get("requestId") != request_id:
            self.connection.break_off(
                runtime_errors.PROTOCOL_ERROR,
                f"the instance sent {kind.name} for request {meta.get('requestId')!r}, "
                f"not for the request in flight",
            )
            raise await self.failure()
        if kind is Kind.RESULT and len(payload) > MAX_RESPONSE_BYTES:
            self.connection.break_off(
                runtime_errors.RESPONSE_TOO_LARGE,
                f"the response is {len(payload)} bytes; a synchronous response may be at most "
                f"{MAX_RESPONSE_BYTES} bytes (6 MB)",
            )
            raise await self.failure()
        if kind in _FINAL:
            self.connection.finish()
        return frame


def _request_id(meta: dict[str, Any]) -> str:
    request_id = meta.get("requestId", meta.get("initRequestId", ""))
    return str(request_id)


# Which replies may come, and when. LOADED is not final: the initializer's outcome follows.
_REPLIES = {
    Kind.INIT: frozenset({Kind.LOADED, Kind.READY, Kind.INIT_FAILED}),
    Kind.INVOKE: frozenset({Kind.RESULT, Kind.ERROR}),
}
_AFTER_LOADED = frozenset({Kind.READY, Kind.INIT_FAILED})
_HTTP_FIRST = frozenset({Kind.HTTP_START, Kind.ERROR})
_HTTP_REST = frozenset({Kind.HTTP_BODY, Kind.HTTP_END, Kind.ERROR})
_FINAL = frozenset({Kind.READY, Kind.INIT_FAILED, Kind.RESULT, Kind.ERROR, Kind.HTTP_END})
