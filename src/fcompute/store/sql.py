"""The SQL metadata store (SQLite embedded by default, PostgreSQL for scale-out).

Rows become records here and records become rows here, column by column: nothing from a
request reaches SQL but the typed values of ``fcompute.model`` and ``control.commands``.
Versions and aliases are in ``store/versions.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fcompute import errors, limits
from fcompute.control.commands import KEEP, FunctionPatch, TriggerPatch, TriggerSpec
from fcompute.model import (
    CodeRef,
    Function,
    FunctionConfig,
    Page,
    Service,
    ServiceConfig,
    Trigger,
    new_etag,
    new_id,
    now_iso,
)
from fcompute.store import schema
from fcompute.store.database import Database
from fcompute.store.rows import (
    check_etag,
    function_columns,
    function_record,
    function_row,
    page_rows,
    paged,
    service_columns,
    service_record,
    service_row,
    storable,
    triggers_of_type,
)
from fcompute.store.versions import VersionRows


class SqlStore(VersionRows):
    def __init__(self, database: Database) -> None:
        self._database = database

    # services ------------------------------------------------------------

    async def create_service(self, name: str, config: ServiceConfig) -> Service:
        def create(conn: Connection) -> Service:
            exists = conn.execute(
                sa.select(schema.services.c.id).where(schema.services.c.name == name)
            ).first()
            if exists:
                raise errors.AlreadyExists(
                    f"service '{name}' already exists", code="ServiceAlreadyExists"
                )
            stamp = now_iso()
            conn.execute(schema.services.insert().values(
                **service_columns(config), name=name, id=new_id(), created=stamp,
                modified=stamp, etag=new_etag(),
            ))
            return service_record(service_row(conn, name))

        return await self._run(create)

    async def get_service(self, name: str) -> Service:
        return await self._run(lambda conn: service_record(service_row(conn, name)))

    async def list_services(self, *, prefix: str, start_key: str, limit: int) -> Page[Service]:
        def page(conn: Connection) -> Page[Service]:
            rows = page_rows(conn, schema.services, None, prefix, start_key, limit)
            return paged([service_record(r) for r in rows], limit, lambda s: s.name)

        return await self._run(page)

    async def update_service(
        self, name: str, change: Callable[[ServiceConfig], ServiceConfig], if_match: str | None
    ) -> Service:
        def update(conn: Connection) -> Service:
            row = service_row(conn, name)
            check_etag(row.etag, if_match, f"service '{name}'")
            config = change(service_record(row).config)
            conn.execute(
                schema.services.update()
                .where(schema.services.c.id == row.id)
                .values(**service_columns(config), modified=now_iso(), etag=new_etag())
            )
            return service_record(service_row(conn, name))

        return await self._run(update)

    async def delete_service(self, name: str, if_match: str | None) -> Service:
        def delete(conn: Connection) -> Service:
            row = service_row(conn, name)
            check_etag(row.etag, if_match, f"service '{name}'")
            held = []
            for table, what in ((schema.functions, "function(s)"), (schema.versions, "version(s)"),
                                (schema.aliases, "alias(es)")):
                count = conn.execute(
                    sa.select(sa.func.count()).where(table.c.service_id == row.id)
                ).scalar_one()
                if count:
                    held.append(f"{count} {what}")
            if held:
                raise errors.ServiceNotEmpty(
                    f"service '{name}' still has {', '.join(held)}; delete them first"
                )
            conn.execute(schema.services.delete().where(schema.services.c.id == row.id))
            return service_record(row)

        return await self._run(delete)

    # functions -----------------------------------------------------------

    async def create_function(
        self, service: str, name: str, config: FunctionConfig, code: CodeRef
    ) -> Function:
        def create(conn: Connection) -> Function:
            svc = service_row(conn, service)
            functions = schema.functions
            names = conn.execute(
                sa.select(functions.c.name).where(functions.c.service_id == svc.id)
            ).scalars().all()
            if name in names:
                raise errors.AlreadyExists(
                    f"function '{name}' already exists in service '{service}'",
                    code="FunctionAlreadyExists",
                )
            if len(names) >= limits.MAX_FUNCTIONS_PER_SERVICE:
                raise errors.ResourceExhausted(
                    f"service '{service}' already has {len(names)} functions, the limit is "
                    f"{limits.MAX_FUNCTIONS_PER_SERVICE}"
                )
            stamp = now_iso()
            conn.execute(functions.insert().values(
                **function_columns(config, code), name=name, id=new_id(), service_id=svc.id,
                created=stamp, modified=stamp, etag=new_etag(),
            ))
            return function_record(function_row(conn, svc, name), svc)

        return await self._run(create)

    async def get_function(self, service: str, name: str) -> Function:
        def get(conn: Connection) -> Function:
            svc = service_row(conn, service)
            return function_record(function_row(conn, svc, name), svc)

        return await self._run(get)

    async def list_functions(
        self, service: str, *, prefix: str, start_key: str, limit: int
    ) -> Page[Function]:
        def page(conn: Connection) -> Page[Function]:
            svc = service_row(conn, service)
            rows = page_rows(
                conn, schema.functions, schema.functions.c.service_id == svc.id, prefix,
                start_key, limit,
            )
            return paged([function_record(r, svc) for r in rows], limit, lambda f: f.name)

        return await self._run(page)

    async def update_function(
        self, service: str, name: str, patch: FunctionPatch, code: CodeRef | None,
        if_match: str | None,
    ) -> tuple[Function, Function]:
        """Applies the patch (and the new code) in one transaction; returns the function
        before and after."""
        def update(conn: Connection) -> tuple[Function, Function]:
            svc = service_row(conn, service)
            row = function_row(conn, svc, name)
            check_etag(row.etag, if_match, f"function '{service}/{name}'")
            before = function_record(row, svc)
            conn.execute(
                schema.functions.update()
                .where(schema.functions.c.id == row.id)
                .values(**function_columns(patch.apply(before.config), code or before.code),
                        modified=now_iso(), etag=new_etag())
            )
            return before, function_record(function_row(conn, svc, name), svc)

        return await self._run(update)

    async def delete_function(self, service: str, name: str, if_match: str | None) -> Function:
        def delete(conn: Connection) -> Function:
            svc = service_row(conn, service)
            row = function_row(conn, svc, name)
            check_etag(row.etag, if_match, f"function '{service}/{name}'")
            count = conn.execute(
                sa.select(sa.func.count()).where(schema.triggers.c.function_id == row.id)
            ).scalar_one()
            if count:
                raise errors.FunctionNotEmpty(
                    f"function '{service}/{name}' still has {count} trigger(s); delete them first"
                )
            conn.execute(schema.functions.delete().where(schema.functions.c.id == row.id))
            return function_record(row, svc)

        return await self._run(delete)

    async def code_digests_in_use(self) -> set[str]:
        """Every package a function or a version still runs."""
        def digests(conn: Connection) -> set[str]:
            found = set(conn.execute(sa.select(schema.functions.c.code_digest)).scalars())
            found.update(conn.execute(
                sa.select(schema.version_functions.c.code_digest).distinct()
            ).scalars())
            return found

        return await self._run(digests)

    # triggers ------------------------------------------------------------

    @staticmethod
    def _trigger(row: Any, service: Any, function: Any) -> Trigger:
        return Trigger(
            service_name=service.name, function_name=function.name, function_id=function.id,
            name=row.name, id=row.id, type=row.type, config=row.config,
            source_arn=row.source_arn, invocation_role=row.invocation_role,
            qualifier=row.qualifier, description=row.description, created=row.created,
            modified=row.modified, etag=row.etag,
        )

    @staticmethod
    def _parents(conn: Connection, service: str, function: str) -> tuple[Any, Any]:
        svc = service_row(conn, service)
        return svc, function_row(conn, svc, function)

    @staticmethod
    def _trigger_row(conn: Connection, svc: Any, fn: Any, name: str) -> Any:
        if not storable(name):
            raise errors.trigger_not_found(svc.name, fn.name, name)
        row = conn.execute(
            sa.select(schema.triggers).where(
                schema.triggers.c.function_id == fn.id, schema.triggers.c.name == name
            )
        ).first()
        if row is None:
            raise errors.trigger_not_found(svc.name, fn.name, name)
        return row

    async def create_trigger(self, service: str, function: str, spec: TriggerSpec) -> Trigger:
        def create(conn: Connection) -> Trigger:
            svc, fn = self._parents(conn, service, function)
            triggers = schema.triggers
            names = conn.execute(
                sa.select(triggers.c.name).where(triggers.c.function_id == fn.id)
            ).scalars().all()
            if spec.name in names:
                raise errors.AlreadyExists(
                    f"trigger '{spec.name}' already exists in function "
                    f"'{service}/{function}'",
                    code="TriggerAlreadyExists",
                )
            if len(names) >= limits.MAX_TRIGGERS_PER_FUNCTION:
                raise errors.ResourceExhausted(
                    f"function '{service}/{function}' already has {len(names)} triggers, the "
                    f"limit is {limits.MAX_TRIGGERS_PER_FUNCTION}"
                )
            self.check_qualifier(conn, svc, spec.qualifier)
            stamp = now_iso()
            conn.execute(triggers.insert().values(
                name=spec.name, type=spec.type, config=spec.config, source_arn=spec.source_arn,
                invocation_role=spec.invocation_role, qualifier=spec.qualifier,
                description=spec.description, id=new_id(), function_id=fn.id, created=stamp,
                modified=stamp, etag=new_etag(),
            ))
            return self._trigger(self._trigger_row(conn, svc, fn, spec.name), svc, fn)

        return await self._run(create)

    async def get_trigger(self, service: str, function: str, name: str) -> Trigger:
        def get(conn: Connection) -> Trigger:
            svc, fn = self._parents(conn, service, function)
            return self._trigger(self._trigger_row(conn, svc, fn, name), svc, fn)

        return await self._run(get)

    async def list_triggers(
        self, service: str, function: str, *, prefix: str, start_key: str, limit: int
    ) -> Page[Trigger]:
        def page(conn: Connection) -> Page[Trigger]:
            svc, fn = self._parents(conn, service, function)
            rows = page_rows(
                conn, schema.triggers, schema.triggers.c.function_id == fn.id, prefix,
                start_key, limit,
            )
            return paged([self._trigger(r, svc, fn) for r in rows], limit, lambda t: t.name)

        return await self._run(page)

    async def update_trigger(
        self, service: str, function: str, name: str, patch: TriggerPatch, if_match: str | None
    ) -> Trigger:
        def update(conn: Connection) -> Trigger:
            svc, fn = self._parents(conn, service, function)
            row = self._trigger_row(conn, svc, fn, name)
            check_etag(row.etag, if_match, f"trigger '{name}'")
            values: dict[str, Any] = {
                "config": row.config if patch.config is None else patch.config,
                "invocation_role": row.invocation_role if patch.invocation_role is None
                else patch.invocation_role,
                "description": row.description if patch.description is None
                else patch.description,
            }
            if patch.qualifier is not KEEP:
                self.check_qualifier(conn, svc, patch.qualifier)
                values["qualifier"] = patch.qualifier
            conn.execute(
                schema.triggers.update()
                .where(schema.triggers.c.id == row.id)
                .values(**values, modified=now_iso(), etag=new_etag())
            )
            return self._trigger(self._trigger_row(conn, svc, fn, name), svc, fn)

        return await self._run(update)

    async def delete_trigger(
        self, service: str, function: str, name: str, if_match: str | None
    ) -> Trigger:
        def delete(conn: Connection) -> Trigger:
            svc, fn = self._parents(conn, service, function)
            row = self._trigger_row(conn, svc, fn, name)
            check_etag(row.etag, if_match, f"trigger '{name}'")
            conn.execute(schema.triggers.delete().where(schema.triggers.c.id == row.id))
            return self._trigger(row, svc, fn)

        return await self._run(delete)

    async def oss_triggers(self, bucket: str | None = None) -> list[Trigger]:
        """The oss triggers of every service: all of them, or those whose sourceArn names
        ``bucket`` (``acs:oss:{region}:{account}:{bucket}``); ordered by service, function
        and name."""
        suffix = None if bucket is None else f":{bucket}"
        return await self._run(lambda conn: triggers_of_type(conn, "oss", suffix))
