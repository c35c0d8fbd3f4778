"""Aliases: named, movable pointers to a version, with weights for other versions."""

from __future__ import annotations

from fcompute.control.commands import AliasPatch, AliasSpec
from fcompute.control.events import AliasChanged, Change, ChangeEvents
from fcompute.model import Alias, Page
from fcompute.store.sql import SqlStore


class AliasesControl:
    def __init__(self, store: SqlStore, events: ChangeEvents) -> None:
        self._store = store
        self._events = events

    async def create(self, service: str, spec: AliasSpec) -> Alias:
        alias = await self._store.create_alias(service, spec)
        self._events.publish(AliasChanged(service, alias.name, Change.CREATED))
        return alias

    async def get(self, service: str, name: str) -> Alias:
        return await self._store.get_alias(service, name)

    async def list(self, service: str, *, prefix: str, start_key: str,
                   limit: int) -> Page[Alias]:
        return await self._store.list_aliases(service, prefix=prefix, start_key=start_key,
                                              limit=limit)

    async def update(self, service: str, name: str, patch: AliasPatch,
                     if_match: str | None) -> Alias:
        alias = await self._store.update_alias(service, name, patch, if_match)
        self._events.publish(AliasChanged(service, name, Change.UPDATED))
        return alias

    async def delete(self, service: str, name: str, if_match: str | None) -> None:
        await self._store.delete_alias(service, name, if_match)
        self._events.publish(AliasChanged(service, name, Change.DELETED))
