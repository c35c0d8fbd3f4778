"""The metadata database: one SQLAlchemy engine, migrated when opened, shared by every
SQL-backed component (the resource store, async invoke configs).

SQLAlchemy Core runs synchronously; :meth:`Database.run` executes a transaction in a
small thread pool so that disk I/O never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fcompute.store.migrate import upgrade_to_head

T = TypeVar("T")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    def __init__(self, url: str, connect_args: dict[str, Any] | None = None) -> None:
        is_sqlite = url.startswith("sqlite")
        args = dict(connect_args or {})
        if is_sqlite:
            args["check_same_thread"] = False
        self.engine = sa.create_engine(url, connect_args=args)
        if is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        upgrade_to_head(self.engine)
        # SQLite serialises writers anyway; one thread keeps writes ordered and avoids lock churn.
        self._executor = ThreadPoolExecutor(
            max_workers=1 if is_sqlite else 4, thread_name_prefix="store"
        )

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Runs ``fn`` in one transaction, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._tx, fn))

    def _tx(self, fn: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return fn(conn)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
