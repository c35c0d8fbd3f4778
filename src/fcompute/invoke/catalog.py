"""Function configurations for the hot path, cached so a warm invoke never waits on the store.

Writes through this process invalidate entries at once; an entry also expires after
``ttl`` seconds so changes made by another front door (scale-out) are seen soon.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fcompute.model import Function, Service, Trigger
from fcompute.store.base import Store


@dataclass(frozen=True)
class Resolved:
    service: Service
    function: Function

    @property
    def key(self) -> str:
        """Identifies this exact configuration: any update of either record changes it."""
        return f"{self.function.id}:{self.function.etag}:{self.service.etag}"


class FunctionCatalog:
    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, Resolved]] = {}
        self._http_triggers: dict[tuple[str, str], tuple[float, Trigger | None]] = {}

    async def resolve(self, service: str, function: str) -> Resolved:
        key = (service, function)
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            return entry[1]
        svc = await self._store.get_service(service)
        fn = await self._store.get_function(service, function)
        resolved = Resolved(svc, fn)
        self._entries[key] = (now + self._ttl, resolved)
        return resolved

    async def http_trigger(self, service: str, function: str) -> Trigger | None:
        """The function's HTTP trigger, if it has one."""
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

    def invalidate_service(self, service: str) -> None:
        for cache in (self._entries, self._http_triggers):
            for key in [k for k in cache if k[0] == service]:
                del cache[key]

    def invalidate(self, service: str, function: str) -> None:
        self._entries.pop((service, function), None)
        self._http_triggers.pop((service, function), None)
