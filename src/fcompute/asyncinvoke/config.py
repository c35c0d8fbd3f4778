"""async-invoke-config: retries, event age and destinations of a function's async invocations.

Configs live in the metadata database (table ``async_invoke_configs``, migration
``0002_async``), keyed by function id and qualifier, so deleting a function deletes
its configs. The dispatcher reads them through a short cache, like the invoke path
reads function configurations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fcompute import errors
from fcompute.asyncinvoke import policy
from fcompute.asyncinvoke.destinations import DestinationParser
from fcompute.model import now_iso
from fcompute.store import schema
from fcompute.store.database import Database

T = TypeVar("T")
JsonDict = dict[str, Any]


@dataclass(frozen=True)
class AsyncInvokeConfig:
    max_retry_attempts: int = policy.DEFAULT_MAX_RETRY_ATTEMPTS
    max_event_age_s: int = policy.DEFAULT_MAX_EVENT_AGE_S
    on_success: str | None = None
    on_failure: str | None = None
    # FC makes invocation records opt-in; fcompute always keeps them, and echoes the flag.
    stateful_invocation: bool = True
    created: str = ""
    modified: str = ""

    @property
    def limits(self) -> policy.RetryLimits:
        return policy.RetryLimits(self.max_retry_attempts, self.max_event_age_s)


DEFAULT = AsyncInvokeConfig()


def _bounded_int(body: JsonDict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    # bool is an int in Python; true must not mean one retry.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise errors.InvalidArgument(f"{name} must be an integer from {low} to {high}")
    return value


def _destination(config: JsonDict, key: str, parser: DestinationParser) -> str | None:
    entry = config.get(key)
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise errors.InvalidArgument(f"destinationConfig.{key} must be an object")
    target = entry.get("destination")
    if target in (None, ""):
        return None
    if not isinstance(target, str):
        raise errors.InvalidArgument(f"destinationConfig.{key}.destination must be a string")
    parser.parse(target)  # raises InvalidArgument with the reason
    return target


def parse_config(body: JsonDict, parser: DestinationParser) -> AsyncInvokeConfig:
    """Validates a PUT body; fields left out take their defaults."""
    destinations = body.get("destinationConfig")
    if destinations is None:
        destinations = {}
    if not isinstance(destinations, dict):
        raise errors.InvalidArgument("destinationConfig must be an object")
    stateful = body.get("statefulInvocation", True)
    if not isinstance(stateful, bool):
        raise errors.InvalidArgument("statefulInvocation must be true or false")
    return AsyncInvokeConfig(
        max_retry_attempts=_bounded_int(body, "maxAsyncRetryAttempts",
                                        policy.DEFAULT_MAX_RETRY_ATTEMPTS, 0,
                                        policy.MAX_RETRY_ATTEMPTS),
        max_event_age_s=_bounded_int(body, "maxAsyncEventAgeInSeconds",
                                     policy.DEFAULT_MAX_EVENT_AGE_S, 1, policy.MAX_EVENT_AGE_S),
        on_success=_destination(destinations, "onSuccess", parser),
        on_failure=_destination(destinations, "onFailure", parser),
        stateful_invocation=stateful,
    )


def config_not_found(service: str, function: str, qualifier: str) -> errors.NotFound:
    return errors.NotFound(
        f"function '{service}/{function}' ({qualifier}) has no async invoke config",
        code="AsyncConfigNotFound",
    )


class AsyncConfigStore:
    def __init__(self, database: Database, cache_seconds: float) -> None:
        self._run = database.run
        self._ttl = cache_seconds
        # By (service, function, qualifier) and by (function id, qualifier).
        self._cache: dict[tuple[str, str, str], tuple[float, AsyncInvokeConfig]] = {}
        self._cache_by_id: dict[tuple[str, str], tuple[float, AsyncInvokeConfig]] = {}

    @staticmethod
    def _function_id(conn: Connection, service: str, function: str) -> str:
        row = conn.execute(
            sa.select(schema.functions.c.id)
            .join(schema.services, schema.services.c.id == schema.functions.c.service_id)
            .where(schema.services.c.name == service, schema.functions.c.name == function)
        ).first()
        if row is None:
            exists = conn.execute(
                sa.select(schema.services.c.id).where(schema.services.c.name == service)
            ).first()
            if exists is None:
                raise errors.service_not_found(service)
            raise errors.function_not_found(service, function)
        return str(row.id)

    @staticmethod
    def _config(row: Any) -> AsyncInvokeConfig:
        return AsyncInvokeConfig(
            max_retry_attempts=row.max_retry_attempts,
            max_event_age_s=row.max_event_age_seconds, on_success=row.on_success,
            on_failure=row.on_failure, stateful_invocation=row.stateful_invocation,
            created=row.created, modified=row.modified,
        )

    def _row(self, conn: Connection, function_id: str, qualifier: str) -> Any:
        table = schema.async_invoke_configs
        return conn.execute(sa.select(table).where(
            table.c.function_id == function_id, table.c.qualifier == qualifier
        )).first()

    async def put(self, service: str, function: str, qualifier: str,
                  config: AsyncInvokeConfig) -> AsyncInvokeConfig:
        table = schema.async_invoke_configs

        def put(conn: Connection) -> tuple[str, AsyncInvokeConfig]:
            function_id = self._function_id(conn, service, function)
            stamp = now_iso()
            values = {
                "max_retry_attempts": config.max_retry_attempts,
                "max_event_age_seconds": config.max_event_age_s,
                "on_success": config.on_success, "on_failure": config.on_failure,
                "stateful_invocation": config.stateful_invocation, "modified": stamp,
            }
            if self._row(conn, function_id, qualifier) is None:
                conn.execute(table.insert().values(
                    function_id=function_id, qualifier=qualifier, created=stamp, **values
                ))
            else:
                conn.execute(table.update().where(
                    table.c.function_id == function_id, table.c.qualifier == qualifier
                ).values(**values))
            return function_id, self._config(self._row(conn, function_id, qualifier))

        function_id, stored = await self._run(put)
        self._forget(service, function, function_id, qualifier)
        return stored

    def _forget(self, service: str, function: str, function_id: str, qualifier: str) -> None:
        self._cache.pop((service, function, qualifier), None)
        self._cache_by_id.pop((function_id, qualifier), None)

    async def get(self, service: str, function: str, qualifier: str) -> AsyncInvokeConfig:
        def get(conn: Connection) -> AsyncInvokeConfig:
            row = self._row(conn, self._function_id(conn, service, function), qualifier)
            if row is None:
                raise config_not_found(service, function, qualifier)
            return self._config(row)

        return await self._run(get)

    async def list(self, service: str, function: str) -> list[tuple[str, AsyncInvokeConfig]]:
        table = schema.async_invoke_configs

        def list_configs(conn: Connection) -> list[tuple[str, AsyncInvokeConfig]]:
            function_id = self._function_id(conn, service, function)
            rows = conn.execute(sa.select(table).where(table.c.function_id == function_id)
                                .order_by(table.c.qualifier))
            return [(row.qualifier, self._config(row)) for row in rows]

        return await self._run(list_configs)

    async def delete(self, service: str, function: str, qualifier: str) -> None:
        table = schema.async_invoke_configs

        def delete(conn: Connection) -> str:
            function_id = self._function_id(conn, service, function)
            deleted = conn.execute(table.delete().where(
                table.c.function_id == function_id, table.c.qualifier == qualifier
            )).rowcount
            if not deleted:
                raise config_not_found(service, function, qualifier)
            return function_id

        function_id = await self._run(delete)
        self._forget(service, function, function_id, qualifier)

    async def effective(self, service: str, function: str, qualifier: str,
                        function_id: str | None = None) -> AsyncInvokeConfig:
        """The config in force: the stored one, else the defaults (cached for a moment).

        With ``function_id``, the config of that function, whatever has its name now: a
        deleted function has none left (its configs went with it), so it gets the defaults,
        never the config of a function created later under the same name.
        """
        if function_id is not None:
            return await self._effective_by_id(function_id, qualifier)
        key = (service, function, qualifier)
        entry = self._cache.get(key)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            return entry[1]
        try:
            config = await self.get(service, function, qualifier)
        except errors.NotFound:
            config = DEFAULT
        self._cache[key] = (now + self._ttl, config)
        return config

    async def _effective_by_id(self, function_id: str, qualifier: str) -> AsyncInvokeConfig:
        key = (function_id, qualifier)
        entry = self._cache_by_id.get(key)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            return entry[1]

        def get(conn: Connection) -> AsyncInvokeConfig:
            row = self._row(conn, function_id, qualifier)
            return DEFAULT if row is None else self._config(row)

        config = await self._run(get)
        self._cache_by_id[key] = (now + self._ttl, config)
        return config
