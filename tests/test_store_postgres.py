"""The metadata store on PostgreSQL: the same SQL and migrations as the SQLite default."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from fcompute import errors
from fcompute.control.commands import AliasSpec, FunctionPatch, TriggerSpec
from fcompute.model import CodeRef, FunctionConfig, ServiceConfig
from fcompute.store.database import Database
from fcompute.store.sql import SqlStore

URL = os.environ.get("FCOMPUTE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_or_skip() -> sa.Engine:
    engine = sa.create_engine(URL)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL is not reachable at {URL}: {exc}")
    return engine


@pytest.fixture
def store() -> Iterator[SqlStore]:
    engine = postgres_or_skip()
    schema = f"fc_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    database = Database(URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield SqlStore(database)
    finally:
        database.close()
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


CONFIG = FunctionConfig(runtime="python3", handler="index.handler", memory_size=256,
                        timeout=60, initialization_timeout=30, environment={"A": "1"})
CODE = CodeRef(checksum="1", size=1, digest="0" * 64)


def test_crud_limits_and_pagination_on_postgres(store: SqlStore) -> None:
    async def scenario() -> None:
        service = await store.create_service("svc", ServiceConfig())
        with pytest.raises(errors.AlreadyExists):
            await store.create_service("svc", ServiceConfig())
        created = await store.create_function("svc", "fn", CONFIG, CODE)
        assert created.config.environment == {"A": "1"}
        before, updated = await store.update_function(
            "svc", "fn", FunctionPatch(timeout=5), None, created.etag)
        assert (before.config.timeout, updated.config.timeout) == (60, 5)
        assert updated.etag != created.etag
        with pytest.raises(errors.PreconditionFailed):
            await store.update_function("svc", "fn", FunctionPatch(timeout=6), None,
                                        created.etag)
        for index in range(3):
            await store.create_function("svc", f"more_{index}", CONFIG, CODE)
        first = await store.list_functions("svc", prefix="more_", start_key="", limit=2)
        assert [f.name for f in first.items] == ["more_0", "more_1"]
        assert first.next_token == "more_2"
        await store.create_trigger("svc", "fn", TriggerSpec(
            name="t", type="http", config={"authType": "anonymous", "methods": ["GET"]}))
        with pytest.raises(errors.FunctionNotEmpty):
            await store.delete_function("svc", "fn", None)
        # Versions and aliases: JSON snapshots and integer ids on PostgreSQL too.
        version = await store.publish_version("svc", "first")
        assert version.id == "1"
        with pytest.raises(errors.InvalidArgument) as unchanged:
            await store.publish_version("svc", "again")
        assert unchanged.value.code == "ServiceNotModified"
        await store.update_function("svc", "fn", FunctionPatch(timeout=7), None, None)
        assert (await store.publish_version("svc", "")).id == "2"
        old = await store.version_function("svc", "1", "fn")
        assert (old.config.timeout, old.config.environment) == (5, {"A": "1"})
        alias = await store.create_alias("svc", AliasSpec("prod", "1", {"2": 0.25}))
        assert (alias.version_id, alias.weights) == ("1", {"2": 0.25})
        with pytest.raises(errors.InvalidArgument) as in_use:
            await store.delete_version("svc", "2")
        assert in_use.value.code == "VersionInUse"
        with pytest.raises(errors.ServiceNotEmpty):
            await store.delete_service("svc", service.etag)

    asyncio.run(scenario())
