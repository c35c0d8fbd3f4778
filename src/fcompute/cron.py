"""Timer trigger schedules: FC's 6-field cron (seconds first) and ``@every <duration>``."""

from __future__ import annotations

import re

from fcompute.errors import InvalidArgument

EVERY = re.compile(r"^@every\s+((?:\d+h)?(?:\d+m)?(?:\d+s)?)$")
UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
MIN_INTERVAL_SECONDS = 60


def every_seconds(expression: str) -> int | None:
    """Seconds of an ``@every 1h30m`` expression, or None when it is a cron expression."""
    match = EVERY.match(expression.strip())
    if not match or not match.group(1):
        return None
    return sum(int(n) * UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)([hms])", match.group(1)))


def validate_cron_expression(expression: str) -> None:
    if expression.strip().startswith("@every"):
        seconds = every_seconds(expression)
        if seconds is None:
            raise InvalidArgument(f"cronExpression {expression!r}: use '@every 5m', '@every 1h30m'")
        if seconds < MIN_INTERVAL_SECONDS:
            raise InvalidArgument(f"cronExpression {expression!r}: the interval is at least 1m")
        return
    from croniter import croniter

    if len(expression.split()) != 6 or not croniter.is_valid(
        expression, second_at_beginning=True
    ):
        raise InvalidArgument(
            f"cronExpression {expression!r} is not a 6-field cron expression "
            "'second minute hour day-of-month month day-of-week' or '@every <duration>'"
        )
