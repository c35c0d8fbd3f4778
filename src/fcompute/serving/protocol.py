"""uvicorn's httptools protocol, with deadlines for slow requests and a slot in the table.

uvicorn closes a keep-alive connection that stays idle, but waits forever for a request
head or body that never completes, so a few hundred sockets that each send half a head
hold as many file descriptors for as long as they like. This subclass follows each
connection through the parser's callbacks:

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
and a keep-alive request changes standing in the table twice (one dict operation each).

It reads the base class's per-request state (``cycle``, ``scope``, ``flow``,
``timeout_keep_alive_task``) as uvicorn 0.54 keeps it; ``tests/test_connections.py``
exercises every path against the installed uvicorn.
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
_base = HttpToolsProtocol

# At most one warning a minute while the cap is reached: a flood must not flood the log.
CAP_WARNING_INTERVAL_S = 60.0


class Phase(enum.Enum):
    HEAD = "head"
    BODY = "body"
    APP = "app"
    REST = "rest"
    CLOSED = "closed"


# Module-level names: in CPython 3.11, reading an Enum member through its class is several
# times slower than reading a global, and the hot path reads them several times a request.
HEAD, BODY, APP, REST, CLOSED = Phase.HEAD, Phase.BODY, Phase.APP, Phase.REST, Phase.CLOSED
# _head_deadline values that are not loop times.
NOT_YET = 0.0  # a pipelined head: its deadline starts when the response before it is sent
FROM_NOW = -1.0  # a head began in this read: its deadline starts now


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
            "far, %d heads and %d bodies timed out)", table.open, len(table.waiting),
            len(table.resting), table.evicted, table.refused, self.head_timeouts,
            self.body_timeouts)


def protocol_for(guard: ConnectionGuard) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to pass to ``uvicorn.Config(http=...)`` for a server using ``guard``."""

    class BoundProtocol(GuardedHttpToolsProtocol):
        pass

    BoundProtocol.guard = guard
    return BoundProtocol


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    guard: ClassVar[ConnectionGuard]  # set on the subclass protocol_for() makes

    # The base class's methods are called as _base.method(self, ...): in CPython 3.11 a
    # super() call costs about twice as many instructions, four times a request.

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        table = self.guard.table
        self._table = table
        self._waiting_list = table.waiting
        self._resting_list = table.resting
        self._head_timeout = self.guard.settings.head_timeout_s
        self._phase = HEAD
        self._admitted = False
        self._waiting = False  # in the table's waiting list
        self._timer: asyncio.TimerHandle | None = None
        # Loop time by which the head must be complete, or NOT_YET, or FROM_NOW.
        self._head_deadline = NOT_YET
        # Bytes read while a deadline was armed (the only time they are counted), and that
        # count when the current body window began.
        self._received = 0
        self._window_start = 0

    # Connection events -------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _base.connection_made(self, transport)
        table = self._table
        if table.open >= table.capacity:
            self.guard.at_cap(self.loop.time())
        if not table.admit(self):
            self._phase = CLOSED
            transport.close()
            return
        self._admitted = self._waiting = True  # admit() listed it as waiting
        self._head_deadline = self.loop.time() + self._head_timeout
        self._arm(self._head_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self._phase = CLOSED
        if self._admitted:
            self._admitted = False
            self._table.release(self)
        _base.connection_lost(self, exc)

    def evict(self) -> None:
        self._cancel()
        self._phase = CLOSED
        self._waiting = False
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            self._received += len(data)
        phase = self._phase
        if phase is REST:  # the first bytes of the next request
            self._phase = HEAD
            self._head_deadline = FROM_NOW
            self._resting_list.pop(self, None)
        elif phase is APP:  # the next request, pipelined behind one not answered yet
            self._phase = HEAD
            self._head_deadline = NOT_YET
        _base.data_received(self, data)
        if self._timer is None:
            # A phase that outlived the data that began it gets its deadline now.
            phase = self._phase
            if phase is HEAD and self._head_deadline != NOT_YET:
                if self._head_deadline == FROM_NOW:
                    self._head_deadline = self.loop.time() + self._head_timeout
                self._wait_for_head()
            elif phase is BODY:
                self._start_window()
            elif phase is APP and self.scope is not self.cycle.scope:
                # A pipelined request began after the last complete one in this read
                # (uvicorn gives each message a new scope at its first byte, and the scope
                # to a cycle at its headers): its head is incomplete.
                self._phase = HEAD
                self._head_deadline = NOT_YET

    # Parser callbacks ------------------------------------------------------------

    def on_headers_complete(self) -> None:
        if self._timer is not None:
            self._cancel()
        self._phase = BODY
        if self._waiting:
            self._waiting = False
            self._waiting_list.pop(self, None)
        _base.on_headers_complete(self)
        cycle = self.cycle
        if cycle is not None and cycle.waiting_for_100_continue:
            _close_unless_continued(cycle)

    def on_message_complete(self) -> None:
        _base.on_message_complete(self)
        if self._phase is not BODY:
            return
        if self._timer is not None:
            self._cancel()
        if not self.cycle.response_complete:
            self._phase = APP
            return
        # Answered before the body ended (an early error): it rests from now, and needs
        # the keep-alive timer uvicorn armed at the response but the body's bytes cancelled.
        self._phase = REST
        self._resting_list[self] = None
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def on_response_complete(self) -> None:
        _base.on_response_complete(self)
        # Unless pipelined requests are still to answer. (A connection closing after this
        # response may rest meanwhile: connection_lost takes it out of the table.)
        if not self.cycle.response_complete:
            return
        phase = self._phase
        if phase is APP:
            self._phase = REST
            self._resting_list[self] = None
        elif phase is HEAD and self._head_deadline == NOT_YET and not self.transport.is_closing():
            self._head_deadline = self.loop.time() + self._head_timeout
            self._wait_for_head()

    # Deadlines -------------------------------------------------------------------

    def _wait_for_head(self) -> None:
        if not self._waiting:
            self._waiting = True
            self._waiting_list[self] = None
        self._arm(self._head_deadline)

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
        if self._phase is HEAD:
            self.guard.head_timeouts += 1
            # Part of a request arrived: bytes of the first, or any later one (a later
            # request's head phase begins with its first byte).
            if self._received or self.cycle is not None:
                self._answer_timeout(f"the request head did not arrive within "
                                     f"{self._head_timeout:g} s")
            self._close()
        elif self._phase is BODY:
            self._check_body()

    def _check_body(self) -> None:
        cycle = self.cycle
        # The platform, not the client, is the one not reading: the application has not
        # taken the body so far, or owes a 100 Continue. (Once it has answered, the rest of
        # the body is read and dropped, and what it left in cycle.body no longer counts.)
        if not cycle.response_complete and (
                self.flow.read_paused or cycle.waiting_for_100_continue or cycle.body):
            self._start_window()
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

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to what its parser refuses (bytes that are not HTTP, a path
        that is not ASCII), in the FC error format that FC clients can read."""
        self._answer_error(400, "InvalidArgument",
                           "the request is not valid HTTP/1.1 (the request line and header "
                           "names must be ASCII, with non-ASCII path bytes percent-encoded)")
        self._close()

    def _answer_timeout(self, message: str) -> None:
        self._answer_error(408, "RequestTimeout", message)

    def _answer_error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"ErrorCode": code, "ErrorMessage": message}).encode()
        head = [STATUS_LINE[status]]
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
        self._phase = CLOSED
        self.transport.close()


def _close_unless_continued(cycle: Any) -> None:
    """A request that said ``Expect: 100-continue`` and is answered before the platform
    asked for its body: the client does not send the body, so the parser would take the
    next request's bytes for it. Such a response closes the connection (RFC 9110 15.2.1)."""
    send = cycle.send

    async def answer(message: Any) -> None:
        if message["type"] == "http.response.start" and cycle.waiting_for_100_continue:
            cycle.keep_alive = False
        await send(message)

    cycle.send = answer
