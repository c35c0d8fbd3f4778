"""Functions: create and update (with their code), read (any qualifier), list, delete.

Code is stored before the row that names it is written, and is safe from the code
collector until then (``CodeCollector.upload``).
"""

from __future__ import annotations

from fcompute.codestore.collector import CodeCollector
from fcompute.control.commands import CodeSource, CreateFunction, UpdateFunction
from fcompute.control.events import Change, ChangeEvents, FunctionChanged
from fcompute.control.qualifiers import version_shown
from fcompute.model import LATEST, CodeRef, Function, Page
from fcompute.store.sql import SqlStore


class FunctionsControl:
    def __init__(self, store: SqlStore, packages: CodeCollector, events: ChangeEvents) -> None:
        self._store = store
        self._packages = packages
        self._events = events

    async def create(self, service: str, command: CreateFunction) -> Function:
        await self._store.get_service(service)  # a clear ServiceNotFound before storing code
        async with self._packages.upload(command.code) as info:
            function = await self._store.create_function(
                service, command.name, command.config,
                CodeRef(info.checksum, info.size, info.digest),
            )
        self._events.publish(FunctionChanged(
            service, function.name, function.id, Change.CREATED, previous_code_digest="",
            code_digest=function.code.digest, config_changed=True,
        ))
        return function

    async def get(self, service: str, name: str, qualifier: str = LATEST) -> Function:
        version = await version_shown(self._store, service, qualifier)
        if version == LATEST:
            return await self._store.get_function(service, name)
        return await self._store.version_function(service, version, name)

    async def list(self, service: str, *, qualifier: str = LATEST, prefix: str,
                   start_key: str, limit: int) -> Page[Function]:
        version = await version_shown(self._store, service, qualifier)
        if version == LATEST:
            return await self._store.list_functions(
                service, prefix=prefix, start_key=start_key, limit=limit)
        return await self._store.list_version_functions(
            service, version, prefix=prefix, start_key=start_key, limit=limit)

    async def update(self, service: str, name: str, command: UpdateFunction,
                     if_match: str | None) -> Function:
        if command.code is None:
            before, after = await self._store.update_function(
                service, name, command.patch, None, if_match)
        else:
            before, after = await self._update_with_code(service, name, command, command.code,
                                                          if_match)
        self._events.publish(FunctionChanged(
            service, name, after.id, Change.UPDATED, previous_code_digest=before.code.digest,
            code_digest=after.code.digest,
            config_changed=before.config != after.config or before.code != after.code,
        ))
        return after

    async def _update_with_code(
        self, service: str, name: str, command: UpdateFunction, code: CodeSource,
        if_match: str | None,
    ) -> tuple[Function, Function]:
        await self._store.get_function(service, name)  # a clear 404 before storing code
        async with self._packages.upload(code) as info:
            return await self._store.update_function(
                service, name, command.patch, CodeRef(info.checksum, info.size, info.digest),
                if_match,
            )

    async def delete(self, service: str, name: str, if_match: str | None) -> None:
        function = await self._store.delete_function(service, name, if_match)
        self._events.publish(FunctionChanged(
            service, name, function.id, Change.DELETED,
            previous_code_digest=function.code.digest, code_digest="", config_changed=True,
        ))
