"""Failures of user code: each has a stable errorType, and none hurts the platform."""

from __future__ import annotations

import json
import time
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import API, deploy, function_log, unique
from tests.platform_process import PlatformProcess

FAILING_HANDLER_SOURCES: list[tuple[str, dict[str, str], str, str, str]] = [
    ("missing module", {"index.py": "def handler(e, c):\n    return 'x'\n"},
     "nosuch.handler", "Runtime.ImportModuleError", "nosuch"),
    ("missing attribute", {"index.py": "def other(e, c):\n    return 'x'\n"},
     "index.handler", "Runtime.HandlerNotFound", "handler"),
    ("attribute not callable", {"index.py": "handler = 42\n"},
     "index.handler", "Runtime.HandlerNotFound", "handler"),
    ("syntax error", {"index.py": "def handler(event, context:\n    return 1\n"},
     "index.handler", "Runtime.UserCodeSyntaxError", "index"),
    ("zip without the handler file", {"other.py": "def handler(e, c):\n    return 'x'\n"},
     "index.handler", "Runtime.ImportModuleError", "index"),
    ("exception at import time",
     {"index.py": "raise RuntimeError('config missing at import')\n"
                  "def handler(e, c):\n    return 'x'\n"},
     "index.handler", "Runtime.ImportModuleError", "config missing at import"),
    ("import of a missing dependency",
     {"index.py": "import requests_that_do_not_exist\ndef handler(e, c):\n    return 'x'\n"},
     "index.handler", "Runtime.ImportModuleError", "requests_that_do_not_exist"),
]


def invoke_raw(platform: PlatformProcess, service: str, function: str, event: bytes = b"",
               timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{platform.endpoint}{API}/services/{service}/functions/{function}"
                      "/invocations", content=event, timeout=timeout)


def function_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert response.headers["x-fc-request-id"]
    error: dict[str, Any] = response.json()
    assert set(error) == {"errorMessage", "errorType", "stackTrace"}
    assert isinstance(error["errorMessage"], str)
    assert isinstance(error["stackTrace"], list)
    return error


@pytest.mark.parametrize(("case", "files", "handler", "error_type", "mentions"),
                         FAILING_HANDLER_SOURCES, ids=[c[0] for c in FAILING_HANDLER_SOURCES])
def test_load_failures_have_stable_error_types(
    shared_platform: PlatformProcess, shared_client: fc2.Client, case: str,
    files: dict[str, str], handler: str, error_type: str, mentions: str,
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", files, handler=handler)
    for _ in range(2):  # the failure repeats: a broken instance is not kept
        error = function_error(invoke_raw(shared_platform, service, "fn"))
        assert error["errorType"] == error_type, error
        assert mentions in error["errorMessage"], error
    # Fixing the code fixes the function.
    shared_client.delete_function(service, "fn")
    deploy(shared_client, service, "fn", {"index.py": "def handler(e, c):\n    return 'fixed'\n"})
    assert invoke_raw(shared_platform, service, "fn").content == b"fixed"


def test_syntax_error_names_file_and_line(shared_platform: PlatformProcess,
                                          shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {
        "index.py": "import helper\ndef handler(e, c):\n    return helper.x\n",
        "helper.py": "x = 1\ny = = 2\n",
    })
    error = function_error(invoke_raw(shared_platform, service, "fn"))
    assert error["errorType"] == "Runtime.UserCodeSyntaxError"
    assert "helper.py" in error["errorMessage"]
    assert "line 2" in error["errorMessage"]


@pytest.mark.parametrize("value", ["object()", "{'a': object()}", "{1, 2}", "float('nan') and 1j"])
def test_non_serialisable_result(shared_platform: PlatformProcess, shared_client: fc2.Client,
                                 value: str) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {
        "index.py": f"def handler(e, c):\n    if e == b'ok':\n        return 'fine'\n"
                    f"    return {value}\n",
    })
    error = function_error(invoke_raw(shared_platform, service, "fn"))
    assert error["errorType"] == "Runtime.ResultSerializationError"
    # The instance is still usable.
    ok = invoke_raw(shared_platform, service, "fn", b"ok")
    assert ok.content == b"fine"
    assert ok.headers["x-fc-cold-start"] == "false"


CRASHING = """
import ctypes, os, uuid

INSTANCE = uuid.uuid4().hex

def handler(event, context):
    if event == b"exit":
        os._exit(3)
    if event == b"segfault":
        ctypes.string_at(0)
    if event == b"sysexit":
        raise SystemExit(4)
    return INSTANCE
"""


@pytest.mark.parametrize("how", ["exit", "segfault"])
def test_process_death_is_an_exit_error_and_the_platform_keeps_serving(
    shared_platform: PlatformProcess, shared_client: fc2.Client, how: str,
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": CRASHING})
    instance = invoke_raw(shared_platform, service, "fn").content
    started = time.monotonic()
    error = function_error(invoke_raw(shared_platform, service, "fn", how.encode()))
    assert time.monotonic() - started < 5
    assert error["errorType"] == "Runtime.ExitError"
    if how == "exit":
        assert "3" in error["errorMessage"]
    assert shared_platform.proc is not None
    assert shared_platform.proc.poll() is None
    after = invoke_raw(shared_platform, service, "fn")
    assert after.status_code == 200
    assert len(after.content) == 32
    assert after.content != instance
    assert "services" in shared_client.list_services(limit=1).data


def test_system_exit_in_handler_is_reported(shared_platform: PlatformProcess,
                                            shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": CRASHING})
    error = function_error(invoke_raw(shared_platform, service, "fn", b"sysexit"))
    assert error["errorType"] in ("SystemExit", "Runtime.ExitError")
    assert len(invoke_raw(shared_platform, service, "fn").content) == 32


INITIALIZED = """
import uuid

INIT_CALLS = 0
INIT_REQUEST_ID = None
INSTANCE = uuid.uuid4().hex

def init(context):
    global INIT_CALLS, INIT_REQUEST_ID
    INIT_CALLS += 1
    INIT_REQUEST_ID = context.request_id
    print("init-run", INSTANCE)

def handler(event, context):
    return f"{INIT_CALLS}:{INIT_REQUEST_ID}:{context.request_id}:{INSTANCE}"
"""


def test_initializer_runs_once_per_instance_before_the_first_invocation(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": INITIALIZED}, initializer="index.init")
    results = []
    for _ in range(4):
        response = invoke_raw(shared_platform, service, "fn")
        results.append((response.content.decode().split(":"), response.headers))
    calls = {r[0][0] for r in results}
    assert calls == {"1"}
    init_request_id = results[0][0][1]
    assert init_request_id not in ("", "None")
    assert results[0][0][2] == results[0][1]["x-fc-request-id"]
    assert len({r[0][3] for r in results}) == 1  # one instance served them all
    assert function_log(shared_platform, service, "fn").count("init-run") == 1
    # The initializer's output is framed as its own phase, before the first invocation.
    log = function_log(shared_platform, service, "fn")
    assert log.index(f"FC Initialize Start RequestId: {init_request_id}") < log.index(
        "init-run") < log.index(f"FC Initialize End RequestId: {init_request_id}")

    # A new instance (after an update) runs the initializer again, once.
    shared_client.update_function(service, "fn", description="restart")
    assert invoke_raw(shared_platform, service, "fn").content.decode().startswith("1:")
    invoke_raw(shared_platform, service, "fn")
    assert function_log(shared_platform, service, "fn").count("init-run") == 2


FAILING_INIT = """
import uuid

INSTANCE = uuid.uuid4().hex

def init(context):
    print("init-attempt", INSTANCE)
    raise ConnectionError("database unreachable")

def handler(event, context):
    return "should not run"
"""


def test_failing_initializer_is_reported_and_the_instance_discarded(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": FAILING_INIT}, initializer="index.init")
    for _ in range(2):
        error = function_error(invoke_raw(shared_platform, service, "fn"))
        assert error["errorType"] == "Runtime.InitializerError"
        assert "ConnectionError" in error["errorMessage"]
        assert "database unreachable" in error["errorMessage"]
    attempts = [line.split()[1] for line in function_log(shared_platform, service,
                                                         "fn").splitlines()
                if line.startswith("init-attempt ")]
    assert len(attempts) == 2
    assert attempts[0] != attempts[1]  # the failed instance was not reused


def test_missing_initializer_is_reported(shared_platform: PlatformProcess,
                                         shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": "def handler(e, c):\n    return 'x'\n"},
           initializer="index.nope")
    error = function_error(invoke_raw(shared_platform, service, "fn"))
    assert error["errorType"] in ("Runtime.HandlerNotFound", "Runtime.InitializerError")
    assert "nope" in error["errorMessage"]


def test_slow_initializer_times_out(shared_platform: PlatformProcess,
                                    shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {
        "index.py": "import time\ndef init(c):\n    time.sleep(30)\n"
                    "def handler(e, c):\n    return 'x'\n",
    }, initializer="index.init", initializationTimeout=1, timeout=60)
    started = time.monotonic()
    error = function_error(invoke_raw(shared_platform, service, "fn"))
    elapsed = time.monotonic() - started
    assert error["errorType"] == "Runtime.InitializerTimeout"
    assert 0.9 <= elapsed < 4.0
    assert "1" in error["errorMessage"]


def test_function_error_through_the_sdk(shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": "x = 1\n"})
    with pytest.raises(fc2.FcError) as info:
        shared_client.invoke_function(service, "fn")
    assert info.value.status_code == 200
    assert json.loads(info.value.message)["errorType"] == "Runtime.HandlerNotFound"
