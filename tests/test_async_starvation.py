"""A burst of async events never takes every instance: sync callers keep being served."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fc2
import httpx

from tests.conftest import API, deploy, function_log, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import accepted_id, invoke_async, list_records

# Async events sleep; sync calls answer at once. Each async run logs when it started and
# ended, so the test can count how many ran at the same time.
MIXED = """
import os, time

def handler(event, context):
    if event.startswith(b"async"):
        os.write(1, ("BEGIN %.6f\\n" % time.time()).encode())
        time.sleep(0.3)
        os.write(1, ("END %.6f\\n" % time.time()).encode())
        return b"slow"
    return b"fast"
"""


def most_at_once(log: str) -> int:
    events = [(float(t), 1) for t in re.findall(r"BEGIN ([\d.]+)", log)]
    events += [(float(t), -1) for t in re.findall(r"END ([\d.]+)", log)]
    running = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # ends before begins on ties
        running += step
        peak = max(peak, running)
    return peak


def test_sync_calls_are_served_during_an_async_burst(make_platform: Any) -> None:
    # Four instances: async may hold two, sync always has the other two.
    platform: PlatformProcess = make_platform("--max-instances", "4", "--instance-wait", "5")
    sdk = fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")
    deploy(sdk, "svc", "fn", {"index.py": MIXED})
    url = f"{platform.endpoint}{API}/services/svc/functions/fn/invocations"
    for index in range(30):  # about 4.5 s of work for two instances
        accepted_id(invoke_async(platform, "svc", "fn", f"async-{index}".encode()))
    assert wait_for(lambda: "BEGIN" in function_log(platform, "svc", "fn"), 20)

    def sync_call(_: int) -> tuple[int, bytes, float]:
        began = time.monotonic()
        response = httpx.post(url, content=b"sync", timeout=30)
        return response.status_code, response.content, time.monotonic() - began

    # Two sync callers at once, repeatedly, while the backlog drains.
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(sync_call, range(20)))
    assert list_records(platform, "svc", "fn", status="Enqueued")["invocations"], (
        "the burst drained before the sync calls ended: the test proved nothing")
    assert all(status == 200 and body == b"fast" for status, body, _ in results)
    # Each waited at most a cold start, never for async events to finish.
    assert max(elapsed for _, _, elapsed in results) < 2.0

    assert wait_for(lambda: function_log(platform, "svc", "fn").count("END") == 30, 30)
    assert most_at_once(function_log(platform, "svc", "fn")) == 2
