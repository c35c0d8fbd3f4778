"""The catalog's resolution and its change-event invalidation, on a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fcompute import errors
from fcompute.control.commands import AliasPatch, AliasSpec, FunctionPatch
from fcompute.control.events import AliasChanged, Change, ChangeEvents, FunctionChanged
from fcompute.invoke.catalog import FunctionCatalog, FunctionRef, Route
from fcompute.model import LATEST, Alias, CodeRef, FunctionConfig, ServiceConfig
from fcompute.store.database import Database
from fcompute.store.sql import SqlStore

CONFIG = FunctionConfig(runtime="python3", handler="index.handler")
CODE = CodeRef(checksum="1", size=1, digest="a" * 64)
LONG_TTL = 3600.0  # entries never expire in these tests: only events drop them


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    database = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        yield SqlStore(database)
    finally:
        database.close()


def alias(version: str, weights: dict[str, float]) -> Alias:
    return Alias("s", "sid", "a", version, weights, "", "", "", "")


def test_a_route_splits_the_unit_interval_by_weight() -> None:
    route = Route.of(alias("1", {"2": 0.3, "3": 0.2, "4": 0.0}))
    assert [route.pick(d) for d in (0.0, 0.299, 0.3, 0.499, 0.5, 0.999)] == [
        "2", "2", "3", "3", "1", "1"]
    assert Route.of(alias("1", {})).pick(0.0) == "1"
    assert Route.of(alias("1", {"2": 1.0})).pick(0.999999) == "2"


def test_events_drop_exactly_what_they_make_stale(store: SqlStore) -> None:
    draws = iter([0.1, 0.9, 0.9, 0.1])
    catalog = FunctionCatalog(store, LONG_TTL, draw=lambda: next(draws))
    events = ChangeEvents()
    events.subscribe(catalog.on_change)

    async def scenario() -> None:
        await store.create_service("s", ServiceConfig())
        function = await store.create_function("s", "f", CONFIG, CODE)
        await store.publish_version("s", "")
        await store.update_function("s", "f", FunctionPatch(timeout=9), None, None)
        await store.publish_version("s", "")
        await store.create_alias("s", AliasSpec("a", "1", {"2": 0.5}))

        latest = await catalog.resolve(FunctionRef("s", LATEST, "f"))
        one = await catalog.resolve(FunctionRef("s", "1", "f"))
        assert (latest.version, latest.function.config.timeout) == (LATEST, 9)
        assert (one.version, one.function.config.timeout) == ("1", CONFIG.timeout)
        via_alias = [await catalog.resolve(FunctionRef("s", "a", "f")) for _ in range(2)]
        assert [r.version for r in via_alias] == ["2", "1"]  # draws 0.1, then 0.9
        assert {r.qualifier for r in via_alias} == {"a"}
        assert via_alias[1].pool_group != one.pool_group  # own instances per qualifier

        # A LATEST change: LATEST resolves afresh, the version's entry is untouched.
        await store.update_function("s", "f", FunctionPatch(timeout=11), None, None)
        events.publish(FunctionChanged("s", "f", function.id, Change.UPDATED, CODE.digest,
                                       CODE.digest, True))
        assert (await catalog.resolve(FunctionRef("s", LATEST, "f"))).function.config.timeout \
            == 11
        assert await catalog.resolve(FunctionRef("s", "1", "f")) is one

        # An alias move applies from the next resolution once announced.
        await store.update_alias("s", "a", AliasPatch(version_id="2", weights={}), None)
        assert (await catalog.resolve(FunctionRef("s", "a", "f"))).version == "1"  # cached
        events.publish(AliasChanged("s", "a", Change.UPDATED))
        assert (await catalog.resolve(FunctionRef("s", "a", "f"))).version == "2"

        with pytest.raises(errors.NotFound) as missing:
            await catalog.resolve(FunctionRef("s", "7", "f"))
        assert missing.value.code == "VersionNotFound"
        with pytest.raises(errors.NotFound) as no_alias:
            await catalog.resolve(FunctionRef("s", "nope", "f"))
        assert no_alias.value.code == "AliasNotFound"

    asyncio.run(scenario())


def test_requests_that_find_an_entry_missing_share_one_load(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    store = SqlStore(database)
    catalog = FunctionCatalog(store, LONG_TTL)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    async def scenario() -> None:
        await store.create_service("s", ServiceConfig())
        await store.create_function("s", "f", CONFIG, CODE)
        sa.event.listen(database.engine, "before_cursor_execute", count)
        ref = FunctionRef("s", LATEST, "f")
        resolved = await asyncio.gather(*(catalog.resolve(ref) for _ in range(50)))
        assert len({id(r) for r in resolved}) == 1
        # One load: the service and the function, each looked up once.
        assert len([s for s in statements if "FROM functions" in s]) == 1, statements
        with pytest.raises(errors.NotFound):
            await asyncio.gather(*(catalog.resolve(FunctionRef("s", LATEST, "nope"))
                                   for _ in range(5)))

    try:
        asyncio.run(scenario())
    finally:
        database.close()
