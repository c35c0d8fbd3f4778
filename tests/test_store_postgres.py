"""The metadata store on PostgreSQL: the same SQL and migrations as the SQLite default."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from fcompute import errors
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


FUNCTION = {
    "name": "fn", "runtime": "python3", "handler": "index.handler", "description": "",
    "initializer": "", "memory_size": 256, "timeout": 60, "initialization_timeout": 30,
    "environment": {"A": "1"}, "instance_concurrency": 1, "instance_type": "e1",
    "ca_port": None, "custom_container_config": None, "code_checksum": "1", "code_size": 1,
    "code_digest": "0" * 64,
}


def test_crud_limits_and_pagination_on_postgres(store: SqlStore) -> None:
    async def scenario() -> None:
        service = await store.create_service(
            {"name": "svc", "description": "", "role": "", "internet_access": True}
        )
        with pytest.raises(errors.AlreadyExists):
            await store.create_service(
                {"name": "svc", "description": "", "role": "", "internet_access": True}
            )
        created = await store.create_function("svc", dict(FUNCTION))
        assert created.environment == {"A": "1"}
        updated = await store.update_function("svc", "fn", {"timeout": 5}, created.etag)
        assert updated.timeout == 5
        assert updated.etag != created.etag
        with pytest.raises(errors.PreconditionFailed):
            await store.update_function("svc", "fn", {"timeout": 6}, created.etag)
        for index in range(3):
            await store.create_function("svc", dict(FUNCTION, name=f"more_{index}"))
        first = await store.list_functions("svc", prefix="more_", start_key="", limit=2)
        assert [f.name for f in first.items] == ["more_0", "more_1"]
        assert first.next_token == "more_2"
        await store.create_trigger("svc", "fn", {
            "name": "t", "type": "http", "config": {"authType": "anonymous", "methods": ["GET"]},
            "source_arn": None, "invocation_role": "", "qualifier": None, "description": "",
        })
        with pytest.raises(errors.FunctionNotEmpty):
            await store.delete_function("svc", "fn", None)
        with pytest.raises(errors.ServiceNotEmpty):
            await store.delete_service("svc", service.etag)

    asyncio.run(scenario())
