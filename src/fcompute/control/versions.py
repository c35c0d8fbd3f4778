"""Versions: publish (a snapshot of the whole service), list, delete."""

from __future__ import annotations

from fcompute.control.events import ChangeEvents, VersionDeleted, VersionPublished
from fcompute.model import Page, Version
from fcompute.store.sql import SqlStore


class VersionsControl:
    def __init__(self, store: SqlStore, events: ChangeEvents) -> None:
        self._store = store
        self._events = events

    async def publish(self, service: str, description: str) -> Version:
        version = await self._store.publish_version(service, description)
        self._events.publish(VersionPublished(service, version.service_id, version.id))
        return version

    async def list(self, service: str, *, start: str, limit: int,
                   newest_first: bool) -> Page[Version]:
        return await self._store.list_versions(service, start=start, limit=limit,
                                               forward=not newest_first)

    async def delete(self, service: str, version_id: str) -> None:
        version, function_ids, digests = await self._store.delete_version(service, version_id)
        self._events.publish(VersionDeleted(service, version.service_id, version.id,
                                            function_ids, digests))
