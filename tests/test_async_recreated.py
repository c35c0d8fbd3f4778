"""Queued events belong to the function they were sent to, not to whatever has its name later.

A function deleted while events of it wait in the queue (and one created again under the
same name) must not run them: they fail as ``FunctionNotFound`` / ``ServiceNotFound``
with a message that says so, and the new function's code never sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import API, deploy, function_log, unique, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import (
    FINISHED,
    accepted_id,
    all_records,
    invoke_async,
    put_config,
    wait_record,
)

# The old code is slow, so with one async instance the events wait in the queue: six of
# them take 12 s, and deleting the function takes a fraction of that.
OLD = """
import os, time

def handler(event, context):
    os.write(1, b"OLD RAN " + event + b"\\n")
    time.sleep(2)
    return b"old:" + event
"""
# The new code answers differently and leaves a trace of every event it sees.
NEW = """
import os

def handler(event, context):
    os.write(1, b"NEW RAN " + event + b"\\n")
    return b"new:" + event
"""
# Records every event it gets (the new function's onFailure destination).
SINK = """
import os

def handler(event, context):
    os.write(1, b"SINK GOT " + event[:200] + b"\\n")
    return b""
"""


@pytest.fixture(scope="module")
def two_instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """Two instances per function: async holds one, so events queue behind a slow one."""
    running = PlatformProcess(tmp_path_factory.mktemp("recreated") / "data",
                              "--max-instances", "2").start()
    yield running
    running.stop()


def fc_client(platform: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")


def queue_behind_a_running_event(platform: PlatformProcess, service: str, function: str,
                                 count: int) -> list[str]:
    ids = [accepted_id(invoke_async(platform, service, function, f"event-{n}".encode()))
           for n in range(count)]
    # The first one runs (on the old code); the others wait behind it.
    assert wait_for(lambda: "OLD RAN" in function_log(platform, service, function), 20)
    return ids


def assert_failed_as_gone(platform: PlatformProcess, service: str, function: str,
                          invocation_id: str, error_type: str) -> dict[str, Any]:
    record = wait_record(platform, service, function, invocation_id)
    assert record["status"] == "Failed", record
    assert record["error"]["errorType"] == error_type, record
    message = record["error"]["errorMessage"]
    assert "deleted" in message, message
    assert "created again" in message, message
    assert record["invocationErrorMessage"] == message
    assert record["returnPayload"] is None
    # Failed at once, without running: one attempt, which ran no code.
    assert [a["status"] for a in record["attempts"]] == ["Failed"], record
    assert record["attempts"][0]["version"] is None, record
    return record


def test_events_of_a_deleted_function_never_run_on_its_namesake(
    two_instances: PlatformProcess,
) -> None:
    platform = two_instances
    sdk = fc_client(platform)
    service, function = unique("svc"), "fn"
    deploy(sdk, service, function, {"index.py": OLD})
    deploy(sdk, service, "sink", {"index.py": SINK})
    ids = queue_behind_a_running_event(platform, service, function, 6)

    sdk.delete_function(service, function)
    deploy(sdk, service, function, {"index.py": NEW})
    # The new function's own failure destination must not hear of the old function's events.
    sink_arn = f"acs:fc:local:000000000000:services/{service}/functions/sink"
    assert put_config(platform, service, function, maxAsyncRetryAttempts=0,
                      destinationConfig={"onFailure": {"destination": sink_arn}}
                      ).status_code == 200

    records = [wait_record(platform, service, function, i) for i in ids]
    ran_old = [r for r in records if r["status"] == "Succeeded"]
    # Events already running (or admitted) when the function was deleted may end on the old
    # code; every one that ended so carries its result.
    assert all(r["returnPayload"] == "old:" + r["invocationPayload"] for r in ran_old), ran_old
    gone = [r for r in records if r["status"] != "Succeeded"]
    assert gone, [r["status"] for r in records]
    for record in gone:
        assert_failed_as_gone(platform, service, function, record["invocationId"],
                              "FunctionNotFound")
    assert "NEW RAN" not in function_log(platform, service, function)
    assert "SINK GOT" not in function_log(platform, service, "sink")

    # The new function works, and its events run on its code.
    fresh = accepted_id(invoke_async(platform, service, function, b"fresh"))
    assert wait_record(platform, service, function, fresh)["returnPayload"] == "new:fresh"
    assert "NEW RAN fresh" in function_log(platform, service, function)
    # Listing by the name shows both functions' records; the old ones say why they failed.
    listed = {r["invocationId"]: r["status"] for r in all_records(platform, service, function)}
    assert set(listed) == {*ids, fresh}
    assert all(status in FINISHED for status in listed.values())


def test_events_of_a_deleted_service_never_run_on_its_namesake(
    two_instances: PlatformProcess,
) -> None:
    platform = two_instances
    sdk = fc_client(platform)
    service, function = unique("svc"), "fn"
    deploy(sdk, service, function, {"index.py": OLD})
    ids = queue_behind_a_running_event(platform, service, function, 6)

    sdk.delete_function(service, function)
    sdk.delete_service(service)
    deploy(sdk, service, function, {"index.py": NEW})

    records = [wait_record(platform, service, function, i) for i in ids]
    gone = [r for r in records if r["status"] != "Succeeded"]
    assert gone, [r["status"] for r in records]
    for record in gone:
        failed = assert_failed_as_gone(platform, service, function, record["invocationId"],
                                       "ServiceNotFound")
        assert f"service '{service}'" in failed["error"]["errorMessage"]
    assert "NEW RAN" not in function_log(platform, service, function)


def test_events_of_a_deleted_function_fail_clearly(two_instances: PlatformProcess) -> None:
    platform = two_instances
    sdk = fc_client(platform)
    service, function = unique("svc"), "fn"
    deploy(sdk, service, function, {"index.py": OLD})
    ids = queue_behind_a_running_event(platform, service, function, 6)
    sdk.delete_function(service, function)

    def records_readable() -> bool:
        response = httpx.get(f"{platform.endpoint}{API}/services/{service}/functions/"
                             f"{function}/stateful-async-invocations/{ids[-1]}", timeout=30)
        return response.status_code == 200 and response.json()["status"] in FINISHED

    # Records outlive their function: they are still read by name.
    assert wait_for(records_readable, 30)
    record = wait_record(platform, service, function, ids[-1])
    assert record["status"] == "Failed"
    assert record["error"]["errorType"] == "FunctionNotFound"
    assert "deleted" in record["error"]["errorMessage"]
