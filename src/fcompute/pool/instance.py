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
from fcompute.runtime.protocol import Kind
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
        """Sends one request and waits for its single reply frame."""
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            self.connection.send(kind, meta, payload)
            return await self.connection.receive(deadline)
        except TimeoutError:
            raise await self.failure(timed_out_after=timeout) from None
        except ConnectionLost:
            raise await self.failure() from None

    async def request_more(self, timeout: float) -> Frame:
        """Waits for one more reply frame to the request in flight."""
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            return await self.connection.receive(deadline)
        except TimeoutError:
            raise await self.failure(timed_out_after=timeout) from None
        except ConnectionLost:
            raise await self.failure() from None

    async def stream(
        self, kind: Kind, meta: dict[str, Any], payload: bytes, timeout: float
    ) -> AsyncIterator[Frame]:
        """Sends one request and yields reply frames until HTTP_END or ERROR."""
        deadline = asyncio.get_running_loop().time() + timeout
        self.connection.send(kind, meta, payload)
        while True:
            try:
                frame = await self.connection.receive(deadline)
            except TimeoutError:
                raise await self.failure(timed_out_after=timeout) from None
            except ConnectionLost:
                raise await self.failure() from None
            yield frame
            if frame[0] in (Kind.HTTP_END, Kind.ERROR):
                return
