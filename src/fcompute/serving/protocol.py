"""uvicorn's httptools protocol, with deadlines for slow requests and a slot in the table.

uvicorn (0.30 to 0.54 at least) closes a keep-alive connection that stays idle, but waits
forever for a request head or body that never completes, so a few hundred sockets that
each send half a head hold as many file descriptors for as long as they like. This
subclass follows each connection through the parser's callbacks:

    HEAD ──headers complete──► BODY ──message complete──► APP ──response sent──► REST
     ▲                                                                             │
     └───────────────────────────── first byte of the next request ◄──────────────┘

- HEAD: the head must be complete within ``head_timeout_s`` of the connection opening,
  or of its first byte on a keep-alive connection. Past it the connection is closed, with
  a 408 ``RequestTimeout`` when part of a request arrived.
- BODY: every window of ``body_timeout_s`` must bring ``body_min_rate`` bytes per second,
  except windows the platform caused (it stopped reading because the application had not
  taken the body so far, or a ``100-continue`` is still owed).
- APP: no deadline here; the function's own timeout bounds it.
- REST: uvicorn's keep-alive timeout.

Cost on the hot path: a request whose head and body arrive in one ``data_received`` arms
no timer at all (timers are armed only when a phase outlives the data that started it),
and moves through the table with a few dict operations.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from fcompute.invoke.invoker import new_request_id
from fcompute.serving.settings import ConnectionSettings
from fcompute.serving.table import ConnectionTable

log = logging.getLogger("fcompute.serving")

# At most one warning a minute while the cap is reached: a flood must not flood the log.
CAP_WARNING_INTERVAL_S = 60.0


class Phase(enum.Enum):
    HEAD = "head"
    BODY = "body"
    APP = "app"
    REST = "rest"
    CLOSED = "closed"


class ConnectionGuard:
    """What every connection of one server shares: the settings, the table, the counts."""

    def __init__(self, settings: ConnectionSettings,
                 table: ConnectionTable[GuardedHttpToolsProtocol]) -> None:
        self.settings = settings
        self.table = table
        self.window_bytes = max(1, math.ceil(settings.body_min_rate * settings.body_timeout_s))
        self.head_timeouts = 0
        self.body_timeouts = 0
        self._warned_at = -math.inf

    def at_cap(self, now: float) -> None:
        if now - self._warned_at < CAP_WARNING_INTERVAL_S:
            return
        self._warned_at = now
        table = self.table
        log.warning(
            "%d connections open, the cap: new connections evict those waiting longest for "
            "a request head (%d waiting, %d idle keep-alive; %d evicted and %d refused so "
            "far, %d heads and %d bodies timed out)", table.open, table.waiting_count,
            table.resting_count, table.evicted, table.refused, self.head_timeouts,
            self.body_timeouts)


def protocol_for(guard: ConnectionGuard) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to pass to ``uvicorn.Config(http=...)`` for a server using ``guard``."""

    class BoundProtocol(GuardedHttpToolsProtocol):
        pass

    BoundProtocol.guard = guard
    return BoundProtocol


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    guard: ClassVar[ConnectionGuard]  # set on the subclass protocol_for() makes

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._table = self.guard.table
        self._head_timeout = self.guard.settings.head_timeout_s
        self._phase = Phase.HEAD
        self._admitted = False
        self._timer: asyncio.TimerHandle | None = None
        # Loop time by which the head must be complete; 0 while a pipelined head waits for
        # the response before it (its deadline starts when that response is sent).
        self._head_deadline = 0.0
        self._received = 0  # bytes read from the client so far
        self._window_start = 0  # _received when the current body window began

    # Connection events -------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        table = self._table
        if table.open >= table.capacity:
            self.guard.at_cap(self.loop.time())
        if not table.admit(self):
            self._phase = Phase.CLOSED
            transport.close()
            return
        self._admitted = True
        self._head_deadline = self.loop.time() + self._head_timeout
        self._arm(self._head_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self._phase = Phase.CLOSED
        if self._admitted:
            self._admitted = False
            self._table.release(self)
        super().connection_lost(exc)

    def evict(self) -> None:
        self._cancel()
        self._phase = Phase.CLOSED
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        super().data_received(data)
        if self._timer is None:
            # A phase that outlived the data that began it gets its deadline now.
            phase = self._phase
            if phase is Phase.HEAD and self._head_deadline:
                self._table.waiting(self)
                self._arm(self._head_deadline)
            elif phase is Phase.BODY:
                self._start_window()

    # Parser callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        phase = self._phase
        if phase is Phase.REST:
            self._phase = Phase.HEAD
            self._head_deadline = self.loop.time() + self._head_timeout
            self._table.working(self)  # into "waiting" only if the head outlives this read
        elif phase is Phase.APP:
            self._phase = Phase.HEAD
            self._head_deadline = 0.0

    def on_headers_complete(self) -> None:
        self._cancel()
        self._phase = Phase.BODY
        self._table.working(self)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._phase is not Phase.BODY:
            return
        self._cancel()
        if not self.cycle.response_complete:
            self._phase = Phase.APP
            return
        # Answered before the body ended (an early error): it rests from now, and needs
        # the keep-alive timer uvicorn armed at the response but the body's bytes cancelled.
        self._rest()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing() or not self.cycle.response_complete:
            return  # closing, or pipelined requests still to answer
        phase = self._phase
        if phase is Phase.APP:
            self._rest()
        elif phase is Phase.HEAD and not self._head_deadline:
            self._head_deadline = self.loop.time() + self._head_timeout
            self._table.waiting(self)
            self._arm(self._head_deadline)

    # Deadlines -------------------------------------------------------------------

    def _rest(self) -> None:
        self._phase = Phase.REST
        self._table.resting(self)

    def _arm(self, when: float) -> None:
        self._timer = self.loop.call_at(when, self._expire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start_window(self) -> None:
        self._window_start = self._received
        self._arm(self.loop.time() + self.guard.settings.body_timeout_s)

    def _expire(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._phase is Phase.HEAD:
            self.guard.head_timeouts += 1
            if self._received:
                self._answer_timeout(f"the request head did not arrive within "
                                     f"{self._head_timeout:g} s")
            self._close()
        elif self._phase is Phase.BODY:
            self._check_body()

    def _check_body(self) -> None:
        cycle = self.cycle
        if self.flow.read_paused or cycle.waiting_for_100_continue or cycle.body:
            self._start_window()  # the platform, not the client, is the one not reading
            return
        if self._received - self._window_start >= self.guard.window_bytes:
            self._start_window()
            return
        self.guard.body_timeouts += 1
        if not cycle.response_started:
            settings = self.guard.settings
            self._answer_timeout(f"the request body arrived slower than "
                                 f"{settings.body_min_rate} bytes/s over "
                                 f"{settings.body_timeout_s:g} s")
        # The application sees the request end now rather than when the close completes.
        cycle.disconnected = True
        cycle.message_event.set()
        self._close()

    def _answer_timeout(self, message: str) -> None:
        body = json.dumps({"ErrorCode": "RequestTimeout", "ErrorMessage": message}).encode()
        head = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-fc-request-id: %s\r\n" % new_request_id().encode(),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)

    def _close(self) -> None:
        self._phase = Phase.CLOSED
        self.transport.close()
