"""async-invoke-config per function and qualifier: retries, event age, destinations."""

from __future__ import annotations

from fcompute.asyncinvoke.config import AsyncConfigStore, AsyncInvokeConfig
from fcompute.control.events import AsyncConfigChanged, ChangeEvents
from fcompute.control.qualifiers import version_shown
from fcompute.store.sql import SqlStore


class AsyncConfigsControl:
    def __init__(self, store: SqlStore, configs: AsyncConfigStore,
                 events: ChangeEvents) -> None:
        self._store = store
        self._configs = configs
        self._events = events

    async def put(self, service: str, function: str, qualifier: str,
                  config: AsyncInvokeConfig) -> AsyncInvokeConfig:
        await version_shown(self._store, service, qualifier)  # 404 for what does not exist
        stored = await self._configs.put(service, function, qualifier, config)
        function_id = (await self._store.get_function(service, function)).id
        self._events.publish(AsyncConfigChanged(service, function, function_id, qualifier))
        return stored

    async def get(self, service: str, function: str, qualifier: str) -> AsyncInvokeConfig:
        await version_shown(self._store, service, qualifier)
        return await self._configs.get(service, function, qualifier)

    async def list(self, service: str, function: str) -> list[tuple[str, AsyncInvokeConfig]]:
        return await self._configs.list(service, function)

    async def delete(self, service: str, function: str, qualifier: str) -> None:
        await version_shown(self._store, service, qualifier)
        function_id = (await self._store.get_function(service, function)).id
        await self._configs.delete(service, function, qualifier)
        self._events.publish(AsyncConfigChanged(service, function, function_id, qualifier))
