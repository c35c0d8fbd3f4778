"""Versions and aliases in the SQL store.

A version copies, in one transaction, the service's config and every function's config
and code reference into ``versions`` and ``version_functions``; reads of a version build
the same ``Service`` and ``Function`` records as LATEST reads do, from the copy. An
alias is a row naming a version and the weights of additional versions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fcompute import errors, validation
from fcompute.control.commands import AliasPatch, AliasSpec
from fcompute.model import (
    LATEST,
    Alias,
    CodeRef,
    Function,
    Page,
    Service,
    Version,
    new_etag,
    now_iso,
)
from fcompute.store import schema, snapshots
from fcompute.store.database import Database
from fcompute.store.rows import (
    check_etag,
    function_record,
    page_rows,
    paged,
    service_record,
    service_row,
    storable,
)

T = TypeVar("T")
MAX_VERSION_ID = 2**31 - 1


def version_number(service: str, version_id: str) -> int:
    """The number of a version id from a path; VersionNotFound if it could name none."""
    if not validation.DECIMAL.fullmatch(version_id) or not 0 < int(version_id) <= MAX_VERSION_ID:
        raise errors.version_not_found(service, version_id)
    return int(version_id)


def _version(row: Any, service: Any) -> Version:
    return Version(service_name=service.name, service_id=service.id,
                   id=str(row.version_id), description=row.description,
                   created=row.created, modified=row.modified)


def _alias(row: Any, service: Any) -> Alias:
    return Alias(service_name=service.name, service_id=service.id, name=row.name,
                 version_id=str(row.version_id),
                 weights={str(k): float(v) for k, v in (row.weights or {}).items()},
                 description=row.description, created=row.created, modified=row.modified,
                 etag=row.etag)


def _version_row(conn: Connection, svc: Any, number: int) -> Any:
    table = schema.versions
    return conn.execute(sa.select(table).where(
        table.c.service_id == svc.id, table.c.version_id == number)).first()


def _alias_row(conn: Connection, svc: Any, name: str) -> Any:
    if not storable(name):
        raise errors.alias_not_found(svc.name, name)
    table = schema.aliases
    row = conn.execute(sa.select(table).where(
        table.c.service_id == svc.id, table.c.name == name)).first()
    if row is None:
        raise errors.alias_not_found(svc.name, name)
    return row


def _refuse_if_a_trigger_names(conn: Connection, svc: Any, qualifier: str, what: str) -> None:
    """Triggers name their qualifier: what one names cannot go while it does."""
    triggers, functions = schema.triggers, schema.functions
    row = conn.execute(
        sa.select(triggers.c.name, functions.c.name.label("function"))
        .join(functions, functions.c.id == triggers.c.function_id)
        .where(functions.c.service_id == svc.id, triggers.c.qualifier == qualifier)
        .limit(1)
    ).first()
    if row is not None:
        raise errors.InvalidArgument(
            f"{what} of service '{svc.name}' is in use by trigger '{row.name}' of function "
            f"'{row.function}'; change the trigger's qualifier or delete the trigger first",
            code="VersionInUse" if what.startswith("version") else "AliasInUse",
        )


def _snapshot_service(svc: Any, row: Any) -> Service:
    return Service(name=svc.name, id=svc.id,
                   config=snapshots.service_config_from(row.service_config),
                   created=row.created, modified=row.modified, etag=f"v{row.version_id}")


def _snapshot_function(svc: Any, row: Any) -> Function:
    return Function(
        service_name=svc.name, service_id=svc.id, name=row.name, id=row.function_id,
        config=snapshots.function_config_from(row.config),
        code=CodeRef(row.code_checksum, row.code_size, row.code_digest),
        created=row.created, modified=row.modified, etag=f"v{row.version_id}",
    )


def _check_routing(conn: Connection, svc: Any, version_id: str,
                   weights: dict[str, float]) -> int:
    """An alias's versions must exist and its weights be shares: InvalidArgument if not."""
    try:
        number = version_number(svc.name, version_id)
    except errors.NotFound:
        number = 0
    if not number or _version_row(conn, svc, number) is None:
        raise errors.InvalidArgument(
            f"versionId {validation.shown(version_id)}: service '{svc.name}' has no such "
            "version; publish one first or name an existing one"
        )
    for extra, weight in weights.items():
        if extra == version_id:
            raise errors.InvalidArgument(
                f"additionalVersionWeight names version {extra}, the alias's own version; "
                "weights are for the other versions the alias sends traffic to"
            )
        try:
            extra_number = version_number(svc.name, extra)
        except errors.NotFound:
            extra_number = 0
        if not extra_number or _version_row(conn, svc, extra_number) is None:
            raise errors.InvalidArgument(
                f"additionalVersionWeight: service '{svc.name}' has no version "
                f"{validation.shown(extra)}"
            )
        if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
            raise errors.InvalidArgument(
                f"additionalVersionWeight[{extra}] must be from 0.0 to 1.0, got {weight}"
            )
    if sum(weights.values()) > 1.0 + 1e-9:
        raise errors.InvalidArgument(
            "additionalVersionWeight: the weights add up to more than 1.0"
        )
    return number


class VersionRows:
    _database: Database

    async def _run(self, fn: Callable[[Connection], T]) -> T:
        return await self._database.run(fn)

    @staticmethod
    def check_qualifier(conn: Connection, svc: Any, qualifier: str | None) -> None:
        """A trigger's qualifier must name what exists: LATEST, a version or an alias."""
        if qualifier is None or qualifier == LATEST:
            return
        if validation.DECIMAL.fullmatch(qualifier):
            try:
                number = version_number(svc.name, qualifier)
            except errors.NotFound:
                number = 0
            if number and _version_row(conn, svc, number) is not None:
                return
            raise errors.InvalidArgument(
                f"qualifier '{qualifier}': service '{svc.name}' has no such version"
            )
        table = schema.aliases
        if not storable(qualifier) or conn.execute(sa.select(table.c.name).where(
                table.c.service_id == svc.id, table.c.name == qualifier)).first() is None:
            raise errors.InvalidArgument(
                f"qualifier {validation.shown(qualifier)}: service '{svc.name}' has no such "
                "alias; use LATEST, a version id or an existing alias"
            )

    # versions ------------------------------------------------------------

    async def publish_version(self, service: str, description: str) -> Version:
        def publish(conn: Connection) -> Version:
            svc = service_row(conn, service)
            # Taking the counter first locks the service row (PostgreSQL): two publishes
            # of one service run one after the other.
            conn.execute(schema.services.update().where(schema.services.c.id == svc.id)
                         .values(last_version=schema.services.c.last_version + 1))
            number = conn.execute(sa.select(schema.services.c.last_version).where(
                schema.services.c.id == svc.id)).scalar_one()
            config = service_record(svc).config
            functions = [function_record(row, svc) for row in conn.execute(
                sa.select(schema.functions).where(schema.functions.c.service_id == svc.id))]
            fingerprint = snapshots.fingerprint(
                config, [(f.name, f.id, f.config, f.code) for f in functions])
            versions = schema.versions
            newest = conn.execute(
                sa.select(versions.c.version_id, versions.c.fingerprint)
                .where(versions.c.service_id == svc.id)
                .order_by(versions.c.version_id.desc()).limit(1)
            ).first()
            if newest is not None and newest.fingerprint == fingerprint:
                raise errors.InvalidArgument(
                    f"service '{service}' has not changed since version {newest.version_id}; "
                    "change a function or the service before publishing, or use version "
                    f"{newest.version_id}",
                    code="ServiceNotModified",
                )
            stamp = now_iso()
            conn.execute(versions.insert().values(
                service_id=svc.id, version_id=number, description=description,
                service_config=snapshots.service_config_json(config), fingerprint=fingerprint,
                created=stamp, modified=stamp,
            ))
            for function in functions:
                conn.execute(schema.version_functions.insert().values(
                    service_id=svc.id, version_id=number, name=function.name,
                    function_id=function.id,
                    config=snapshots.function_config_json(function.config),
                    code_checksum=function.code.checksum, code_size=function.code.size,
                    code_digest=function.code.digest, created=stamp, modified=stamp,
                ))
            return _version(_version_row(conn, svc, number), svc)

        return await self._run(publish)

    async def get_version(self, service: str, version_id: str) -> Version:
        def get(conn: Connection) -> Version:
            svc = service_row(conn, service)
            row = _version_row(conn, svc, version_number(service, version_id))
            if row is None:
                raise errors.version_not_found(service, version_id)
            return _version(row, svc)

        return await self._run(get)

    async def list_versions(
        self, service: str, *, start: str, limit: int, forward: bool
    ) -> Page[Version]:
        def page(conn: Connection) -> Page[Version]:
            svc = service_row(conn, service)
            table = schema.versions
            query = sa.select(table).where(table.c.service_id == svc.id)
            if start:
                if not validation.DECIMAL.fullmatch(start) or int(start) > MAX_VERSION_ID:
                    raise errors.InvalidArgument(
                        f"startKey/nextToken {validation.shown(start)} is not a version id"
                    )
                bound = int(start)
                query = query.where(table.c.version_id >= bound if forward
                                    else table.c.version_id <= bound)
            order = table.c.version_id.asc() if forward else table.c.version_id.desc()
            rows = list(conn.execute(query.order_by(order).limit(limit + 1)))
            return paged([_version(r, svc) for r in rows], limit, lambda v: v.id)

        return await self._run(page)

    async def delete_version(
        self, service: str, version_id: str
    ) -> tuple[Version, tuple[str, ...], tuple[str, ...]]:
        """Deletes the version; returns it with the function ids and code it held."""
        def delete(conn: Connection) -> tuple[Version, tuple[str, ...], tuple[str, ...]]:
            svc = service_row(conn, service)
            number = version_number(service, version_id)
            row = _version_row(conn, svc, number)
            if row is None:
                raise errors.version_not_found(service, version_id)
            for alias in conn.execute(sa.select(schema.aliases).where(
                    schema.aliases.c.service_id == svc.id)):
                if alias.version_id == number or version_id in (alias.weights or {}):
                    raise errors.InvalidArgument(
                        f"version {version_id} of service '{service}' is in use by alias "
                        f"'{alias.name}'; point the alias elsewhere first",
                        code="VersionInUse",
                    )
            _refuse_if_a_trigger_names(conn, svc, str(number), f"version {version_id}")
            vf = schema.version_functions
            held = list(conn.execute(sa.select(vf.c.function_id, vf.c.code_digest).where(
                vf.c.service_id == svc.id, vf.c.version_id == number)))
            conn.execute(vf.delete().where(vf.c.service_id == svc.id, vf.c.version_id == number))
            conn.execute(schema.versions.delete().where(
                schema.versions.c.service_id == svc.id, schema.versions.c.version_id == number))
            return (_version(row, svc), tuple(h.function_id for h in held),
                    tuple({h.code_digest for h in held}))

        return await self._run(delete)

    def _snapshot_row(self, conn: Connection, service: str, version_id: str) -> tuple[Any, Any]:
        svc = service_row(conn, service)
        row = _version_row(conn, svc, version_number(service, version_id))
        if row is None:
            raise errors.version_not_found(service, version_id)
        return svc, row

    async def version_service(self, service: str, version_id: str) -> Service:
        def get(conn: Connection) -> Service:
            return _snapshot_service(*self._snapshot_row(conn, service, version_id))

        return await self._run(get)

    async def version_function(self, service: str, version_id: str, name: str) -> Function:
        def get(conn: Connection) -> Function:
            svc, version = self._snapshot_row(conn, service, version_id)
            vf = schema.version_functions
            row = None if not storable(name) else conn.execute(sa.select(vf).where(
                vf.c.service_id == svc.id, vf.c.version_id == version.version_id,
                vf.c.name == name)).first()
            if row is None:
                raise errors.NotFound(
                    f"function '{name}' does not exist in version {version_id} of service "
                    f"'{service}'", code="FunctionNotFound")
            return _snapshot_function(svc, row)

        return await self._run(get)

    async def list_version_functions(
        self, service: str, version_id: str, *, prefix: str, start_key: str, limit: int
    ) -> Page[Function]:
        def page(conn: Connection) -> Page[Function]:
            svc, version = self._snapshot_row(conn, service, version_id)
            vf = schema.version_functions
            rows = page_rows(conn, vf, sa.and_(vf.c.service_id == svc.id,
                                               vf.c.version_id == version.version_id),
                             prefix, start_key, limit)
            return paged([_snapshot_function(svc, r) for r in rows], limit, lambda f: f.name)

        return await self._run(page)

    # aliases -------------------------------------------------------------

    async def create_alias(self, service: str, spec: AliasSpec) -> Alias:
        def create(conn: Connection) -> Alias:
            svc = service_row(conn, service)
            table = schema.aliases
            if conn.execute(sa.select(table.c.name).where(
                    table.c.service_id == svc.id, table.c.name == spec.name)).first():
                raise errors.AlreadyExists(
                    f"alias '{spec.name}' already exists in service '{service}'",
                    code="AliasAlreadyExists")
            number = _check_routing(conn, svc, spec.version_id, spec.weights)
            stamp = now_iso()
            conn.execute(table.insert().values(
                service_id=svc.id, name=spec.name, version_id=number,
                weights=dict(spec.weights), description=spec.description, created=stamp,
                modified=stamp, etag=new_etag(),
            ))
            return _alias(_alias_row(conn, svc, spec.name), svc)

        return await self._run(create)

    async def get_alias(self, service: str, name: str) -> Alias:
        def get(conn: Connection) -> Alias:
            svc = service_row(conn, service)
            return _alias(_alias_row(conn, svc, name), svc)

        return await self._run(get)

    async def list_aliases(
        self, service: str, *, prefix: str, start_key: str, limit: int
    ) -> Page[Alias]:
        def page(conn: Connection) -> Page[Alias]:
            svc = service_row(conn, service)
            rows = page_rows(conn, schema.aliases, schema.aliases.c.service_id == svc.id,
                             prefix, start_key, limit)
            return paged([_alias(r, svc) for r in rows], limit, lambda a: a.name)

        return await self._run(page)

    async def update_alias(
        self, service: str, name: str, patch: AliasPatch, if_match: str | None
    ) -> Alias:
        def update(conn: Connection) -> Alias:
            svc = service_row(conn, service)
            row = _alias_row(conn, svc, name)
            check_etag(row.etag, if_match, f"alias '{name}'")
            current = _alias(row, svc)
            version_id = current.version_id if patch.version_id is None else patch.version_id
            weights = current.weights if patch.weights is None else patch.weights
            number = _check_routing(conn, svc, version_id, weights)
            table = schema.aliases
            conn.execute(table.update().where(
                table.c.service_id == svc.id, table.c.name == name).values(
                version_id=number, weights=dict(weights),
                description=current.description if patch.description is None
                else patch.description,
                modified=now_iso(), etag=new_etag(),
            ))
            return _alias(_alias_row(conn, svc, name), svc)

        return await self._run(update)

    async def delete_alias(self, service: str, name: str, if_match: str | None) -> Alias:
        def delete(conn: Connection) -> Alias:
            svc = service_row(conn, service)
            row = _alias_row(conn, svc, name)
            check_etag(row.etag, if_match, f"alias '{name}'")
            _refuse_if_a_trigger_names(conn, svc, name, f"alias '{name}'")
            table = schema.aliases
            conn.execute(table.delete().where(table.c.service_id == svc.id,
                                              table.c.name == name))
            return _alias(row, svc)

        return await self._run(delete)
