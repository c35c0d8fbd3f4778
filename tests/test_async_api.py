"""Async invocation through the API: acceptance, limits, ids, config, records, stop, replay.

The helpers at the top are shared by the other ``test_async_*`` modules.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import API, assert_fc_error, deploy, function_log, raises_fc, unique, wait_for
from tests.platform_process import PlatformProcess

FINISHED = ("Succeeded", "Failed", "Expired", "Stopped")
# Retries within a test's patience: 0.2 s, 0.4 s, 0.8 s ... (jitter 20 %).
FAST_RETRIES = ("--async-backoff-base", "0.2")
MakePlatform = Callable[..., PlatformProcess]


def function_url(platform: PlatformProcess, service: str, function: str) -> str:
    return f"{platform.endpoint}{API}/services/{service}/functions/{function}"


def invoke_async(platform: PlatformProcess, service: str, function: str, event: bytes = b"",
                 invocation_id: str | None = None) -> httpx.Response:
    headers = {"x-fc-invocation-type": "Async"}
    if invocation_id:
        headers["x-fc-stateful-async-invocation-id"] = invocation_id
    return httpx.post(f"{function_url(platform, service, function)}/invocations",
                      content=event, headers=headers, timeout=30)


def accepted_id(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    return str(response.headers["x-fc-stateful-async-invocation-id"])


def get_record(platform: PlatformProcess, service: str, function: str,
               invocation_id: str) -> dict[str, Any]:
    response = httpx.get(f"{function_url(platform, service, function)}"
                         f"/stateful-async-invocations/{invocation_id}", timeout=30)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


def wait_record(platform: PlatformProcess, service: str, function: str, invocation_id: str,
                statuses: tuple[str, ...] = FINISHED, timeout: float = 30) -> dict[str, Any]:
    """The record once its status is one of ``statuses`` (fails the test otherwise)."""
    found: dict[str, Any] = {}

    def reached() -> bool:
        found.update(get_record(platform, service, function, invocation_id))
        return found["status"] in statuses

    assert wait_for(reached, timeout, interval=0.05), f"still {found.get('status')}: {found}"
    return found


def list_records(platform: PlatformProcess, service: str, function: str,
                 **params: str) -> dict[str, Any]:
    response = httpx.get(f"{function_url(platform, service, function)}"
                         "/stateful-async-invocations", params=params, timeout=30)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def all_records(platform: PlatformProcess, service: str, function: str,
                **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        page = list_records(platform, service, function, limit="100",
                            **({"nextToken": token} if token else {}), **params)
        found += page["invocations"]
        token = page.get("nextToken", "")
        if not token:
            return found


def put_config(platform: PlatformProcess, service: str, function: str,
               **config: Any) -> httpx.Response:
    return httpx.put(f"{platform.endpoint}{API}/services/{service}.LATEST/functions/{function}"
                     "/async-invoke-config", json=config, timeout=30)


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """One platform for the module, with short retry backoff."""
    running = PlatformProcess(tmp_path_factory.mktemp("async") / "data",
                              *FAST_RETRIES).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sdk(fast: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=fast.endpoint, accessKeyID="test", accessKeySecret="test")


WORKER = """
import os

def handler(event, context):
    if event.startswith(b"fail"):
        raise ValueError("asked to fail: " + event.decode())
    os.write(1, b"DONE " + event + b"\\n")
    return b"result:" + event
"""


def test_accepted_with_202_then_recorded(fast: PlatformProcess, sdk: fc2.Client) -> None:
    service = unique("svc")
    function = deploy(sdk, service, "fn", {"index.py": WORKER})
    response = invoke_async(fast, service, "fn", b"hello")
    assert response.status_code == 202
    assert response.content == b""
    request_id = response.headers["x-fc-request-id"]
    # Without an invocation id of the caller's, the request id names the invocation.
    assert accepted_id(response) == request_id
    record = wait_record(fast, service, "fn", request_id)
    assert record["status"] == "Succeeded"
    assert record["invocationPayload"] == "hello"
    assert record["returnPayload"] == "result:hello"
    assert record["alreadyRetriedTimes"] == 0
    [attempt] = record["attempts"]
    assert attempt["requestId"] == request_id
    assert attempt["status"] == "Succeeded"
    assert attempt["startedTime"] <= attempt["endTime"]
    assert record["version"]["codeChecksum"] == function["codeChecksum"]
    assert record["version"]["qualifier"] == "LATEST"
    assert record["startedTime"] <= attempt["startedTime"]
    assert "DONE hello" in function_log(fast, service, "fn")


def test_payload_limit_is_128_kb(fast: PlatformProcess, sdk: fc2.Client) -> None:
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": WORKER})
    accepted_id(invoke_async(fast, service, "fn", b"x" * (128 * 1024), "at-limit"))
    too_big = invoke_async(fast, service, "fn", b"x" * (128 * 1024 + 1), "over-limit")
    body = assert_fc_error(too_big, 400, "PayloadTooLarge")
    assert "131072" in body["ErrorMessage"]
    assert "128 KB" in body["ErrorMessage"]
    ids = {r["invocationId"] for r in all_records(fast, service, "fn")}
    assert ids == {"at-limit"}


def test_an_invocation_id_is_accepted_once(fast: PlatformProcess, sdk: fc2.Client) -> None:
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": WORKER})
    accepted_id(invoke_async(fast, service, "fn", b"once", "order-42"))
    again = invoke_async(fast, service, "fn", b"once", "order-42")
    assert_fc_error(again, 409, "InvocationAlreadyExists")
    record = wait_record(fast, service, "fn", "order-42")
    assert record["status"] == "Succeeded"
    assert len(record["attempts"]) == 1
    time.sleep(0.5)  # a second run, had there been one, would have finished by now
    assert function_log(fast, service, "fn").count("DONE once") == 1
    # Ids are scoped to their function.
    deploy(sdk, service, "other", {"index.py": WORKER})
    accepted_id(invoke_async(fast, service, "other", b"once", "order-42"))
    bad = invoke_async(fast, service, "fn", b"x", "no spaces allowed")
    assert_fc_error(bad, 400, "InvalidArgument")


def test_async_invoke_of_a_missing_function(fast: PlatformProcess) -> None:
    missing = invoke_async(fast, unique("nosvc"), "fn", b"x")
    assert_fc_error(missing, 404, "ServiceNotFound")


def test_async_invoke_config_crud(fast: PlatformProcess, sdk: fc2.Client) -> None:
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": WORKER})
    with raises_fc(404, "AsyncConfigNotFound"):
        sdk.get_function_async_invoke_config(service, "LATEST", "fn")
    target = f"acs:fc:local:000000000000:services/{service}/functions/sink"
    config = {"maxAsyncRetryAttempts": 1, "maxAsyncEventAgeInSeconds": 300,
              "destinationConfig": {"onSuccess": {"destination": target},
                                    "onFailure": {"destination": "https://example.com/hook"}}}
    put = sdk.put_function_async_invoke_config(service, "LATEST", "fn", config).data
    assert put["maxAsyncRetryAttempts"] == 1
    assert put["maxAsyncEventAgeInSeconds"] == 300
    assert put["destinationConfig"] == config["destinationConfig"]
    assert (put["service"], put["function"], put["qualifier"]) == (service, "fn", "LATEST")
    assert put["createdTime"]
    assert put["lastModifiedTime"]
    got = sdk.get_function_async_invoke_config(service, "LATEST", "fn").data
    assert got == put
    listed = sdk.list_function_async_invoke_configs(service, "fn").data["configs"]
    assert listed == [put]
    # PUT replaces the whole config: what is left out returns to its default.
    replaced = sdk.put_function_async_invoke_config(service, "LATEST", "fn", {}).data
    assert replaced["maxAsyncRetryAttempts"] == 3
    assert replaced["maxAsyncEventAgeInSeconds"] == 86400
    assert replaced["destinationConfig"] == {}
    assert replaced["createdTime"] == put["createdTime"]
    sdk.delete_function_async_invoke_config(service, "LATEST", "fn")
    with raises_fc(404, "AsyncConfigNotFound"):
        sdk.get_function_async_invoke_config(service, "LATEST", "fn")
    with raises_fc(404, "AsyncConfigNotFound"):
        sdk.delete_function_async_invoke_config(service, "LATEST", "fn")
    with raises_fc(404, "FunctionNotFound"):
        sdk.put_function_async_invoke_config(service, "LATEST", "nope", {})
    with raises_fc(404, "VersionNotFound"):
        sdk.put_function_async_invoke_config(service, "1", "fn", {})


@pytest.mark.parametrize("config", [
    {"maxAsyncRetryAttempts": 9},
    {"maxAsyncRetryAttempts": -1},
    {"maxAsyncRetryAttempts": True},
    {"maxAsyncRetryAttempts": "2"},
    {"maxAsyncEventAgeInSeconds": 0},
    {"maxAsyncEventAgeInSeconds": 604801},
    {"destinationConfig": {"onSuccess": {"destination": "acs:mns:local:1:/queues/q"}}},
    {"destinationConfig": {"onFailure": {"destination": "acs:fc:elsewhere:000000000000:"
                                                        "services/s/functions/f"}}},
    {"destinationConfig": {"onFailure": "http://example.com"}},
    {"destinationConfig": []},
])
def test_async_invoke_config_validation(fast: PlatformProcess, sdk: fc2.Client,
                                        config: dict[str, Any]) -> None:
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": WORKER})
    assert_fc_error(put_config(fast, service, "fn", **config), 400, "InvalidArgument")


def test_config_goes_with_its_function(fast: PlatformProcess, sdk: fc2.Client) -> None:
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": WORKER})
    assert put_config(fast, service, "fn", maxAsyncRetryAttempts=0).status_code == 200
    sdk.delete_function(service, "fn")
    deploy(sdk, service, "fn", {"index.py": WORKER})
    with raises_fc(404, "AsyncConfigNotFound"):
        sdk.get_function_async_invoke_config(service, "LATEST", "fn")


def test_list_by_status_time_and_pages(fast: PlatformProcess, sdk: fc2.Client) -> None:
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": WORKER})
    assert put_config(fast, service, "fn", maxAsyncRetryAttempts=0).status_code == 200
    before = int(time.time() * 1000)
    ids = [accepted_id(invoke_async(fast, service, "fn", event, f"e{index}"))
           for index, event in enumerate([b"a", b"fail-b", b"c", b"fail-d", b"e"])]
    for invocation_id in ids:
        wait_record(fast, service, "fn", invocation_id)
    after = int(time.time() * 1000) + 1

    failed = list_records(fast, service, "fn", status="Failed")["invocations"]
    assert sorted(r["invocationId"] for r in failed) == ["e1", "e3"]
    assert all(r["error"]["errorType"] == "ValueError" for r in failed)
    assert "invocationPayload" not in failed[0]  # payloads only when asked for
    with_payload = list_records(fast, service, "fn", status="failed", includePayload="true")
    assert {r["invocationPayload"] for r in with_payload["invocations"]} == {"fail-b", "fail-d"}

    first = list_records(fast, service, "fn", limit="2")
    assert [r["invocationId"] for r in first["invocations"]] == ["e4", "e3"]  # newest first
    second = list_records(fast, service, "fn", limit="2", nextToken=first["nextToken"])
    assert [r["invocationId"] for r in second["invocations"]] == ["e2", "e1"]
    oldest = list_records(fast, service, "fn", limit="1", sortOrderByTime="asc")
    assert [r["invocationId"] for r in oldest["invocations"]] == ["e0"]

    window = list_records(fast, service, "fn", startedTimeBegin=str(before),
                          startedTimeEnd=str(after))
    assert len(window["invocations"]) == 5
    assert list_records(fast, service, "fn", startedTimeBegin=str(after))["invocations"] == []
    assert list_records(fast, service, "fn", invocationIdPrefix="e3")["invocations"][0][
        "invocationId"] == "e3"

    bad = httpx.get(f"{function_url(fast, service, 'fn')}/stateful-async-invocations",
                    params={"status": "Sleeping"})
    assert_fc_error(bad, 400, "InvalidArgument")
    missing = httpx.get(f"{function_url(fast, service, 'fn')}/stateful-async-invocations/nope")
    assert_fc_error(missing, 404, "InvocationNotFound")


SLEEPER = """
import os, time

def handler(event, context):
    os.write(1, b"START " + event + b"\\n")
    time.sleep(float(event.split(b":")[1]))
    os.write(1, b"DONE " + event + b"\\n")
    return event
"""


def test_stop_queued_and_running(make_platform: Any, tmp_path: Path) -> None:
    # Two instances: async may hold one, so a second event waits and a third stays queued.
    platform: PlatformProcess = make_platform("--max-instances", "2")
    sdk = fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")
    deploy(sdk, "svc", "fn", {"index.py": SLEEPER}, timeout=60)
    for index in range(4):
        accepted_id(invoke_async(platform, "svc", "fn", f"s{index}:30".encode(), f"s{index}"))
    assert wait_for(lambda: "START s0:30" in function_log(platform, "svc", "fn"), 20)
    queued = list_records(platform, "svc", "fn", status="Enqueued")["invocations"]
    assert "s3" in {r["invocationId"] for r in queued}

    stopped = httpx.put(f"{function_url(platform, 'svc', 'fn')}/stateful-async-invocations/s3")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "Stopped"
    running = httpx.put(f"{function_url(platform, 'svc', 'fn')}/stateful-async-invocations/s0")
    assert running.json()["status"] == "Stopped"
    record = get_record(platform, "svc", "fn", "s0")
    assert record["attempts"][-1]["status"] == "Stopped"
    # The next waiting event gets the instance share at once: the stopped run let go of it.
    assert wait_for(lambda: "START s1:30" in function_log(platform, "svc", "fn"), 20)
    assert "DONE s0:30" not in function_log(platform, "svc", "fn")
    assert get_record(platform, "svc", "fn", "s3")["attempts"] == []

    again = httpx.put(f"{function_url(platform, 'svc', 'fn')}/stateful-async-invocations/s3")
    assert_fc_error(again, 409, "InvocationNotRunning")
    for invocation_id in ("s1", "s2"):
        httpx.put(f"{function_url(platform, 'svc', 'fn')}"
                  f"/stateful-async-invocations/{invocation_id}")
    assert get_record(platform, "svc", "fn", "s2")["status"] == "Stopped"


VERSION_ONE = """
def handler(event, context):
    raise RuntimeError("version one fails")
"""
VERSION_TWO = """
def handler(event, context):
    return b"version two got " + event
"""


def replay(platform: PlatformProcess, service: str, function: str, invocation_id: str,
           **body: Any) -> httpx.Response:
    return httpx.post(f"{function_url(platform, service, function)}"
                      f"/stateful-async-invocations/{invocation_id}/replay",
                      content=json.dumps(body), timeout=30)


def test_replay_on_original_or_latest_code(fast: PlatformProcess, sdk: fc2.Client,
                                           tmp_path: Path) -> None:
    service = unique("svc")
    one = deploy(sdk, service, "fn", {"index.py": VERSION_ONE})
    assert put_config(fast, service, "fn", maxAsyncRetryAttempts=0).status_code == 200
    original = wait_record(fast, service, "fn",
                           accepted_id(invoke_async(fast, service, "fn", b"payload", "orig")))
    assert original["status"] == "Failed"
    assert original["version"]["codeChecksum"] == one["codeChecksum"]

    code = tmp_path / "two"
    code.mkdir()
    (code / "index.py").write_text(VERSION_TWO)
    two = sdk.update_function(service, "fn", codeDir=str(code)).data
    assert two["codeChecksum"] != one["codeChecksum"]

    latest = replay(fast, service, "fn", "orig", target="latest")
    assert latest.status_code == 202, latest.text
    latest_id = latest.json()["invocationId"]
    assert latest.json()["replayOf"] == "orig"
    done = wait_record(fast, service, "fn", latest_id)
    assert done["status"] == "Succeeded"
    assert done["returnPayload"] == "version two got payload"
    assert done["version"]["codeChecksum"] == two["codeChecksum"]

    pinned = replay(fast, service, "fn", "orig", target="original")
    assert pinned.status_code == 202, pinned.text
    rerun = wait_record(fast, service, "fn", pinned.json()["invocationId"])
    assert rerun["status"] == "Failed"
    assert rerun["error"]["errorMessage"] == "version one fails"
    assert rerun["version"]["codeChecksum"] == one["codeChecksum"]
    assert rerun["invocationPayload"] == "payload"
    # The latest code is untouched by the pinned replay.
    assert sdk.invoke_function(service, "fn", payload=b"now").data == b"version two got now"

    linked = get_record(fast, service, "fn", "orig")
    assert sorted(linked["replayedBy"]) == sorted([latest_id, rerun["invocationId"]])
    assert linked["status"] == "Failed"  # the original record stays as it was

    assert_fc_error(replay(fast, service, "fn", latest_id), 409, "InvocationNotReplayable")
    assert_fc_error(replay(fast, service, "fn", "orig", target="yesterday"), 400,
                    "InvalidArgument")
    assert_fc_error(replay(fast, service, "fn", "missing"), 404, "InvocationNotFound")


def test_a_pinned_replay_of_code_no_longer_stored_is_409(make_platform: MakePlatform,
                                                          tmp_path: Path) -> None:
    platform = make_platform(*FAST_RETRIES)
    client = fc2.Client(endpoint=platform.endpoint, accessKeyID="k", accessKeySecret="s")
    service = unique("svc")
    deploy(client, service, "fn", {"index.py": VERSION_ONE})
    assert put_config(platform, service, "fn", maxAsyncRetryAttempts=0).status_code == 200
    wait_record(platform, service, "fn",
                accepted_id(invoke_async(platform, service, "fn", b"payload", "orig")))
    code = tmp_path / "two"
    code.mkdir()
    (code / "index.py").write_text(VERSION_TWO)
    client.update_function(service, "fn", codeDir=str(code))
    # The package of version one is lost (the platform itself keeps it for replays).
    zips = platform.data_dir / "code" / "zips"
    lost = [path for path in zips.glob("*.zip") if b"version one" in zipfile.ZipFile(
        path).read("index.py")]
    assert len(lost) == 1
    lost[0].unlink()
    assert_fc_error(replay(platform, service, "fn", "orig", target="original"), 409,
                    "CodeNotFound")
    # Replaying on the latest code still works.
    assert replay(platform, service, "fn", "orig", target="latest").status_code == 202
