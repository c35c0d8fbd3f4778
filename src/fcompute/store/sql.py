"""The SQL metadata store (SQLite embedded by default, PostgreSQL for scale-out)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fcompute import errors, limits
from fcompute.model import Function, Page, Service, Trigger, new_etag, new_id, now_iso
from fcompute.store import schema
from fcompute.store.base import Fields
from fcompute.store.database import Database

T = TypeVar("T")


def _storable(name: str) -> bool:
    """Whether ``name`` can be in a text column at all: PostgreSQL refuses NUL in text (a
    DataError, not a miss), so a name from a URL holding one is looked up as absent."""
    return "\x00" not in name


def _check_etag(current: str, if_match: str | None, what: str) -> None:
    if if_match is not None and if_match.strip('"') != current:
        raise errors.PreconditionFailed(
            f"{what}: If-Match {if_match!r} does not match the current ETag"
        )


class SqlStore:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._run = database.run

    # services ------------------------------------------------------------

    @staticmethod
    def _service(row: Any) -> Service:
        return Service(
            name=row.name, id=row.id, description=row.description, role=row.role,
            internet_access=row.internet_access, log_config=row.log_config,
            vpc_config=row.vpc_config, nas_config=row.nas_config,
            tracing_config=row.tracing_config, created=row.created, modified=row.modified,
            etag=row.etag,
        )

    @classmethod
    def _service_row(cls, conn: Connection, name: str) -> Any:
        if not _storable(name):
            raise errors.service_not_found(name)
        row = conn.execute(sa.select(schema.services).where(schema.services.c.name == name)).first()
        if row is None:
            raise errors.service_not_found(name)
        return row

    async def create_service(self, fields: Fields) -> Service:
        def create(conn: Connection) -> Service:
            exists = conn.execute(
                sa.select(schema.services.c.id).where(schema.services.c.name == fields["name"])
            ).first()
            if exists:
                raise errors.AlreadyExists(
                    f"service '{fields['name']}' already exists", code="ServiceAlreadyExists"
                )
            stamp = now_iso()
            values = {**fields, "id": new_id(), "created": stamp, "modified": stamp,
                      "etag": new_etag()}
            conn.execute(schema.services.insert().values(**values))
            return self._service(self._service_row(conn, fields["name"]))

        return await self._run(create)

    async def get_service(self, name: str) -> Service:
        return await self._run(lambda conn: self._service(self._service_row(conn, name)))

    async def list_services(self, *, prefix: str, start_key: str, limit: int) -> Page[Service]:
        def page(conn: Connection) -> Page[Service]:
            rows = self._page(conn, schema.services, None, prefix, start_key, limit)
            return self._paged([self._service(r) for r in rows], limit, lambda s: s.name)

        return await self._run(page)

    async def update_service(self, name: str, fields: Fields, if_match: str | None) -> Service:
        def update(conn: Connection) -> Service:
            row = self._service_row(conn, name)
            _check_etag(row.etag, if_match, f"service '{name}'")
            conn.execute(
                schema.services.update()
                .where(schema.services.c.id == row.id)
                .values(**fields, modified=now_iso(), etag=new_etag())
            )
            return self._service(self._service_row(conn, name))

        return await self._run(update)

    async def delete_service(self, name: str, if_match: str | None) -> None:
        def delete(conn: Connection) -> None:
            row = self._service_row(conn, name)
            _check_etag(row.etag, if_match, f"service '{name}'")
            count = conn.execute(
                sa.select(sa.func.count()).where(schema.functions.c.service_id == row.id)
            ).scalar_one()
            if count:
                raise errors.ServiceNotEmpty(
                    f"service '{name}' still has {count} function(s); delete them first"
                )
            conn.execute(schema.services.delete().where(schema.services.c.id == row.id))

        await self._run(delete)

    # functions -----------------------------------------------------------

    @staticmethod
    def _function(row: Any, service: Any) -> Function:
        return Function(
            service_name=service.name, service_id=service.id, name=row.name, id=row.id,
            description=row.description, runtime=row.runtime, handler=row.handler,
            memory_size=row.memory_size, timeout=row.timeout, initializer=row.initializer,
            initialization_timeout=row.initialization_timeout,
            environment=dict(row.environment or {}),
            instance_concurrency=row.instance_concurrency, instance_type=row.instance_type,
            disk_size=row.disk_size,
            ca_port=row.ca_port, custom_container_config=row.custom_container_config,
            code_checksum=row.code_checksum, code_size=row.code_size,
            code_digest=row.code_digest, created=row.created, modified=row.modified,
            etag=row.etag,
        )

    @classmethod
    def _function_row(cls, conn: Connection, service: Any, name: str) -> Any:
        if not _storable(name):
            raise errors.function_not_found(service.name, name)
        row = conn.execute(
            sa.select(schema.functions).where(
                schema.functions.c.service_id == service.id, schema.functions.c.name == name
            )
        ).first()
        if row is None:
            raise errors.function_not_found(service.name, name)
        return row

    async def create_function(self, service: str, fields: Fields) -> Function:
        def create(conn: Connection) -> Function:
            svc = self._service_row(conn, service)
            functions = schema.functions
            names = conn.execute(
                sa.select(functions.c.name).where(functions.c.service_id == svc.id)
            ).scalars().all()
            if fields["name"] in names:
                raise errors.AlreadyExists(
                    f"function '{fields['name']}' already exists in service '{service}'",
                    code="FunctionAlreadyExists",
                )
            if len(names) >= limits.MAX_FUNCTIONS_PER_SERVICE:
                raise errors.ResourceExhausted(
                    f"service '{service}' already has {len(names)} functions, the limit is "
                    f"{limits.MAX_FUNCTIONS_PER_SERVICE}"
                )
            stamp = now_iso()
            conn.execute(functions.insert().values(
                **fields, id=new_id(), service_id=svc.id, created=stamp, modified=stamp,
                etag=new_etag(),
            ))
            return self._function(self._function_row(conn, svc, fields["name"]), svc)

        return await self._run(create)

    async def get_function(self, service: str, name: str) -> Function:
        def get(conn: Connection) -> Function:
            svc = self._service_row(conn, service)
            return self._function(self._function_row(conn, svc, name), svc)

        return await self._run(get)

    async def list_functions(
        self, service: str, *, prefix: str, start_key: str, limit: int
    ) -> Page[Function]:
        def page(conn: Connection) -> Page[Function]:
            svc = self._service_row(conn, service)
            rows = self._page(
                conn, schema.functions, schema.functions.c.service_id == svc.id, prefix,
                start_key, limit,
            )
            return self._paged([self._function(r, svc) for r in rows], limit, lambda f: f.name)

        return await self._run(page)

    async def update_function(
        self, service: str, name: str, fields: Fields, if_match: str | None
    ) -> Function:
        def update(conn: Connection) -> Function:
            svc = self._service_row(conn, service)
            row = self._function_row(conn, svc, name)
            _check_etag(row.etag, if_match, f"function '{service}/{name}'")
            conn.execute(
                schema.functions.update()
                .where(schema.functions.c.id == row.id)
                .values(**fields, modified=now_iso(), etag=new_etag())
            )
            return self._function(self._function_row(conn, svc, name), svc)

        return await self._run(update)

    async def delete_function(self, service: str, name: str, if_match: str | None) -> None:
        def delete(conn: Connection) -> None:
            svc = self._service_row(conn, service)
            row = self._function_row(conn, svc, name)
            _check_etag(row.etag, if_match, f"function '{service}/{name}'")
            count = conn.execute(
                sa.select(sa.func.count()).where(schema.triggers.c.function_id == row.id)
            ).scalar_one()
            if count:
                raise errors.FunctionNotEmpty(
                    f"function '{service}/{name}' still has {count} trigger(s); delete them first"
                )
            conn.execute(schema.functions.delete().where(schema.functions.c.id == row.id))

        await self._run(delete)

    async def code_digests_in_use(self) -> set[str]:
        def digests(conn: Connection) -> set[str]:
            return set(conn.execute(sa.select(schema.functions.c.code_digest)).scalars())

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

    def _parents(self, conn: Connection, service: str, function: str) -> tuple[Any, Any]:
        svc = self._service_row(conn, service)
        return svc, self._function_row(conn, svc, function)

    @staticmethod
    def _trigger_row(conn: Connection, svc: Any, fn: Any, name: str) -> Any:
        if not _storable(name):
            raise errors.trigger_not_found(svc.name, fn.name, name)
        row = conn.execute(
            sa.select(schema.triggers).where(
                schema.triggers.c.function_id == fn.id, schema.triggers.c.name == name
            )
        ).first()
        if row is None:
            raise errors.trigger_not_found(svc.name, fn.name, name)
        return row

    async def create_trigger(self, service: str, function: str, fields: Fields) -> Trigger:
        def create(conn: Connection) -> Trigger:
            svc, fn = self._parents(conn, service, function)
            triggers = schema.triggers
            names = conn.execute(
                sa.select(triggers.c.name).where(triggers.c.function_id == fn.id)
            ).scalars().all()
            if fields["name"] in names:
                raise errors.AlreadyExists(
                    f"trigger '{fields['name']}' already exists in function "
                    f"'{service}/{function}'",
                    code="TriggerAlreadyExists",
                )
            if len(names) >= limits.MAX_TRIGGERS_PER_FUNCTION:
                raise errors.ResourceExhausted(
                    f"function '{service}/{function}' already has {len(names)} triggers, the "
                    f"limit is {limits.MAX_TRIGGERS_PER_FUNCTION}"
                )
            stamp = now_iso()
            conn.execute(triggers.insert().values(
                **fields, id=new_id(), function_id=fn.id, created=stamp, modified=stamp,
                etag=new_etag(),
            ))
            return self._trigger(self._trigger_row(conn, svc, fn, fields["name"]), svc, fn)

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
            rows = self._page(
                conn, schema.triggers, schema.triggers.c.function_id == fn.id, prefix,
                start_key, limit,
            )
            return self._paged([self._trigger(r, svc, fn) for r in rows], limit, lambda t: t.name)

        return await self._run(page)

    async def update_trigger(
        self, service: str, function: str, name: str, fields: Fields, if_match: str | None
    ) -> Trigger:
        def update(conn: Connection) -> Trigger:
            svc, fn = self._parents(conn, service, function)
            row = self._trigger_row(conn, svc, fn, name)
            _check_etag(row.etag, if_match, f"trigger '{name}'")
            conn.execute(
                schema.triggers.update()
                .where(schema.triggers.c.id == row.id)
                .values(**fields, modified=now_iso(), etag=new_etag())
            )
            return self._trigger(self._trigger_row(conn, svc, fn, name), svc, fn)

        return await self._run(update)

    async def delete_trigger(
        self, service: str, function: str, name: str, if_match: str | None
    ) -> None:
        def delete(conn: Connection) -> None:
            svc, fn = self._parents(conn, service, function)
            row = self._trigger_row(conn, svc, fn, name)
            _check_etag(row.etag, if_match, f"trigger '{name}'")
            conn.execute(schema.triggers.delete().where(schema.triggers.c.id == row.id))

        await self._run(delete)

    # pagination ------------------------------------------------------------

    @staticmethod
    def _page(
        conn: Connection, table: sa.Table, scope: Any, prefix: str, start_key: str, limit: int
    ) -> list[Any]:
        query = sa.select(table)
        if scope is not None:
            query = query.where(scope)
        if prefix:
            # Range on the prefix instead of LIKE: names may contain '_' which LIKE treats as a
            # wildcard.
            query = query.where(table.c.name >= prefix, table.c.name < prefix + "\U0010ffff")
        if start_key:
            query = query.where(table.c.name >= start_key)
        # One extra row tells whether a next page exists; its name is the next token.
        return list(conn.execute(query.order_by(table.c.name).limit(limit + 1)))

    @staticmethod
    def _paged(items: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
        if len(items) > limit:
            return Page(items=items[:limit], next_token=key(items[limit]))
        return Page(items=items, next_token=None)
