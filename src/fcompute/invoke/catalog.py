"""Resolution: from a function reference with its qualifier to the configuration that runs.

A reference is (service, qualifier, function); the qualifier is LATEST, a version id or
an alias. Resolution answers with the concrete version (``Resolved.version``): an alias
picks one of its versions per request, by weight. On the hot path this is dictionary
lookups and, for a weighted alias, one random number: entries are cached and dropped
by the control layer's change events (this process) or after ``ttl`` seconds (changes
made by another platform process sharing the database).
"""

from __future__ import annotations

import asyncio
import bisect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fcompute import errors, validation
from fcompute.control import events
from fcompute.model import LATEST, Alias, Function, Service, Trigger
from fcompute.store.sql import SqlStore


@dataclass(frozen=True)
class FunctionRef:
    service: str
    qualifier: str
    function: str

    @classmethod
    def parse(cls, service_path: str, function: str) -> FunctionRef:
        """From the FC path form ``{service}[.{qualifier}]``; no qualifier means LATEST."""
        service, _, qualifier = service_path.partition(".")
        return cls(service, qualifier or LATEST, function)

    def __str__(self) -> str:
        return f"{self.service}.{self.qualifier}/{self.function}"


@dataclass(frozen=True)
class Resolved:
    service: Service
    function: Function
    qualifier: str = LATEST  # as asked: LATEST, a version id or an alias
    version: str = LATEST  # what runs: LATEST or a version id
    key: str = field(init=False)  # this exact configuration, run through this qualifier
    pool_group: str = field(init=False)  # pools that succeed one another as LATEST changes

    def __post_init__(self) -> None:
        function = self.function
        group = f"{function.id}/{self.version}/{self.qualifier}"
        object.__setattr__(self, "pool_group", group)
        object.__setattr__(self, "key", f"{group}:{function.etag}:{self.service.etag}")

    @property
    def ref(self) -> FunctionRef:
        return FunctionRef(self.service.name, self.qualifier, self.function.name)


@dataclass(frozen=True)
class Route:
    """Where an alias sends requests: ``versions[i]`` when the draw falls below
    ``bounds[i]``, else the alias's own version."""

    version: str
    versions: tuple[str, ...]
    bounds: tuple[float, ...]

    @classmethod
    def of(cls, alias: Alias) -> Route:
        versions, bounds, total = [], [], 0.0
        for version, weight in sorted(alias.weights.items()):
            if weight > 0:
                total += weight
                versions.append(version)
                bounds.append(total)
        return cls(alias.version_id, tuple(versions), tuple(bounds))

    def pick(self, draw: float) -> str:
        if not self.versions:
            return self.version
        index = bisect.bisect_right(self.bounds, draw)
        return self.versions[index] if index < len(self.versions) else self.version


class FunctionCatalog:
    def __init__(self, store: SqlStore, ttl: float,
                 draw: Callable[[], float] = random.random) -> None:
        self._store = store
        self._ttl = ttl
        self._draw = draw
        # (service, qualifier, version, function) -> (expiry, resolved)
        self._entries: dict[tuple[str, str, str, str], tuple[float, Resolved]] = {}
        self._routes: dict[tuple[str, str], tuple[float, Route]] = {}
        self._http_triggers: dict[tuple[str, str], tuple[float, Trigger | None]] = {}
        self._loading: dict[tuple[str, str, str, str], asyncio.Future[Resolved]] = {}
        self._dropped_while_loading: set[tuple[str, str, str, str]] = set()

    async def resolve(self, ref: FunctionRef) -> Resolved:
        now = time.monotonic()
        service, qualifier, function = ref.service, ref.qualifier, ref.function
        if qualifier == LATEST or qualifier[:1].isdigit():
            version = qualifier
        else:
            routed = self._routes.get((service, qualifier))
            route = routed[1] if routed is not None and routed[0] > now else \
                await self._route(service, qualifier, now)
            version = route.pick(self._draw())
        key = (service, qualifier, version, function)
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        return await self._reload(key)

    async def _reload(self, key: tuple[str, str, str, str]) -> Resolved:
        """Loads an entry once however many requests find it missing or expired at the
        same moment: they all wait for the same load."""
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self._load(*key))
            loading.add_done_callback(lambda done: self._loaded(key, done))
        return await asyncio.shield(loading)

    def _loaded(self, key: tuple[str, str, str, str], done: asyncio.Future[Resolved]) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]
        # Kept unless an event dropped the key while it loaded: then the load may be stale.
        if (not done.cancelled() and done.exception() is None
                and key not in self._dropped_while_loading):
            self._entries[key] = (time.monotonic() + self._ttl, done.result())
        self._dropped_while_loading.discard(key)

    async def _route(self, service: str, alias: str, now: float) -> Route:
        if not validation.ALIAS_NAME.fullmatch(alias):
            raise errors.alias_not_found(service, alias)
        route = Route.of(await self._store.get_alias(service, alias))
        self._routes[(service, alias)] = (now + self._ttl, route)
        return route

    async def _load(self, service: str, qualifier: str, version: str,
                    function: str) -> Resolved:
        if version == LATEST:
            svc = await self._store.get_service(service)
            fn = await self._store.get_function(service, function)
        else:
            svc = await self._store.version_service(service, version)
            fn = await self._store.version_function(service, version, function)
            number = str(int(version))  # "007" names version 7: one pool for both spellings
            qualifier = number if qualifier == version else qualifier
            version = number
        return Resolved(svc, fn, qualifier, version)

    async def http_trigger(self, service: str, function: str) -> Trigger | None:
        """The function's HTTP trigger, if it has one (triggers belong to LATEST)."""
        key = (service, function)
        entry = self._http_triggers.get(key)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            return entry[1]
        page = await self._store.list_triggers(
            service, function, prefix="", start_key="", limit=100
        )
        trigger = next((t for t in page.items if t.type == "http"), None)
        self._http_triggers[key] = (now + self._ttl, trigger)
        return trigger

    # change events -------------------------------------------------------

    def on_change(self, event: events.ChangeEvent) -> None:
        if isinstance(event, events.FunctionChanged):
            self._drop(lambda k: k[0] == event.service and k[2] == LATEST
                       and k[3] == event.function)
            self._http_triggers.pop((event.service, event.function), None)
        elif isinstance(event, events.ServiceChanged):
            deleted = event.change is events.Change.DELETED
            self._drop(lambda k: k[0] == event.service and (deleted or k[2] == LATEST))
            if deleted:
                for route in [k for k in self._routes if k[0] == event.service]:
                    del self._routes[route]
            for trigger in [k for k in self._http_triggers if k[0] == event.service]:
                del self._http_triggers[trigger]
        elif isinstance(event, events.TriggerChanged):
            self._http_triggers.pop((event.service, event.function), None)
        elif isinstance(event, events.VersionDeleted):
            self._drop(lambda k: k[0] == event.service and k[2] == event.version_id)
        elif isinstance(event, events.AliasChanged):
            self._routes.pop((event.service, event.alias), None)

    def _drop(self, matches: Callable[[tuple[str, str, str, str]], bool]) -> None:
        for key in [k for k in self._entries if matches(k)]:
            del self._entries[key]
        # A load that started before the change may have read the old row: it answers the
        # requests waiting for it but is not kept.
        self._dropped_while_loading.update(k for k in self._loading if matches(k))
