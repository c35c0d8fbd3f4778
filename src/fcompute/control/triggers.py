"""Triggers: create, read, list, update, delete. A trigger's qualifier must exist."""

from __future__ import annotations

from fcompute.control.commands import TriggerPatch, TriggerSpec
from fcompute.control.events import Change, ChangeEvents, TriggerChanged
from fcompute.model import Page, Trigger
from fcompute.store.sql import SqlStore


class TriggersControl:
    def __init__(self, store: SqlStore, events: ChangeEvents) -> None:
        self._store = store
        self._events = events

    def _announce(self, trigger: Trigger, change: Change) -> None:
        self._events.publish(TriggerChanged(
            trigger.service_name, trigger.function_name, trigger.name, trigger.type, change))

    async def create(self, service: str, function: str, spec: TriggerSpec) -> Trigger:
        trigger = await self._store.create_trigger(service, function, spec)
        self._announce(trigger, Change.CREATED)
        return trigger

    async def get(self, service: str, function: str, name: str) -> Trigger:
        return await self._store.get_trigger(service, function, name)

    async def list(self, service: str, function: str, *, prefix: str, start_key: str,
                   limit: int) -> Page[Trigger]:
        return await self._store.list_triggers(
            service, function, prefix=prefix, start_key=start_key, limit=limit)

    async def update(self, service: str, function: str, name: str, patch: TriggerPatch,
                     if_match: str | None) -> Trigger:
        trigger = await self._store.update_trigger(service, function, name, patch, if_match)
        self._announce(trigger, Change.UPDATED)
        return trigger

    async def delete(self, service: str, function: str, name: str,
                     if_match: str | None) -> None:
        trigger = await self._store.delete_trigger(service, function, name, if_match)
        self._announce(trigger, Change.DELETED)
