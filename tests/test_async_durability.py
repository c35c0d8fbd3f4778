"""At-least-once delivery across kill -9: nothing acknowledged is lost, and only events that
were in flight at the kill may run twice."""

from __future__ import annotations

import collections
import contextlib
import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import API, deploy, function_log, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import all_records, list_records

EVENTS = 1000

# Each run appends one line to the function's log: fd 1 is that file, opened O_APPEND by
# the platform, so the line is one atomic append in any sandbox. The log is the witness
# the queue cannot forge: it records every time the handler really ran.
APPENDER = """
import os, time

def handler(event, context):
    time.sleep(0.05)
    os.write(1, b"RAN " + event + b"\\n")
    return event
"""


def event_id(index: int) -> str:
    return f"ev{index:04d}"


def runs_by_event(log: str) -> collections.Counter[str]:
    return collections.Counter(line[4:] for line in log.splitlines()
                               if line.startswith("RAN ev"))


def leased_in(queue_file: str) -> set[str]:
    """Invocations the dead process held (status Running), read before any restart."""
    with contextlib.closing(sqlite3.connect(queue_file)) as conn:
        return {row[0] for row in conn.execute(
            "SELECT invocation_id FROM jobs WHERE kind = 'invocation' AND status = 'Running'")}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_9_with_1000_events_queued_or_running(make_platform: Any) -> None:
    # Eight instances, four for async: draining takes 1000 x 50 ms / 4 = 12.5 s at least,
    # so the kill lands mid-drain even when acknowledging is slow on a busy machine.
    platform: PlatformProcess = make_platform("--max-instances", "8")
    sdk = fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")
    deploy(sdk, "svc", "fn", {"index.py": APPENDER})
    url = f"{platform.endpoint}{API}/services/svc/functions/fn/invocations"

    client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=16))

    def submit(index: int) -> int:
        return client.post(url, content=event_id(index).encode(), headers={
            "x-fc-invocation-type": "Async",
            "x-fc-stateful-async-invocation-id": event_id(index),
        }).status_code

    with client, ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(submit, range(EVENTS)))
    assert statuses == [202] * EVENTS  # every one acknowledged: each must now complete

    platform.stop(signal.SIGKILL)
    ran_before = runs_by_event(function_log(platform, "svc", "fn"))
    # Mid-drain: some events ran, most had not (otherwise the test proves little).
    assert 0 < len(ran_before) < EVENTS - 100, len(ran_before)
    in_flight = leased_in(str(platform.data_dir / "async" / "queue.db"))
    assert in_flight, "nothing was running at the kill"

    platform.start()
    assert wait_for(lambda: not any(
        list_records(platform, "svc", "fn", status=status, limit="1")["invocations"]
        for status in ("Enqueued", "Retrying", "Running")), 180)

    records = {r["invocationId"]: r for r in all_records(platform, "svc", "fn")}
    expected = {event_id(i) for i in range(EVENTS)}
    # 1. Every event completed ...
    assert set(records) == expected
    assert {r["status"] for r in records.values()} == {"Succeeded"}
    # 2. ... and none was lost: the handler really ran for each of them.
    runs = runs_by_event(function_log(platform, "svc", "fn"))
    assert set(runs) == expected
    # 3. An event ran twice only if it was in flight when the process died. Start-up
    # recovery marked exactly those attempts as interrupted.
    twice = {event for event, count in runs.items() if count > 1}
    assert twice <= in_flight
    interrupted = {invocation_id for invocation_id, r in records.items()
                   if any(a["status"] == "Interrupted" for a in r["attempts"])}
    assert interrupted == in_flight
    for invocation_id in in_flight:
        attempts = records[invocation_id]["attempts"]
        assert attempts[0]["error"]["errorType"] == "Platform.Interrupted"
        assert attempts[-1]["status"] == "Succeeded"


def test_a_clean_restart_finishes_every_event(make_platform: Any) -> None:
    platform: PlatformProcess = make_platform()
    sdk = fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")
    deploy(sdk, "svc", "fn", {"index.py": APPENDER.replace("0.05", "0.3")})
    url = f"{platform.endpoint}{API}/services/svc/functions/fn/invocations"
    with httpx.Client(timeout=60) as client:
        for index in range(40):
            response = client.post(url, content=event_id(index).encode(), headers={
                "x-fc-invocation-type": "Async",
                "x-fc-stateful-async-invocation-id": event_id(index),
            })
            assert response.status_code == 202
    assert wait_for(lambda: "RAN ev" in function_log(platform, "svc", "fn"), 20)
    platform.restart()  # SIGTERM: running events get a moment, the rest wait for the start
    assert wait_for(lambda: {r["status"] for r in all_records(platform, "svc", "fn")}
                    == {"Succeeded"}, 60)
    assert set(runs_by_event(function_log(platform, "svc", "fn"))) == {
        event_id(i) for i in range(40)}
