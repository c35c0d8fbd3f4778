"""``fcompute invoke --async`` and ``fcompute async ls|get|stop|replay`` as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import fc2
import pytest

from tests.conftest import deploy, function_log, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import FAST_RETRIES, put_config, wait_record

CODE = """
import os, time

def handler(event, context):
    if event == b"fail":
        raise ValueError("failed on purpose")
    if event == b"sleep":
        os.write(1, b"SLEEPING\\n")
        time.sleep(60)
    return b"ok:" + event
"""


def fcompute(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPUTE_")}
    environ["FCOMPUTE_ENDPOINT"] = endpoint
    return subprocess.run([sys.executable, "-m", "fcompute.cli.main", *args], env=environ,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def platform(make_platform: Any) -> PlatformProcess:
    # Two instances: async holds at most one, so a sleeping event keeps the next queued.
    running: PlatformProcess = make_platform("--max-instances", "2", *FAST_RETRIES)
    sdk = fc2.Client(endpoint=running.endpoint, accessKeyID="t", accessKeySecret="t")
    deploy(sdk, "svc", "fn", {"index.py": CODE}, timeout=120)
    assert put_config(running, "svc", "fn", maxAsyncRetryAttempts=0).status_code == 200
    return running


def test_invoke_async_then_get_and_ls(platform: PlatformProcess) -> None:
    invoked = fcompute("invoke", "svc/fn", "--async", "--event", "hello",
                       endpoint=platform.endpoint)
    assert invoked.returncode == 0, invoked.stderr
    request_id = invoked.stdout.strip()
    wait_record(platform, "svc", "fn", request_id)

    shown = fcompute("async", "get", "svc/fn", request_id, endpoint=platform.endpoint)
    assert shown.returncode == 0, shown.stderr
    assert "status:      Succeeded" in shown.stdout
    assert "result:      ok:hello" in shown.stdout
    assert request_id in shown.stdout

    raw = fcompute("async", "get", "svc/fn", request_id, "--json",
                   endpoint=platform.endpoint)
    assert json.loads(raw.stdout)["invocationId"] == request_id

    failed = fcompute("invoke", "svc/fn", "--async", "--event", "fail",
                      endpoint=platform.endpoint).stdout.strip()
    wait_record(platform, "svc", "fn", failed)
    listed = fcompute("async", "ls", "svc/fn", endpoint=platform.endpoint)
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split() == ["INVOCATION", "ID", "STATUS", "ATTEMPTS", "ACCEPTED", "ENDED",
                               "ERROR"]
    assert rows[1].startswith(failed)  # newest first
    assert "ValueError: failed on purpose" in rows[1]
    only_failed = fcompute("async", "ls", "svc/fn", "--status", "failed", "--json",
                           endpoint=platform.endpoint)
    ids = [r["invocationId"] for r in json.loads(only_failed.stdout)["invocations"]]
    assert ids == [failed]
    since = fcompute("async", "ls", "svc/fn", "--since", "2999-01-01T00:00:00Z",
                     endpoint=platform.endpoint)
    assert since.stdout.splitlines()[1:] == []
    paged = fcompute("async", "ls", "svc/fn", "--limit", "1", endpoint=platform.endpoint)
    assert "more: --next-token" in paged.stdout

    missing = fcompute("async", "get", "svc/fn", "nope", endpoint=platform.endpoint)
    assert missing.returncode == 1
    assert "InvocationNotFound" in missing.stderr


def test_stop_and_replay(platform: PlatformProcess) -> None:
    sleeping = fcompute("invoke", "svc/fn", "--async", "--event", "sleep",
                        endpoint=platform.endpoint).stdout.strip()
    assert wait_for(lambda: "SLEEPING" in function_log(platform, "svc", "fn"), 20)
    stopped = fcompute("async", "stop", "svc/fn", sleeping, endpoint=platform.endpoint)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"{sleeping}: Stopped"
    again = fcompute("async", "stop", "svc/fn", sleeping, endpoint=platform.endpoint)
    assert again.returncode == 1
    assert "InvocationNotRunning" in again.stderr

    failed = fcompute("invoke", "svc/fn", "--async", "--event", "fail",
                      endpoint=platform.endpoint).stdout.strip()
    assert wait_record(platform, "svc", "fn", failed)["status"] == "Failed"
    replayed = fcompute("async", "replay", "svc/fn", failed, "--original",
                        endpoint=platform.endpoint)
    assert replayed.returncode == 0, replayed.stderr
    replay_id = replayed.stdout.strip()
    record = wait_record(platform, "svc", "fn", replay_id)
    assert record["replayOf"] == failed
    assert record["invocationPayload"] == "fail"
    assert record["status"] == "Failed"
