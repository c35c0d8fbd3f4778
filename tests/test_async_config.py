"""async-invoke-config storage on SQLite (the default) and PostgreSQL (when reachable)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fcompute import errors
from fcompute.asyncinvoke.config import AsyncConfigStore, AsyncInvokeConfig
from fcompute.model import ServiceConfig
from fcompute.store.database import Database
from fcompute.store.sql import SqlStore
from tests.test_store_postgres import CODE, CONFIG, URL, postgres_or_skip


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest,
           tmp_path: Path) -> Iterator[tuple[SqlStore, AsyncConfigStore]]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'meta.db'}")
        yield SqlStore(database), AsyncConfigStore(database, cache_seconds=0)
        database.close()
        return
    engine = postgres_or_skip()
    schema = f"fc_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    options: dict[str, Any] = {"options": f"-csearch_path={schema}"}
    database = Database(URL, connect_args=options)
    try:
        yield SqlStore(database), AsyncConfigStore(database, cache_seconds=0)
    finally:
        database.close()
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_configs_are_stored_per_function_and_go_with_it(
    stores: tuple[SqlStore, AsyncConfigStore],
) -> None:
    metadata, configs = stores

    async def scenario() -> None:
        await metadata.create_service("svc", ServiceConfig())
        await metadata.create_function("svc", "fn", CONFIG, CODE)
        assert await configs.effective("svc", "fn", "LATEST") == AsyncInvokeConfig()
        with pytest.raises(errors.NotFound):
            await configs.get("svc", "fn", "LATEST")
        stored = await configs.put("svc", "fn", "LATEST", AsyncInvokeConfig(
            max_retry_attempts=1, max_event_age_s=60, on_failure="http://hook/"))
        assert (stored.max_retry_attempts, stored.on_failure) == (1, "http://hook/")
        assert await configs.effective("svc", "fn", "LATEST") == stored
        assert [q for q, _ in await configs.list("svc", "fn")] == ["LATEST"]
        updated = await configs.put("svc", "fn", "LATEST", AsyncInvokeConfig())
        assert updated.created == stored.created
        assert updated.on_failure is None
        with pytest.raises(errors.NotFound) as missing:
            await configs.put("svc", "nope", "LATEST", AsyncInvokeConfig())
        assert missing.value.code == "FunctionNotFound"
        # Deleting the function deletes its configs (ON DELETE CASCADE).
        await metadata.delete_function("svc", "fn", None)
        await metadata.create_function("svc", "fn", CONFIG, CODE)
        assert await configs.list("svc", "fn") == []
        await configs.put("svc", "fn", "LATEST", AsyncInvokeConfig())
        await configs.delete("svc", "fn", "LATEST")
        with pytest.raises(errors.NotFound):
            await configs.delete("svc", "fn", "LATEST")

    asyncio.run(scenario())
