"""Timer trigger schedules: FC's 6-field cron (seconds first) and ``@every <duration>``.

A cron expression runs in UTC unless it starts with ``CRON_TZ=<IANA zone>``; croniter
does the field arithmetic (and the zone's daylight-saving jumps). An ``@every`` interval
is anchored to a time the caller gives (the trigger's creation or last update), so that
two triggers created a second apart stay a second apart whatever the platform's start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fcompute.errors import InvalidArgument

EVERY = re.compile(r"^@every\s+((?:\d+h)?(?:\d+m)?(?:\d+s)?)$")
CRON_TZ = re.compile(r"^CRON_TZ=(\S+)\s+(.*)$", re.DOTALL)
UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
MIN_INTERVAL_SECONDS = 1


def every_seconds(expression: str) -> int | None:
    """Seconds of an ``@every 1h30m`` expression, or None when it is a cron expression."""
    match = EVERY.match(expression.strip())
    if not match or not match.group(1):
        return None
    return sum(int(n) * UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)([hms])", match.group(1)))


def split_zone(expression: str) -> tuple[tzinfo, str]:
    """The zone a ``CRON_TZ=`` prefix names (UTC without one) and the cron fields."""
    match = CRON_TZ.match(expression.strip())
    if not match:
        return UTC, expression.strip()
    name, fields = match.group(1), match.group(2).strip()
    try:
        return ZoneInfo(name), fields
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidArgument(
            f"cronExpression {expression!r}: CRON_TZ names no known time zone {name!r} "
            "(use an IANA name such as Asia/Shanghai)"
        ) from None


def validate_cron_expression(expression: str) -> None:
    if expression.strip().startswith("@every"):
        seconds = every_seconds(expression)
        if seconds is None:
            raise InvalidArgument(f"cronExpression {expression!r}: use '@every 5m', '@every 1h30m'")
        if seconds < MIN_INTERVAL_SECONDS:
            raise InvalidArgument(f"cronExpression {expression!r}: the interval is at least 1s")
        return
    from croniter import croniter

    _zone, fields = split_zone(expression)
    if len(fields.split()) != 6 or not croniter.is_valid(fields, second_at_beginning=True):
        raise InvalidArgument(
            f"cronExpression {expression!r} is not a 6-field cron expression "
            "'second minute hour day-of-month month day-of-week' (optionally after "
            "'CRON_TZ=<zone> ') or '@every <duration>'"
        )


@dataclass(frozen=True)
class Schedule:
    """The ticks of one expression, as aware UTC datetimes of whole seconds."""

    expression: str
    anchor: datetime  # where '@every' counts from

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment``."""
        seconds = every_seconds(self.expression)
        if seconds is not None:
            step = timedelta(seconds=seconds)
            if moment < self.anchor:
                return self.anchor + step
            return self.anchor + ((moment - self.anchor) // step + 1) * step
        return self._cron(moment, forward=True)

    def last_at_or_before(self, moment: datetime) -> datetime | None:
        """The latest tick at or before ``moment`` (None before the first ``@every`` one)."""
        seconds = every_seconds(self.expression)
        if seconds is not None:
            step = timedelta(seconds=seconds)
            if moment < self.anchor + step:
                return None
            return self.anchor + ((moment - self.anchor) // step) * step
        # croniter's get_prev is strictly before: start a second later to include ``moment``.
        return self._cron(moment.replace(microsecond=0) + timedelta(seconds=1), forward=False)

    def _cron(self, moment: datetime, *, forward: bool) -> datetime:
        from croniter import croniter

        zone, fields = split_zone(self.expression)
        walker = croniter(fields, moment.astimezone(zone), second_at_beginning=True)
        tick = walker.get_next(datetime) if forward else walker.get_prev(datetime)
        assert isinstance(tick, datetime)
        return tick.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
