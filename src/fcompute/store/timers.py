"""Timer trigger state in the metadata database: the triggers to schedule and their ticks.

A tick is fired by the process that *claims* it: ``claim`` moves the trigger's
``last_fired_ms`` forward with ``UPDATE ... WHERE last_fired_ms < :tick`` (or inserts the
first row, which the primary key lets only one process do). Row locks on PostgreSQL and
the single writer on SQLite make exactly one of several racing processes see a changed
row, so processes sharing one database fire each tick once between them; and since the
claim is committed before the invocation is queued, a restart never fires a claimed tick
again.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fcompute.model import Trigger
from fcompute.store import schema
from fcompute.store.database import Database
from fcompute.store.rows import triggers_of_type


class TimerStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def timer_triggers(self) -> list[Trigger]:
        """Every timer trigger of every service (enabled or not)."""
        return await self._database.run(lambda conn: triggers_of_type(conn, "timer"))

    async def last_fired(self, trigger_ids: list[str]) -> dict[str, int]:
        """The last tick (Unix ms) each of these triggers fired, for those that have."""
        if not trigger_ids:
            return {}
        ticks = schema.timer_ticks

        def select(conn: Connection) -> dict[str, int]:
            rows = conn.execute(sa.select(ticks.c.trigger_id, ticks.c.last_fired_ms)
                                .where(ticks.c.trigger_id.in_(trigger_ids)))
            return {row.trigger_id: int(row.last_fired_ms) for row in rows}

        return await self._database.run(select)

    async def claim(self, trigger_id: str, tick_ms: int, *, owner: str, until_ms: int) -> bool:
        """True when this process won ``tick_ms`` (no process fired it or a later tick)."""
        ticks = schema.timer_ticks

        def update(conn: Connection) -> bool:
            moved = conn.execute(
                sa.update(ticks)
                .where(ticks.c.trigger_id == trigger_id, ticks.c.last_fired_ms < tick_ms)
                .values(last_fired_ms=tick_ms, lease_owner=owner, lease_until_ms=until_ms)
            )
            if moved.rowcount:
                return True
            exists = conn.execute(
                sa.select(ticks.c.trigger_id).where(ticks.c.trigger_id == trigger_id)
            ).first()
            if exists is not None:
                return False
            conn.execute(sa.insert(ticks).values(
                trigger_id=trigger_id, last_fired_ms=tick_ms, lease_owner=owner,
                lease_until_ms=until_ms,
            ))
            return True

        try:
            return await self._database.run(update)
        except sa.exc.IntegrityError:
            return False  # another process inserted the first row in the same instant
