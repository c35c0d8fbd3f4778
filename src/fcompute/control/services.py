"""Services: create, read (any qualifier), list, update, delete."""

from __future__ import annotations

from fcompute.control.commands import ServicePatch
from fcompute.control.events import Change, ChangeEvents, ServiceChanged
from fcompute.control.qualifiers import version_shown
from fcompute.model import LATEST, Page, Service, ServiceConfig
from fcompute.store.sql import SqlStore


class ServicesControl:
    def __init__(self, store: SqlStore, events: ChangeEvents) -> None:
        self._store = store
        self._events = events

    async def create(self, name: str, config: ServiceConfig) -> Service:
        service = await self._store.create_service(name, config)
        self._events.publish(ServiceChanged(service.name, service.id, Change.CREATED))
        return service

    async def get(self, name: str, qualifier: str = LATEST) -> Service:
        version = await version_shown(self._store, name, qualifier)
        if version == LATEST:
            return await self._store.get_service(name)
        return await self._store.version_service(name, version)

    async def list(self, *, prefix: str, start_key: str, limit: int) -> Page[Service]:
        return await self._store.list_services(prefix=prefix, start_key=start_key, limit=limit)

    async def update(self, name: str, patch: ServicePatch, if_match: str | None) -> Service:
        service = await self._store.update_service(name, patch.apply, if_match)
        self._events.publish(ServiceChanged(service.name, service.id, Change.UPDATED))
        return service

    async def delete(self, name: str, if_match: str | None) -> None:
        service = await self._store.delete_service(name, if_match)
        self._events.publish(ServiceChanged(service.name, service.id, Change.DELETED))
