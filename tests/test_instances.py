"""Instances: warm reuse, keep-alive, fan-out, the instance cap, updates and crashes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import (
    API,
    assert_fc_error,
    deploy,
    function_log,
    processes_with,
    unique,
    wait_for,
)
from tests.platform_process import PlatformProcess

MakePlatform = Callable[..., PlatformProcess]

STATEFUL = """
import json, os, random, subprocess, time, uuid

COUNT = 0
INSTANCE = uuid.uuid4().hex
SCRATCH = "/tmp/fcompute-test-" + os.environ["MARK"]
# A child that lives as long as the instance; the host finds it by its unique argument.
WITNESS = f"900.{random.randrange(10**8, 10**9)}"
subprocess.Popen(["sleep", WITNESS])

def handler(event, context):
    global COUNT
    COUNT += 1
    seen = os.path.exists(SCRATCH)
    with open(SCRATCH, "a") as handle:
        handle.write("x")
    request = json.loads(event or b"{}")
    if request.get("started"):
        print("started", request["started"], INSTANCE)
    began = time.time()
    if request.get("sleep"):
        time.sleep(request["sleep"])
    return json.dumps({"count": COUNT, "tmp_seen": seen, "instance": INSTANCE,
                       "witness": WITNESS, "version": os.environ.get("VERSION", ""),
                       "began": began, "ended": time.time()})
"""


def client_for(platform: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=platform.endpoint, accessKeyID="k", accessKeySecret="s")


def deploy_stateful(client: fc2.Client, service: str, function: str = "fn",
                    **options: Any) -> None:
    env = {"MARK": unique("mark"), **options.pop("environmentVariables", {})}
    deploy(client, service, function, {"index.py": STATEFUL}, environmentVariables=env,
           **options)


def invoke(platform: PlatformProcess, service: str, function: str = "fn",
           **request: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{platform.endpoint}{API}/services/{service}/functions/{function}/invocations",
        content=json.dumps(request).encode(), timeout=60,
    )
    assert response.status_code == 200, response.text
    assert "x-fc-error-type" not in response.headers, response.text
    result: dict[str, Any] = response.json()
    return result


def started_in_log(platform: PlatformProcess, service: str, marker: str,
                   function: str = "fn") -> bool:
    return f"started {marker} " in function_log(platform, service, function)


def test_warm_instance_keeps_globals_and_tmp(shared_platform: PlatformProcess,
                                             shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy_stateful(shared_client, service)
    results = [invoke(shared_platform, service) for _ in range(3)]
    assert [r["count"] for r in results] == [1, 2, 3]
    assert [r["tmp_seen"] for r in results] == [False, True, True]
    assert len({r["instance"] for r in results}) == 1
    assert processes_with(results[0]["witness"])
    # Another function has its own instance and its own state.
    deploy_stateful(shared_client, service, "other")
    other = invoke(shared_platform, service, "other")
    assert other["count"] == 1
    assert other["tmp_seen"] is False
    assert other["instance"] != results[0]["instance"]


def test_keep_alive_expiry_stops_idle_instances(make_platform: MakePlatform) -> None:
    platform = make_platform("--keep-alive", "1")
    client = client_for(platform)
    service = unique("svc")
    deploy_stateful(client, service)
    first = invoke(platform, service)
    assert invoke(platform, service)["count"] == 2  # still warm right away
    assert processes_with(first["witness"])
    assert wait_for(lambda: not processes_with(first["witness"]), 4), (
        "the idle instance was not stopped")
    later = invoke(platform, service)
    assert later["count"] == 1
    assert later["instance"] != first["instance"]


@pytest.mark.slow
def test_parallel_invocations_fan_out_to_instances(shared_platform: PlatformProcess,
                                                   shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy_stateful(shared_client, service)
    parallel = 4
    handler_seconds = 1.0

    def batch() -> tuple[float, list[dict[str, Any]]]:
        started = time.monotonic()
        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(lambda _: invoke(shared_platform, service,
                                                     sleep=handler_seconds), range(parallel)))
        return time.monotonic() - started, results

    for _ in range(2):  # cold instances first, then the same instances warm
        elapsed, results = batch()
        assert len({r["instance"] for r in results}) == parallel
        # All handlers were running at one same moment...
        assert max(r["began"] for r in results) < min(r["ended"] for r in results)
        # ...so the batch took about one handler's time, not four.
        assert elapsed < handler_seconds * 2.5, f"{parallel} invocations took {elapsed:.2f} s"


def test_instance_cap_answers_429(make_platform: MakePlatform) -> None:
    platform = make_platform("--max-instances", "2", "--instance-wait", "0.5")
    client = client_for(platform)
    service = unique("svc")
    deploy_stateful(client, service)
    markers = [unique("busy") for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        busy = [pool.submit(invoke, platform, service, sleep=2, started=marker)
                for marker in markers]
        assert wait_for(lambda: all(started_in_log(platform, service, m) for m in markers), 10)
        started = time.monotonic()
        response = httpx.post(
            f"{platform.endpoint}{API}/services/{service}/functions/fn/invocations",
            content=b"{}", timeout=30,
        )
        waited = time.monotonic() - started
        assert_fc_error(response, 429, "ResourceExhausted")
        assert 0.4 <= waited < 2.0
        with pytest.raises(fc2.FcError) as info:
            client.invoke_function(service, "fn", payload=b"{}")
        assert info.value.status_code == 429
        assert info.value.err_code == "ResourceExhausted"
        results = [future.result() for future in busy]
    assert len({r["instance"] for r in results}) == 2
    # Capacity is back once they finish.
    assert invoke(platform, service)["count"] >= 2


def test_waiting_request_gets_the_next_free_instance(make_platform: MakePlatform) -> None:
    platform = make_platform("--max-instances", "1", "--instance-wait", "5")
    client = client_for(platform)
    service = unique("svc")
    deploy_stateful(client, service)
    marker = unique("busy")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(invoke, platform, service, sleep=1, started=marker)
        assert wait_for(lambda: started_in_log(platform, service, marker), 10)
        second = invoke(platform, service)
        assert first.result()["instance"] == second["instance"]
        assert second["count"] == 2


def test_code_update_during_an_invocation(shared_platform: PlatformProcess,
                                          shared_client: fc2.Client, tmp_path: Path) -> None:
    service = unique("svc")
    deploy_stateful(shared_client, service, environmentVariables={"VERSION": "old"})
    marker = unique("busy")
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(invoke, shared_platform, service, sleep=3, started=marker)
        assert wait_for(lambda: started_in_log(shared_platform, service, marker), 10)
        code = tmp_path / "new-code"
        code.mkdir()
        (code / "index.py").write_text(
            "import os\ndef handler(event, context):\n"
            "    return 'new code ' + os.environ.get('VERSION', '')\n"
        )
        shared_client.update_function(service, "fn", codeDir=str(code),
                                      environmentVariables={"VERSION": "new"})
        fresh = shared_client.invoke_function(service, "fn").data.decode()
        assert not in_flight.done()  # the new request did not wait for the old one
        old = in_flight.result()
    assert fresh == "new code new"
    assert old["version"] == "old"
    assert old["count"] == 1
    # The old instance is retired once its request is done.
    assert wait_for(lambda: not processes_with(old["witness"]), 5)


def test_update_and_delete_stop_idle_instances(shared_platform: PlatformProcess,
                                               shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy_stateful(shared_client, service)
    first = invoke(shared_platform, service)
    assert processes_with(first["witness"])
    shared_client.update_function(service, "fn", description="changed")
    assert wait_for(lambda: not processes_with(first["witness"]), 5)
    new = invoke(shared_platform, service)
    assert new["count"] == 1
    assert new["instance"] != first["instance"]
    shared_client.delete_function(service, "fn")
    assert wait_for(lambda: not processes_with(new["witness"]), 5)


def test_service_update_starts_new_instances(shared_platform: PlatformProcess,
                                             shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy_stateful(shared_client, service)
    first = invoke(shared_platform, service)
    shared_client.update_service(service, description="new settings")
    second = invoke(shared_platform, service)
    assert second["count"] == 1
    assert second["instance"] != first["instance"]
    assert wait_for(lambda: not processes_with(first["witness"]), 5)


CRASHY = """
import os, time

def handler(event, context):
    if event == b"crash":
        time.sleep(0.05)
        os._exit(1)
    return "alive"
"""


def test_crashing_function_never_takes_the_platform_down(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "crashy", {"index.py": CRASHY})
    deploy(shared_client, service, "steady", {"index.py": CRASHY})

    def call(args: tuple[str, bytes]) -> httpx.Response:
        function, event = args
        return httpx.post(f"{shared_platform.endpoint}{API}/services/{service}/functions/"
                          f"{function}/invocations", content=event, timeout=30)

    work = [("crashy", b"crash"), ("steady", b"x")] * 6
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(call, work))
    for (function, _), response in zip(work, responses, strict=True):
        assert response.status_code == 200
        if function == "crashy":
            assert response.json()["errorType"] == "Runtime.ExitError"
        else:
            assert response.content == b"alive"
    assert shared_platform.proc is not None
    assert shared_platform.proc.poll() is None
    assert call(("crashy", b"x")).content == b"alive"
    assert "services" in shared_client.list_services(limit=1).data
