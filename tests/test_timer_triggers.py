"""timer triggers on real platforms: '@every' and 6-field cron (CRON_TZ too) ticks become
async invocations with FC's event, through the trigger's qualifier; disabling, updating and
deleting apply within a second; a restart fires no tick twice and replays no burst; two
platforms sharing one PostgreSQL database fire each tick once between them.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import fc2
import pytest
import sqlalchemy as sa

from tests.conftest import deploy, raises_fc, unique, wait_for, write_code
from tests.platform_process import PlatformProcess
from tests.test_async_api import all_records
from tests.test_store_postgres import URL, postgres_or_skip

ECHO = {"index.py": "def handler(event, context):\n    return event\n"}


def echo_function(client: fc2.Client) -> str:
    service = unique("timer")
    deploy(client, service, "echo", ECHO)
    return service


def timer(client: fc2.Client, service: str, expression: str, *, name: str = "tick",
          payload: str = "hello", enable: bool = True, **options: Any) -> dict[str, Any]:
    config = {"cronExpression": expression, "enable": enable, "payload": payload}
    created: dict[str, Any] = client.create_trigger(service, "echo", name, "timer", config,
                                                    None, None, **options).data
    return created


def events(platform: PlatformProcess, service: str) -> list[dict[str, Any]]:
    """The events of the function's async invocations, by nominal time."""
    found = all_records(platform, service, "echo", includePayload="true")
    return sorted((json.loads(r["invocationPayload"]) for r in found),
                  key=lambda e: str(e["triggerTime"]))


def tick_times(found: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(e["triggerTime"]) for e in found]


def wait_events(platform: PlatformProcess, service: str, count: int,
                timeout: float = 15) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        found[:] = events(platform, service)
        return len(found) >= count

    assert wait_for(enough, timeout, interval=0.1), found
    return found


def test_every_second_fires_once_a_second_with_fc_event_until_deleted(
        shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    service = echo_function(shared_client)
    created = datetime.now(UTC)
    timer(shared_client, service, "@every 1s", name="each-second", payload='{"k": 1}')
    found = wait_events(shared_platform, service, 3)
    for event in found:
        assert set(event) == {"triggerTime", "triggerName", "payload"}
        assert event["triggerName"] == "each-second"
        assert event["payload"] == '{"k": 1}'  # verbatim, not parsed
        assert event["triggerTime"].endswith("Z")
        assert len(event["triggerTime"]) == 20  # second precision
    ticks = tick_times(found)
    assert ticks[0] > created - timedelta(seconds=1)
    assert all(b - a == timedelta(seconds=1) for a, b in pairwise(ticks))
    records = all_records(shared_platform, service, "echo")
    assert all(r["invocationId"].startswith("timer-") for r in records)
    assert len({r["invocationId"] for r in records}) == len(records)

    shared_client.delete_trigger(service, "echo", "each-second")
    time.sleep(0.5)
    after_delete = len(events(shared_platform, service))
    time.sleep(1.5)
    assert len(events(shared_platform, service)) == after_delete


def test_six_field_cron_in_a_cron_tz_zone(shared_platform: PlatformProcess,
                                          shared_client: fc2.Client) -> None:
    service = echo_function(shared_client)
    # Kathmandu is UTC+05:45: the zone shifts minutes, not seconds, so every-2s ticks stay
    # on even seconds in UTC too; a bad zone name is refused.
    timer(shared_client, service, "CRON_TZ=Asia/Kathmandu */2 * * * * *")
    ticks = tick_times(wait_events(shared_platform, service, 2))
    assert all(t.second % 2 == 0 for t in ticks)
    assert all(b - a == timedelta(seconds=2) for a, b in pairwise(ticks))
    with raises_fc(400, "InvalidArgument"):
        timer(shared_client, service, "CRON_TZ=Mars/Olympus */2 * * * * *", name="bad")


def test_a_cron_tz_zone_moves_the_hour(shared_platform: PlatformProcess,
                                       shared_client: fc2.Client) -> None:
    """A cron expression naming the current hour of UTC+8 fires now; the same in UTC not."""
    service = echo_function(shared_client)
    now = datetime.now(UTC)
    shanghai_hour = (now + timedelta(hours=8)).hour
    timer(shared_client, service, f"CRON_TZ=Asia/Shanghai * * {shanghai_hour} * * *",
          name="shanghai")
    if shanghai_hour != now.hour:
        timer(shared_client, service, f"* * {shanghai_hour} * * *", name="utc")
    found = wait_events(shared_platform, service, 2)
    assert {e["triggerName"] for e in found} == {"shanghai"}


@pytest.mark.parametrize("expression", ["@every 0s", "@every", "0 8 * * *", "61 * * * * *",
                                        "CRON_TZ=Nowhere/Land 0 0 4 * * *"])
def test_bad_expressions_are_refused(shared_client: fc2.Client, expression: str) -> None:
    service = echo_function(shared_client)
    with raises_fc(400, "InvalidArgument"):
        timer(shared_client, service, expression)


def test_the_trigger_qualifier_is_the_version_that_runs(
        shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    service = unique("timer")
    deploy(shared_client, service, "echo",
           {"index.py": "def handler(event, context):\n    return 'one'\n"})
    version = shared_client.publish_version(service).data["versionId"]
    shared_client.create_alias(service, "prod", version)
    with tempfile.TemporaryDirectory() as code:  # LATEST moves on; prod stays
        shared_client.update_function(service, "echo", codeDir=str(write_code(Path(code), {
            "index.py": "def handler(event, context):\n    return 'two'\n"})))
    timer(shared_client, service, "@every 1s", qualifier="prod")
    done: list[dict[str, Any]] = []

    def finished() -> bool:
        done[:] = [r for r in all_records(shared_platform, service, "echo",
                                          includePayload="true") if r["status"] == "Succeeded"]
        return bool(done)

    assert wait_for(finished, 15)
    assert done[0]["qualifier"] == "prod"
    assert done[0]["versionId"] == version
    assert done[0]["returnPayload"] == "one"


def test_disable_and_update_apply_within_a_second(shared_platform: PlatformProcess,
                                                  shared_client: fc2.Client) -> None:
    service = echo_function(shared_client)
    timer(shared_client, service, "@every 1h", name="later")
    time.sleep(1.2)
    assert events(shared_platform, service) == []
    # A new expression: '@every' counts from the update, so the first tick is 1s later.
    updated = datetime.now(UTC)
    shared_client.update_trigger(service, "echo", "later", triggerConfig={
        "cronExpression": "@every 1s", "enable": True, "payload": "now"})
    found = wait_events(shared_platform, service, 1, timeout=3)
    assert datetime.fromisoformat(found[0]["triggerTime"]) < updated + timedelta(seconds=2.5)
    shared_client.update_trigger(service, "echo", "later", triggerConfig={
        "cronExpression": "@every 1s", "enable": False, "payload": "now"})
    time.sleep(0.5)
    disabled = len(events(shared_platform, service))
    time.sleep(1.5)
    assert len(events(shared_platform, service)) == disabled


def test_a_restart_fires_no_tick_twice_and_replays_no_burst(make_platform: Any) -> None:
    platform: PlatformProcess = make_platform()
    client = fc2.Client(endpoint=platform.endpoint, accessKeyID="id", accessKeySecret="secret")
    service = echo_function(client)
    timer(client, service, "@every 1s")
    wait_events(platform, service, 2)
    platform.stop()
    stopped = datetime.now(UTC)
    time.sleep(3)
    restarted = datetime.now(UTC)
    platform.start()
    found = wait_events(platform, service, len(events(platform, service)) + 2)
    ticks = tick_times(found)
    assert len(ticks) == len(set(ticks)), ticks
    # The ticks that fell while it was down: at most the latest (less than 1s old).
    down = [t for t in ticks if stopped + timedelta(seconds=1) < t < restarted]
    assert len(down) <= 1, ticks


@pytest.fixture
def postgres_url() -> Iterator[str]:
    engine = postgres_or_skip()
    schema = f"fc_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def test_two_platforms_on_one_postgres_fire_each_tick_once(make_platform: Any,
                                                           postgres_url: str) -> None:
    first: PlatformProcess = make_platform("--database-url", postgres_url, name="one")
    second: PlatformProcess = make_platform("--database-url", postgres_url, name="two")
    client = fc2.Client(endpoint=first.endpoint, accessKeyID="id", accessKeySecret="secret")
    service = echo_function(client)
    timer(client, service, "@every 1s")
    # Each platform queues the ticks it won in its own queue: together, one per tick.
    def both() -> list[dict[str, Any]]:
        return sorted(events(first, service) + events(second, service),
                      key=lambda e: str(e["triggerTime"]))

    assert wait_for(lambda: len(both()) >= 5, 15)
    ticks = tick_times(both())
    assert len(ticks) == len(set(ticks)), ticks
    assert all(b - a == timedelta(seconds=1) for a, b in pairwise(ticks))


def test_a_restart_fires_the_latest_missed_tick_when_less_than_an_interval_old(
        make_platform: Any) -> None:
    platform: PlatformProcess = make_platform()
    client = fc2.Client(endpoint=platform.endpoint, accessKeyID="id", accessKeySecret="secret")
    service = echo_function(client)
    timer(client, service, "@every 4s")
    [first] = tick_times(wait_events(platform, service, 1, timeout=10))
    platform.stop()
    missed = first + timedelta(seconds=4)
    time.sleep(max(0.0, (missed - datetime.now(UTC)).total_seconds()) + 0.3)
    platform.start()  # the tick at ``missed`` fell while down and is less than 4s old
    ticks = tick_times(wait_events(platform, service, 2, timeout=10))
    assert ticks[:2] == [first, missed], ticks
    assert len(ticks) == len(set(ticks)), ticks


def schedule_of(expression: str, anchor: datetime) -> Any:
    from fcompute.cron import Schedule

    return Schedule(expression, anchor)


def test_the_first_tick_of_a_trigger_seen_anew() -> None:
    from fcompute.triggers.timer import first_tick

    anchor = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    every = schedule_of("@every 1m", anchor)
    now = anchor + timedelta(minutes=5, seconds=20)
    latest = anchor + timedelta(minutes=5)
    # The latest missed tick, 20s old, fires once; older ones never.
    assert first_tick(every, now=now, updated=anchor, last_fired=None) == latest
    assert first_tick(every, now=now, updated=anchor,
                      last_fired=latest - timedelta(minutes=3)) == latest
    # Not when it fired already, nor when it fell before the trigger's last update.
    assert first_tick(every, now=now, updated=anchor, last_fired=latest) == latest + timedelta(
        minutes=1)
    cron = schedule_of("0 * * * * *", anchor)
    assert first_tick(cron, now=now, updated=latest + timedelta(seconds=1),
                      last_fired=None) == latest + timedelta(minutes=1)
    assert first_tick(cron, now=now, updated=anchor, last_fired=None) == latest
