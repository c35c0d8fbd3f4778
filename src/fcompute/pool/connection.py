"""The platform's end of an instance socket: frames in, frames out, one request at a time."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast

from fcompute.runtime.protocol import FrameDecoder, Kind, encode

Frame = tuple[Kind, dict[str, Any], bytes]

# Stop reading from an instance when this many streamed chunks wait for a slow client.
MAX_BUFFERED_CHUNKS = 16


class ConnectionLost(Exception):
    """The instance closed its socket: it exited or was killed."""


class InstanceConnection(asyncio.Protocol):
    """Delivers incoming frames to whoever waits: one future, or a stream of frames."""

    def __init__(self) -> None:
        self._decoder = FrameDecoder()
        self._transport: asyncio.Transport | None = None
        self._frames: deque[Frame] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except ValueError:
            self.close()
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

    def send(self, kind: Kind, meta: dict[str, Any] | None = None, payload: bytes = b"") -> None:
        if self._lost or self._transport is None:
            raise ConnectionLost("instance connection is closed")
        self._transport.write(encode(kind, meta, payload))

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
