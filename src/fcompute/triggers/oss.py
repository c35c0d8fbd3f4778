"""oss triggers: each object event becomes one async invocation per matching trigger.

The object store awaits :meth:`OssTriggers.on_object_event` after each change and before
it answers the write, and ``AsyncInvocations.submit`` returns only once the invocation is
fsynced: an acknowledged write never loses its event. If a submission fails, the write is
answered 503 (the object is stored; a retry stores it and fires again).

A trigger fires for an event of its bucket (the bucket its sourceArn names) whose name its
events cover and whose key has its prefix and suffix. Its function runs through the
trigger's qualifier (LATEST when none), with async retries, destinations and records.

**A function never fires itself.** A write made with a function's own store credentials
(``ObjectEvent.actor`` is then ``"<service>/<function>"``) does not fire that function's
triggers: a function that writes its output under the prefix that fires it would run
forever (and its output would multiply). Such a write is logged once per trigger as a
warning. Other functions' triggers fire as usual, so a pipeline of two functions works;
a pipeline of one function writing where it listens does not, loudly.

The triggers are kept in an index by bucket, so an event no trigger wants costs one
dictionary lookup. The control layer's change events drop it (a trigger created, changed
or deleted; a function or service deleted) and the next event reloads it with one query;
it also expires after ``--function-cache-seconds``, for changes another process made.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from fcompute import errors
from fcompute.control import events
from fcompute.errors import InvalidArgument
from fcompute.invoke.catalog import FunctionRef, Resolved
from fcompute.model import LATEST, Trigger
from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.events import ObjectEvent
from fcompute.triggers import oss_event
from fcompute.triggers.oss_config import OssFilter, SourceArn, parse_config
from fcompute.triggers.oss_event import Origin

log = logging.getLogger(__name__)


class TriggerSource(Protocol):
    def oss_triggers(self, bucket: str | None = None) -> Awaitable[list[Trigger]]: ...


class Resolver(Protocol):
    def resolve(self, ref: FunctionRef) -> Awaitable[Resolved]: ...


class Submitter(Protocol):
    def submit(self, *, target: Resolved, payload: bytes, request_id: str,
               invocation_id: str | None = None) -> Awaitable[str]: ...


@dataclass(frozen=True)
class Rule:
    trigger: Trigger
    filter: OssFilter

    @property
    def owner(self) -> str:
        """The scope of the function's own store credentials."""
        return f"{self.trigger.service_name}/{self.trigger.function_name}"

    @property
    def label(self) -> str:
        return f"{self.owner}/{self.trigger.name}"


@dataclass(frozen=True)
class Fired:
    """One invocation an event caused."""

    trigger: Trigger
    invocation_id: str
    # True when this event had already been submitted for this trigger (a repeat).
    repeated: bool


class OssTriggers:
    def __init__(self, source: TriggerSource, catalog: Resolver, invocations: Submitter, *,
                 account_id: str, ttl_s: float) -> None:
        self._source = source
        self._catalog = catalog
        self._invocations = invocations
        self._account_id = account_id
        self._ttl_s = ttl_s
        self._index: dict[str, tuple[Rule, ...]] = {}
        self._generation = 0  # counts changes; the index is current when it has this one
        self._loaded_generation = -1
        self._expires = 0.0
        self._loading = asyncio.Lock()
        self._warned: set[str] = set()  # triggers whose function wrote where it listens

    # the store's events -------------------------------------------------------------

    async def on_object_event(self, event: ObjectEvent) -> None:
        """The embedded store's listener: its writes are made by this platform's account.

        A failure to queue is the write's failure: a 503 in the front door's own error
        format, which boto3 retries by itself (storing the object and firing again)."""
        try:
            await self.fire(event, Origin(self._account_id, event.request_id))
        except Exception:
            log.exception("oss triggers: the events of %r in bucket %r could not be queued",
                          event.key, event.bucket)
            raise StorageError(
                "the object is stored, but the invocations of its oss triggers could not be "
                "queued; send the request again", code="ServiceUnavailable", status=503,
            ) from None

    async def fire(self, event: ObjectEvent, origin: Origin) -> list[Fired]:
        """Submits one async invocation per trigger the event matches (none, usually)."""
        rules = await self._rules(event.bucket)
        if not rules:
            return []
        matched = []
        for rule in rules:
            if not rule.filter.fires_on(event.name, event.key):
                continue
            if event.actor and event.actor == rule.owner:
                self._warn_self_write(rule, event)
                continue
            matched.append(rule)
        fired = await asyncio.gather(*(self._submit(rule, event, origin) for rule in matched))
        return [one for one in fired if one is not None]

    async def _submit(self, rule: Rule, event: ObjectEvent, origin: Origin) -> Fired | None:
        trigger = rule.trigger
        ref = FunctionRef(trigger.service_name, trigger.qualifier or LATEST,
                          trigger.function_name)
        try:
            target = await self._catalog.resolve(ref)
        except errors.NotFound as exc:
            # A trigger's function and qualifier cannot be deleted while it exists; this is
            # a trigger deleted in the same instant (or by another process).
            log.warning("oss trigger %s: %s; the event for %r is not delivered",
                        rule.label, exc.message, event.key)
            return None
        invocation_id = self._invocation_id(trigger, event, origin)
        try:
            await self._invocations.submit(target=target, payload=oss_event.payload(
                event, origin, trigger), request_id=str(uuid.uuid4()),
                invocation_id=invocation_id)
        except errors.AlreadyExists:
            return Fired(trigger, invocation_id, repeated=True)
        return Fired(trigger, invocation_id, repeated=False)

    @staticmethod
    def _invocation_id(trigger: Trigger, event: ObjectEvent, origin: Origin) -> str:
        """Derived from the change when its source names it, so that a repeated delivery
        finds the first invocation; else a fresh id."""
        if not origin.event_id:
            return str(uuid.uuid4())
        seen = "\0".join((trigger.id, origin.event_id, event.bucket, event.key, event.name))
        return "oss-" + hashlib.sha256(seen.encode("utf-8", "surrogatepass")).hexdigest()[:40]

    def _warn_self_write(self, rule: Rule, event: ObjectEvent) -> None:
        if rule.trigger.id in self._warned:
            return
        self._warned.add(rule.trigger.id)
        log.warning(
            "oss trigger %s did NOT fire: function %s wrote %r in bucket %r, which matches "
            "its own trigger (%s). A function's own writes never fire it, or it would run "
            "in a loop; write its output under another prefix or bucket, or let another "
            "function take it from there. (Logged once per trigger.)",
            rule.label, rule.owner, event.key, event.bucket, rule.filter.describe())

    # the index ----------------------------------------------------------------------

    async def _rules(self, bucket: str) -> tuple[Rule, ...]:
        if self._loaded_generation != self._generation or time.monotonic() >= self._expires:
            await self._reload()
        return self._index.get(bucket, ())

    async def _reload(self) -> None:
        async with self._loading:
            generation = self._generation
            if self._loaded_generation == generation and time.monotonic() < self._expires:
                return  # reloaded while this one waited
            index: dict[str, list[Rule]] = {}
            for trigger in await self._source.oss_triggers():
                try:
                    arn = SourceArn.parse(trigger.source_arn or "")
                    rule = Rule(trigger, parse_config(trigger.config))
                except InvalidArgument as exc:
                    log.warning("oss trigger %s/%s/%s never fires: %s", trigger.service_name,
                                trigger.function_name, trigger.name, exc.message)
                    continue
                index.setdefault(arn.bucket, []).append(rule)
            self._index = {bucket: tuple(rules) for bucket, rules in index.items()}
            self._loaded_generation = generation
            self._expires = time.monotonic() + self._ttl_s

    def on_change(self, event: events.ChangeEvent) -> None:
        """Change events: the next object event reloads the index."""
        if (isinstance(event, events.TriggerChanged) and event.trigger_type == "oss") or (
                isinstance(event, events.FunctionChanged | events.ServiceChanged)
                and event.change is events.Change.DELETED):
            self._generation += 1
