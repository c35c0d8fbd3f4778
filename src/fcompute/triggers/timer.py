"""timer triggers: each tick of an enabled trigger's schedule becomes one async invocation.

One task keeps every enabled timer trigger with its next tick and sleeps until the
earliest one. At a tick it *claims* the tick in the store (``TimerStore.claim``) and, only
if it won, submits the invocation, whose id is derived from (trigger, nominal time): a
tick is fired at most once, by one of the processes sharing the database, even across
restarts. (Claiming first means a process killed between claim and submit loses that
tick; the other order would fire it twice when two processes share a database.)

**Never a burst.** A trigger first seen (at start-up, or after a change) fires the latest
tick it missed only when that tick is less than one interval old and later than both the
last tick fired and the trigger's last update; older ticks are dropped. A loop woken late
(a stalled machine, a clock jump) fires only the latest tick that fell.

The event is FC's: ``{"triggerTime": "<nominal tick, RFC 3339 UTC>", "triggerName",
"payload"}``. The function runs through the trigger's qualifier (LATEST when none).

Changes: the control layer's change events wake the task and reload the triggers at once
(``enable: false``, a new expression or a deletion apply within the instant); a reload
every ``reload_s`` picks up changes made by another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from fcompute import errors
from fcompute.control import events
from fcompute.cron import Schedule, rfc3339, validate_cron_expression
from fcompute.invoke.catalog import FunctionRef, Resolved
from fcompute.model import LATEST, Trigger

log = logging.getLogger(__name__)

# How long a claimed tick is recorded as this process's (informational: the claim itself
# is the move of last_fired_ms, which never goes back).
LEASE_S = 60.0


class TimerSource(Protocol):
    def timer_triggers(self) -> Awaitable[list[Trigger]]: ...

    def last_fired(self, trigger_ids: list[str]) -> Awaitable[dict[str, int]]: ...

    def claim(self, trigger_id: str, tick_ms: int, *, owner: str,
              until_ms: int) -> Awaitable[bool]: ...


class Resolver(Protocol):
    def resolve(self, ref: FunctionRef) -> Awaitable[Resolved]: ...


class Submitter(Protocol):
    def submit(self, *, target: Resolved, payload: bytes, request_id: str,
               invocation_id: str | None = None) -> Awaitable[str]: ...


@dataclass
class Timer:
    trigger: Trigger
    schedule: Schedule
    next_tick: datetime


def parse_stamp(stamp: str) -> datetime:
    """A store timestamp ('2026-12-02T03:30:00.123Z') as an aware UTC datetime."""
    return datetime.fromisoformat(stamp).astimezone(UTC)


def is_enabled(trigger: Trigger) -> bool:
    return trigger.config.get("enable", True) is not False


def first_tick(schedule: Schedule, *, now: datetime, updated: datetime,
               last_fired: datetime | None) -> datetime:
    """The tick a newly seen trigger fires next: the latest missed one when it is less than
    one interval old and was not fired yet, else the next one to come."""
    missed = schedule.last_at_or_before(now)
    if missed is not None and missed > updated and (last_fired is None or missed > last_fired):
        interval = schedule.next_after(missed) - missed
        if now - missed < interval:
            return missed
    return schedule.next_after(now)


def invocation_id(trigger: Trigger, tick: datetime) -> str:
    key = f"{trigger.id}\0{rfc3339(tick)}"
    return "timer-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def event_payload(trigger: Trigger, tick: datetime) -> bytes:
    payload = trigger.config.get("payload")
    return json.dumps({
        "triggerTime": rfc3339(tick), "triggerName": trigger.name,
        "payload": payload if isinstance(payload, str) else "",
    }).encode()


class TimerTriggers:
    def __init__(self, source: TimerSource, catalog: Resolver, invocations: Submitter, *,
                 reload_s: float = 1.0) -> None:
        self._source = source
        self._catalog = catalog
        self._invocations = invocations
        self._reload_s = reload_s
        self._owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._timers: dict[str, Timer] = {}
        self._stale = True
        self._reload_at = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._firing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="timer-triggers")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._firing:
            await asyncio.gather(*self._firing, return_exceptions=True)

    def on_change(self, event: events.ChangeEvent) -> None:
        """Change events: a timer trigger changed, or a function or service went away."""
        if (isinstance(event, events.TriggerChanged) and event.trigger_type == "timer") or (
                isinstance(event, events.FunctionChanged | events.ServiceChanged)
                and event.change is events.Change.DELETED):
            self._stale = True
            self._wake.set()

    # the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                if self._stale or time.monotonic() >= self._reload_at:
                    await self._reload()
                self._fire_due(datetime.now(UTC))
            except Exception:
                log.exception("timer triggers: the schedule could not be updated")
                self._reload_at = time.monotonic() + self._reload_s
            await self._sleep()

    async def _sleep(self) -> None:
        timeout = max(0.0, self._reload_at - time.monotonic())
        if self._timers:
            earliest = min(timer.next_tick for timer in self._timers.values())
            timeout = min(timeout, max(0.0, (earliest - datetime.now(UTC)).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def _reload(self) -> None:
        self._stale = False
        self._reload_at = time.monotonic() + self._reload_s
        triggers = [t for t in await self._source.timer_triggers() if is_enabled(t)]
        kept: dict[str, Timer] = {}
        fresh: list[Trigger] = []
        for trigger in triggers:
            current = self._timers.get(trigger.id)
            if current is not None and current.trigger.etag == trigger.etag:
                kept[trigger.id] = current
            else:
                fresh.append(trigger)
        fired = await self._source.last_fired([t.id for t in fresh])
        now = datetime.now(UTC)
        for trigger in fresh:
            timer = self._schedule(trigger, now, fired.get(trigger.id))
            if timer is not None:
                kept[trigger.id] = timer
        self._timers = kept

    def _schedule(self, trigger: Trigger, now: datetime, last_ms: int | None) -> Timer | None:
        expression = trigger.config.get("cronExpression")
        try:
            if not isinstance(expression, str):
                raise errors.InvalidArgument("cronExpression is missing")
            validate_cron_expression(expression)
        except errors.InvalidArgument as exc:
            log.warning("timer trigger %s/%s/%s never fires: %s", trigger.service_name,
                        trigger.function_name, trigger.name, exc.message)
            return None
        updated = parse_stamp(trigger.modified)
        # Whole seconds: '@every' ticks are then whole seconds, as triggerTime shows them.
        schedule = Schedule(expression, updated.replace(microsecond=0))
        last_fired = (datetime.fromtimestamp(last_ms / 1000, UTC)
                      if last_ms is not None else None)
        tick = first_tick(schedule, now=now, updated=updated, last_fired=last_fired)
        return Timer(trigger, schedule, tick)

    def _fire_due(self, now: datetime) -> None:
        for timer in self._timers.values():
            if timer.next_tick > now:
                continue
            # The latest tick that fell: a late wake-up fires one, never a burst.
            tick = max(timer.next_tick, timer.schedule.last_at_or_before(now) or timer.next_tick)
            timer.next_tick = timer.schedule.next_after(max(now, tick))
            task = asyncio.create_task(self._fire(timer.trigger, tick))
            self._firing.add(task)
            task.add_done_callback(self._firing.discard)

    async def _fire(self, trigger: Trigger, tick: datetime) -> None:
        label = f"{trigger.service_name}/{trigger.function_name}/{trigger.name}"
        tick_ms = int(tick.timestamp() * 1000)
        until_ms = int((time.time() + LEASE_S) * 1000)
        try:
            if not await self._source.claim(trigger.id, tick_ms, owner=self._owner,
                                            until_ms=until_ms):
                return  # fired already, here before a restart or by another process
            ref = FunctionRef(trigger.service_name, trigger.qualifier or LATEST,
                              trigger.function_name)
            target = await self._catalog.resolve(ref)
            await self._invocations.submit(
                target=target, payload=event_payload(trigger, tick),
                request_id=str(uuid.uuid4()), invocation_id=invocation_id(trigger, tick))
        except errors.AlreadyExists:
            pass  # queued already: this tick has fired
        except errors.NotFound as exc:
            log.warning("timer trigger %s: %s; the tick %s is not delivered",
                        label, exc.message, rfc3339(tick))
        except Exception:
            log.exception("timer trigger %s: the tick %s could not be queued",
                          label, rfc3339(tick))

