"""Retries as FC defines them: function errors by count with backoff, system errors by age."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import fc2
import httpx

from tests.conftest import deploy, function_log, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import (
    FAST_RETRIES,
    accepted_id,
    invoke_async,
    put_config,
    wait_record,
)

ALWAYS_FAILS = """
def handler(event, context):
    raise KeyError("always")
"""

# Module state lives as long as the instance: the first two attempts fail, the third works.
FLAKY = """
import os
SEEN = []

def handler(event, context):
    SEEN.append(context.request_id)
    os.write(1, ("ATTEMPT %d %s\\n" % (len(SEEN), context.request_id)).encode())
    if len(SEEN) < 3:
        raise ConnectionError("try again")
    return b"third time lucky"
"""

SLOW = """
import time

def handler(event, context):
    time.sleep(5)
    return b"never"
"""

HOLDS = """
import os, time

def handler(event, context):
    os.write(1, b"RAN " + event + b"\\n")
    if event == b"hold":
        time.sleep(4)
    return b"ok:" + event
"""


def gaps_ms(record: dict[str, Any]) -> list[int]:
    """Time between the end of each attempt and the start of the next."""
    attempts = record["attempts"]
    return [b["startedTime"] - a["endTime"] for a, b in itertools.pairwise(attempts)]


def test_function_errors_are_retried_up_to_the_limit_with_backoff(
    make_platform: Any,
) -> None:
    platform: PlatformProcess = make_platform(*FAST_RETRIES)
    sdk = fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")
    deploy(sdk, "svc", "fails", {"index.py": ALWAYS_FAILS})
    assert put_config(platform, "svc", "fails", maxAsyncRetryAttempts=2).status_code == 200
    record = wait_record(platform, "svc", "fails",
                         accepted_id(invoke_async(platform, "svc", "fails", b"x")))
    assert record["status"] == "Failed"
    assert len(record["attempts"]) == 3  # the first run and two retries
    assert record["alreadyRetriedTimes"] == 2
    assert (record["functionErrors"], record["systemErrors"]) == (3, 0)
    assert all(a["error"]["errorType"] == "KeyError" for a in record["attempts"])
    assert len({a["requestId"] for a in record["attempts"]}) == 3
    assert record["error"]["errorType"] == "KeyError"
    # Backoff 0.2 s then 0.4 s, each within 20 % jitter (the lower bounds are what the
    # policy promises; the upper ones leave room for a busy machine).
    first, second = gaps_ms(record)
    assert 160 <= first <= 1500, first
    assert 320 <= second <= 2000, second

    deploy(sdk, "svc", "never", {"index.py": ALWAYS_FAILS})
    assert put_config(platform, "svc", "never", maxAsyncRetryAttempts=0).status_code == 200
    once = wait_record(platform, "svc", "never",
                       accepted_id(invoke_async(platform, "svc", "never", b"x")))
    assert (once["status"], len(once["attempts"])) == ("Failed", 1)


def test_a_flaky_function_succeeds_on_a_retry(make_platform: Any) -> None:
    platform: PlatformProcess = make_platform(*FAST_RETRIES)
    sdk = fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")
    deploy(sdk, "svc", "flaky", {"index.py": FLAKY})
    invocation_id = accepted_id(invoke_async(platform, "svc", "flaky", b"x"))
    record = wait_record(platform, "svc", "flaky", invocation_id)
    assert record["status"] == "Succeeded"
    assert record["returnPayload"] == "third time lucky"
    assert [a["status"] for a in record["attempts"]] == ["Failed", "Failed", "Succeeded"]
    assert record["attempts"][0]["requestId"] == invocation_id
    log = function_log(platform, "svc", "flaky")
    for number, attempt in enumerate(record["attempts"], start=1):
        assert f"ATTEMPT {number} {attempt['requestId']}" in log


def test_timeouts_are_function_errors(make_platform: Any) -> None:
    platform: PlatformProcess = make_platform(*FAST_RETRIES)
    sdk = fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")
    deploy(sdk, "svc", "slow", {"index.py": SLOW}, timeout=1)
    assert put_config(platform, "svc", "slow", maxAsyncRetryAttempts=1).status_code == 200
    record = wait_record(platform, "svc", "slow",
                         accepted_id(invoke_async(platform, "svc", "slow", b"x")))
    assert record["status"] == "Failed"
    assert [a["error"]["errorType"] for a in record["attempts"]] == ["Runtime.Timeout"] * 2
    assert record["functionErrors"] == 2


def test_throttling_is_a_system_error_retried_until_the_event_expires(
    make_platform: Any,
) -> None:
    # One instance, and a request waits at most 0.2 s for it: while a sync call holds
    # the instance, every async attempt is throttled by the function's instance cap.
    platform: PlatformProcess = make_platform("--max-instances", "1", "--instance-wait", "0.2",
                                              *FAST_RETRIES)
    sdk = fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")
    deploy(sdk, "svc", "fn", {"index.py": HOLDS})
    # No retries for function errors: system errors do not count against them.
    assert put_config(platform, "svc", "fn", maxAsyncRetryAttempts=0,
                      maxAsyncEventAgeInSeconds=2).status_code == 200
    assert httpx.post(f"{platform.endpoint}/2016-08-15/services/svc/functions/fn/invocations",
                      content=b"warm").status_code == 200
    holder = threading.Thread(target=lambda: httpx.post(
        f"{platform.endpoint}/2016-08-15/services/svc/functions/fn/invocations",
        content=b"hold", timeout=30))
    holder.start()
    try:
        assert wait_for(lambda: "RAN hold" in function_log(platform, "svc", "fn"), 10)
        record = wait_record(platform, "svc", "fn",
                             accepted_id(invoke_async(platform, "svc", "fn", b"late")),
                             timeout=15)
    finally:
        holder.join()
    assert record["status"] == "Expired"
    assert record["functionErrors"] == 0
    assert record["systemErrors"] >= 2
    assert len(record["attempts"]) >= 2
    assert {a["error"]["errorType"] for a in record["attempts"]} == {"Platform.Throttled"}
    assert record["endTime"] - record["startedTime"] <= 2000 + 2000
    # An event that expired is not run afterwards, even now that the instance is free.
    assert "RAN late" not in function_log(platform, "svc", "fn")
