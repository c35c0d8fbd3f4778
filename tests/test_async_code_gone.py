"""A queued async invocation pinned to code that vanished from the code store fails at
once, as Platform.CodeNotFound, instead of retrying until the event expires.

The event is queued through public means only: the platform runs one async job at a
time (``--async-max-in-flight 1``), a slow invocation of another function holds that
slot, and the pinned event is accepted while its package still exists. The package is
then removed from the disk (a lost or hand-cleaned code store) before the event's turn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import deploy, unique, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import (
    FAST_RETRIES,
    accepted_id,
    get_record,
    invoke_async,
    put_config,
    replay,
    wait_record,
)
from tests.versions_helpers import (
    invoke,
    publish,
    remove_package,
    sdk_client,
    set_code,
    stored_packages_holding,
)

# Long enough that a retry loop until expiry could not pass for a prompt failure.
EVENT_AGE_S = 600
HOLD_S = 2.0

FAILS = """
def handler(event, context):
    raise RuntimeError("code one fails")
"""
WORKS = """
def handler(event, context):
    return b"code two got " + event
"""
HOLDS = """
import time

def handler(event, context):
    time.sleep(float(event))
    return b"held"
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(tmp_path_factory.mktemp("code-gone") / "data",
                              "--async-max-in-flight", "1", *FAST_RETRIES).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sdk(platform: PlatformProcess) -> fc2.Client:
    return sdk_client(platform)


def hold_the_dispatcher(platform: PlatformProcess, sdk: fc2.Client) -> str:
    """Starts an async invocation that keeps the only async slot busy for HOLD_S; returns
    its id once it runs."""
    service = unique("holder")
    deploy(sdk, service, "hold", {"index.py": HOLDS})
    holder = accepted_id(invoke_async(platform, service, "hold", str(HOLD_S).encode()))
    wait_record(platform, service, "hold", holder, statuses=("Running",), timeout=20)
    return holder


def assert_failed_as_code_gone(record: dict[str, Any]) -> None:
    assert record["status"] == "Failed", record
    assert record["error"]["errorType"] == "Platform.CodeNotFound", record
    assert "code" in record["error"]["errorMessage"].lower(), record
    assert [a["status"] for a in record["attempts"]] == ["Failed"], record
    # Failed as soon as its turn came: no backoff, nothing near the event's age limit.
    assert record["endTime"] - record["startedTime"] < 10_000 + HOLD_S * 1000, record


def test_a_queued_pinned_replay_whose_package_vanished_fails_as_code_gone(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": FAILS})
    assert put_config(platform, service, "fn", maxAsyncRetryAttempts=3,
                      maxAsyncEventAgeInSeconds=EVENT_AGE_S).status_code == 200
    original = wait_record(platform, service, "fn", accepted_id(
        invoke_async(platform, service, "fn", b"payload", "orig")), timeout=30)
    assert original["status"] == "Failed"
    set_code(sdk, service, "fn", {"index.py": WORKS})
    [lost] = stored_packages_holding(platform, b"code one fails")

    hold_the_dispatcher(platform, sdk)
    pinned = replay(platform, service, "fn", "orig", target="original")
    assert pinned.status_code == 202, pinned.text  # the package is still there
    pinned_id = pinned.json()["invocationId"]
    assert get_record(platform, service, "fn", pinned_id)["status"] == "Enqueued"
    remove_package(platform, lost)

    started = time.monotonic()
    record = wait_record(platform, service, "fn", pinned_id, timeout=HOLD_S + 15)
    assert time.monotonic() - started < HOLD_S + 10
    assert_failed_as_code_gone(record)
    # No retries scheduled afterwards either.
    time.sleep(1)
    assert get_record(platform, service, "fn", pinned_id)["attempts"] == record["attempts"]
    # The function itself is fine: its current code runs.
    assert invoke(platform, service, "fn", event=b"now").content == b"code two got now"


def test_a_queued_event_of_a_version_whose_package_vanished_fails_as_code_gone(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": FAILS.replace("one", "first")})
    assert publish(sdk, service) == "1"
    set_code(sdk, service, "fn", {"index.py": WORKS})
    assert httpx.put(f"{platform.endpoint}/2016-08-15/services/{service}.1/functions/fn"
                     "/async-invoke-config", json={"maxAsyncRetryAttempts": 3,
                                                   "maxAsyncEventAgeInSeconds": EVENT_AGE_S},
                     timeout=30).status_code == 200
    [lost] = stored_packages_holding(platform, b"code first fails")

    hold_the_dispatcher(platform, sdk)
    queued = httpx.post(f"{platform.endpoint}/2016-08-15/services/{service}.1/functions/fn"
                        "/invocations", content=b"x",
                        headers={"x-fc-invocation-type": "Async"}, timeout=30)
    queued_id = accepted_id(queued)
    assert get_record(platform, service, "fn", queued_id)["status"] == "Enqueued"
    remove_package(platform, lost)

    record = wait_record(platform, service, "fn", queued_id, timeout=HOLD_S + 15)
    assert_failed_as_code_gone(record)
    assert record["qualifier"] == "1"
    assert wait_for(lambda: get_record(platform, service, "fn", queued_id)["attempts"]
                    == record["attempts"], 1)


def test_a_queued_pinned_replay_of_a_version_run_whose_package_vanished(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": FAILS.replace("one", "of version one")})
    assert publish(sdk, service) == "1"
    set_code(sdk, service, "fn", {"index.py": WORKS})
    sdk.create_alias(service, "prod", "1")
    config = httpx.put(f"{platform.endpoint}/2016-08-15/services/{service}.prod/functions/fn"
                       "/async-invoke-config", json={"maxAsyncRetryAttempts": 0,
                                                     "maxAsyncEventAgeInSeconds": EVENT_AGE_S},
                       timeout=30)
    assert config.status_code == 200, config.text
    first = httpx.post(f"{platform.endpoint}/2016-08-15/services/{service}.prod/functions/fn"
                       "/invocations", content=b"x", timeout=30,
                       headers={"x-fc-invocation-type": "Async",
                                "x-fc-stateful-async-invocation-id": "on-version"})
    original = wait_record(platform, service, "fn", accepted_id(first))
    assert (original["status"], original["versionId"]) == ("Failed", "1")
    [lost] = stored_packages_holding(platform, b"code of version one fails")

    hold_the_dispatcher(platform, sdk)
    pinned = replay(platform, service, "fn", "on-version", target="original")
    assert pinned.status_code == 202, pinned.text
    remove_package(platform, lost)
    record = wait_record(platform, service, "fn", pinned.json()["invocationId"],
                         timeout=HOLD_S + 15)
    assert_failed_as_code_gone(record)
