"""The platform's end of an instance socket: frames in, frames out, one request at a time.

User code shares the instance with the runtime agent and can write anything to this
socket, so nothing read from it is trusted: a malformed or oversized frame, or a frame
that arrives while no request is in flight, ends the connection and records why in
``violation`` (the instance then fails with ``Runtime.ProtocolError``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

from fcompute.runtime import errors as runtime_errors
from fcompute.runtime.protocol import MAX_REPLY_FRAME, FrameDecoder, FrameTooLarge, Kind, encode

Frame = tuple[Kind, dict[str, Any], bytes]

# Stop reading from an instance when this many streamed chunks wait for a slow client.
MAX_BUFFERED_CHUNKS = 16


class ConnectionLost(Exception):
    """The instance closed its socket: it exited or was killed."""


@dataclass(frozen=True)
class Violation:
    """How an instance broke the protocol: ``error_type`` is a stable ``Runtime.*`` code."""

    error_type: str
    message: str


class InstanceConnection(asyncio.Protocol):
    """Delivers incoming frames to whoever waits: one future, or a stream of frames."""

    def __init__(self) -> None:
        self._decoder = FrameDecoder(MAX_REPLY_FRAME)
        self._transport: asyncio.Transport | None = None
        self._frames: deque[Frame] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._paused = False
        self._in_flight = False  # a request was sent and its last reply has not come
        self.violation: Violation | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._in_flight:
            self.break_off(runtime_errors.PROTOCOL_ERROR,
                           "the instance wrote to its socket while no request was in flight")
            return
        try:
            frames = self._decoder.feed(data)
        except FrameTooLarge as exc:
            self.break_off(runtime_errors.RESPONSE_TOO_LARGE,
                           f"the instance sent a reply over the limit: {exc}")
            return
        except (ValueError, UnicodeDecodeError) as exc:
            self.break_off(runtime_errors.PROTOCOL_ERROR, f"the instance sent {exc}")
            return
        if frames:
            self._frames.extend(frames)
            if len(self._frames) > MAX_BUFFERED_CHUNKS and not self._paused:
                assert self._transport is not None
                self._transport.pause_reading()
                self._paused = True
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def lost(self) -> bool:
        return self._lost

    def break_off(self, error_type: str, message: str) -> None:
        """Ends the connection because the instance broke the protocol."""
        if self.violation is None:
            self.violation = Violation(error_type, message)
        self._frames.clear()
        self.close()
        self._lost = True
        self._wake()

    def send(self, kind: Kind, meta: dict[str, Any] | None = None, payload: bytes = b"") -> None:
        """Sends a request; its replies are expected until ``finish``."""
        if self._lost or self._transport is None:
            raise ConnectionLost("instance connection is closed")
        self._in_flight = True
        self._transport.write(encode(kind, meta, payload))

    def finish(self) -> None:
        """The last reply of the request in flight arrived: anything after it is foreign."""
        self._in_flight = False
        if self._frames or self._decoder.pending:
            self.break_off(runtime_errors.PROTOCOL_ERROR,
                           "the instance sent more frames after its reply")

    async def receive(self, deadline: float | None = None) -> Frame:
        """The next frame. Raises TimeoutError if none came by ``deadline`` (loop time)."""
        if not self._frames:
            await self._wait(deadline)
        frame = self._frames.popleft()
        if self._paused and len(self._frames) <= MAX_BUFFERED_CHUNKS // 2:
            assert self._transport is not None
            self._transport.resume_reading()
            self._paused = False
        return frame

    async def _wait(self, deadline: float | None) -> None:
        loop = asyncio.get_running_loop()
        # A plain timer that fails the waiter costs half of what asyncio.timeout() does
        # (no task cancellation and uncancellation), and it runs on every invocation.
        timer = loop.call_at(deadline, self._expire) if deadline is not None else None
        try:
            while not self._frames:
                if self._lost:
                    raise ConnectionLost("instance closed the connection")
                self._waiter = loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
