"""Rows to records and records to rows, column by column, for every SQL store module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fcompute import errors
from fcompute.model import (
    CodeRef,
    Function,
    FunctionConfig,
    Page,
    Service,
    ServiceConfig,
    Trigger,
)
from fcompute.store import schema

T = TypeVar("T")


def storable(name: str) -> bool:
    """Whether ``name`` can be in a text column at all: PostgreSQL refuses NUL in text (a
    DataError, not a miss), so a name from a URL holding one is looked up as absent."""
    return "\x00" not in name


def check_etag(current: str, if_match: str | None, what: str) -> None:
    if if_match is not None and if_match.strip('"') != current:
        raise errors.PreconditionFailed(
            f"{what}: If-Match {if_match!r} does not match the current ETag"
        )


def service_record(row: Any) -> Service:
    return Service(
        name=row.name, id=row.id, config=ServiceConfig(
            description=row.description, role=row.role, internet_access=row.internet_access,
            log_config=row.log_config, vpc_config=row.vpc_config, nas_config=row.nas_config,
            tracing_config=row.tracing_config,
        ),
        created=row.created, modified=row.modified, etag=row.etag,
    )


def service_columns(config: ServiceConfig) -> dict[str, Any]:
    return {
        "description": config.description, "role": config.role,
        "internet_access": config.internet_access, "log_config": config.log_config,
        "vpc_config": config.vpc_config, "nas_config": config.nas_config,
        "tracing_config": config.tracing_config,
    }


def function_config(row: Any) -> FunctionConfig:
    return FunctionConfig(
        runtime=row.runtime, handler=row.handler, description=row.description,
        memory_size=row.memory_size, timeout=row.timeout, initializer=row.initializer,
        initialization_timeout=row.initialization_timeout,
        environment=dict(row.environment or {}),
        instance_concurrency=row.instance_concurrency, instance_type=row.instance_type,
        disk_size=row.disk_size, ca_port=row.ca_port,
        custom_container_config=row.custom_container_config,
    )


def function_record(row: Any, service: Any) -> Function:
    return Function(
        service_name=service.name, service_id=service.id, name=row.name, id=row.id,
        config=function_config(row),
        code=CodeRef(row.code_checksum, row.code_size, row.code_digest),
        created=row.created, modified=row.modified, etag=row.etag,
    )


def function_columns(config: FunctionConfig, code: CodeRef) -> dict[str, Any]:
    return {
        "runtime": config.runtime, "handler": config.handler,
        "description": config.description, "memory_size": config.memory_size,
        "timeout": config.timeout, "initializer": config.initializer,
        "initialization_timeout": config.initialization_timeout,
        "environment": dict(config.environment),
        "instance_concurrency": config.instance_concurrency,
        "instance_type": config.instance_type, "disk_size": config.disk_size,
        "ca_port": config.ca_port, "custom_container_config": config.custom_container_config,
        "code_checksum": code.checksum, "code_size": code.size, "code_digest": code.digest,
    }


def service_row(conn: Connection, name: str) -> Any:
    if not storable(name):
        raise errors.service_not_found(name)
    row = conn.execute(sa.select(schema.services).where(schema.services.c.name == name)).first()
    if row is None:
        raise errors.service_not_found(name)
    return row


def function_row(conn: Connection, service: Any, name: str) -> Any:
    if not storable(name):
        raise errors.function_not_found(service.name, name)
    row = conn.execute(
        sa.select(schema.functions).where(
            schema.functions.c.service_id == service.id, schema.functions.c.name == name
        )
    ).first()
    if row is None:
        raise errors.function_not_found(service.name, name)
    return row


def page_rows(
    conn: Connection, table: sa.Table, scope: Any, prefix: str, start_key: str, limit: int,
    name: sa.ColumnElement[str] | None = None,
) -> list[Any]:
    column = table.c.name if name is None else name
    query = sa.select(table)
    if scope is not None:
        query = query.where(scope)
    if prefix:
        # Range on the prefix instead of LIKE: names may contain '_' which LIKE treats as a
        # wildcard.
        query = query.where(column >= prefix, column < prefix + "\U0010ffff")
    if start_key:
        query = query.where(column >= start_key)
    # One extra row tells whether a next page exists; its name is the next token.
    return list(conn.execute(query.order_by(column).limit(limit + 1)))


def paged(items: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    if len(items) > limit:
        return Page(items=items[:limit], next_token=key(items[limit]))
    return Page(items=items, next_token=None)


def triggers_of_type(conn: Connection, trigger_type: str,
                     source_arn_suffix: str | None = None) -> list[Trigger]:
    """Every trigger of a type across all services (those whose sourceArn ends with the
    suffix, when given), ordered by service, function and name."""
    triggers, functions, services = schema.triggers, schema.functions, schema.services
    query = (
        sa.select(triggers, functions.c.name.label("function_name"),
                  services.c.name.label("service_name"))
        .join(functions, functions.c.id == triggers.c.function_id)
        .join(services, services.c.id == functions.c.service_id)
        .where(triggers.c.type == trigger_type)
        .order_by(services.c.name, functions.c.name, triggers.c.name)
    )
    if source_arn_suffix is not None:
        query = query.where(triggers.c.source_arn.endswith(source_arn_suffix, autoescape=True))
    return [Trigger(
        service_name=row.service_name, function_name=row.function_name,
        function_id=row.function_id, name=row.name, id=row.id, type=row.type,
        config=row.config, source_arn=row.source_arn, invocation_role=row.invocation_role,
        qualifier=row.qualifier, description=row.description, created=row.created,
        modified=row.modified, etag=row.etag,
    ) for row in conn.execute(query)]

