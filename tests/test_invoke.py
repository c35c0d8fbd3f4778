"""Invocation: events in, results out, logs, errors, timeouts, async, context and environment."""

from __future__ import annotations

import base64
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import (
    API,
    deploy,
    function_log,
    processes_with,
    raises_fc,
    unique,
    wait_for,
)
from tests.platform_process import PlatformProcess


def invoke_raw(platform: PlatformProcess, service: str, function: str, event: bytes = b"",
               headers: dict[str, str] | None = None, timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{platform.endpoint}{API}/services/{service}/functions/{function}"
                      "/invocations", content=event, headers=headers or {}, timeout=timeout)


def decoded_tail(response: httpx.Response) -> bytes:
    return base64.b64decode(response.headers["x-fc-log-result"])


RESULTS = """
def handler(event, context):
    kind = event.split(b":", 1)[0]
    if kind == b"str":
        return "text \\u00e9"
    if kind == b"bytes":
        return b"\\x00\\xffraw"
    if kind == b"dict":
        return {"a": [1, 2], "event": event.decode()}
    if kind == b"list":
        return [1, "two", None]
    if kind == b"none":
        return None
    if kind == b"bytearray":
        return bytearray(b"ba")
    return event
"""


def test_event_is_the_body_and_the_return_value_is_the_response(
    shared_client: fc2.Client
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": RESULTS})
    invoke = shared_client.invoke_function
    assert invoke(service, "fn", payload=b"str").data == "text \u00e9".encode()
    assert invoke(service, "fn", payload=b"bytes").data == b"\x00\xffraw"
    assert json.loads(invoke(service, "fn", payload=b"dict:x").data) == {
        "a": [1, 2], "event": "dict:x"}
    assert json.loads(invoke(service, "fn", payload=b"list").data) == [1, "two", None]
    assert invoke(service, "fn", payload=b"none").data == b""
    assert invoke(service, "fn", payload=b"bytearray").data == b"ba"
    everything = bytes(range(256)) * 40
    assert invoke(service, "fn", payload=everything).data == everything
    assert invoke(service, "fn").data == b""


LOGGING = """
import logging, sys

def handler(event, context):
    print("printed line")
    sys.stderr.write("stderr line\\n")
    logging.getLogger().info("logged line")
    context.get_logger().warning("context logger line")
    if event == b"big":
        for i in range(400):
            print(f"filler {i:04d} " + "x" * 40)
        print("last line")
    if event == b"fail":
        raise KeyError("missing key")
    return "ok"
"""


def test_tail_log_has_framing_output_and_request_ids(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": LOGGING})
    response = invoke_raw(shared_platform, service, "fn", headers={"x-fc-log-type": "Tail"})
    assert response.status_code == 200
    assert response.content == b"ok"
    request_id = response.headers["x-fc-request-id"]
    lines = decoded_tail(response).decode().splitlines()
    assert lines[0] == f"FC Invoke Start RequestId: {request_id}"
    assert lines[-1] == f"FC Invoke End RequestId: {request_id}"
    assert "printed line" in lines
    assert "stderr line" in lines
    logged = [line for line in lines if "logged line" in line]
    assert len(logged) == 1
    assert request_id in logged[0]
    assert "INFO" in logged[0]
    context_logged = [line for line in lines if "context logger line" in line]
    assert len(context_logged) == 1
    assert request_id in context_logged[0]

    # A second call gets only its own lines; without Tail there is no log header.
    again = shared_client.invoke_function(service, "fn", headers={"x-fc-log-type": "Tail"})
    second = base64.b64decode(again.headers["x-fc-log-result"]).decode()
    assert request_id not in second
    assert again.headers["x-fc-request-id"] in second
    plain = invoke_raw(shared_platform, service, "fn")
    assert "x-fc-log-result" not in plain.headers


def test_tail_log_is_capped_at_4_kb(shared_platform: PlatformProcess,
                                    shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": LOGGING})
    response = invoke_raw(shared_platform, service, "fn", b"big",
                          headers={"x-fc-log-type": "Tail"})
    tail = decoded_tail(response)
    assert 3000 < len(tail) <= 4096
    text = tail.decode("utf-8", "replace")
    assert "last line" in text
    assert text.endswith(f"FC Invoke End RequestId: {response.headers['x-fc-request-id']}\n")
    assert "filler 0000" not in text


def test_handler_exception_is_an_unhandled_invocation_error(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": """
        class PaymentError(Exception):
            pass

        def helper(event):
            if event == b"custom":
                raise PaymentError("card declined")
            raise ValueError("bad value \\u00e9")

        def handler(event, context):
            return helper(event)
    """})
    response = invoke_raw(shared_platform, service, "fn", b"x",
                          headers={"x-fc-log-type": "Tail"})
    assert response.status_code == 200
    assert response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert response.headers["x-fc-request-id"]
    error = response.json()
    assert set(error) == {"errorMessage", "errorType", "stackTrace"}
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad value \u00e9"
    assert isinstance(error["stackTrace"], list)
    assert any("index.py" in frame and "helper" in frame for frame in error["stackTrace"])
    assert not any("fcompute/runtime" in frame for frame in error["stackTrace"])
    tail = decoded_tail(response).decode()
    assert "Traceback" in tail
    assert "ValueError: bad value" in tail
    assert tail.endswith(f"FC Invoke End RequestId: {response.headers['x-fc-request-id']}\n")

    with raises_fc(200) as info:
        shared_client.invoke_function(service, "fn", payload=b"custom")
    assert json.loads(info.value.message)["errorType"] == "PaymentError"
    # The instance survives a handled exception: the next call is warm.
    again = invoke_raw(shared_platform, service, "fn", b"x")
    assert again.headers["x-fc-cold-start"] == "false"


TIMEOUT = """
import subprocess, time, uuid

COUNT = 0
INSTANCE = uuid.uuid4().hex

def handler(event, context):
    global COUNT
    COUNT += 1
    if event.startswith(b"sleep"):
        _, seconds = event.decode().split(" ", 1)
        subprocess.Popen(["sleep", seconds])
        time.sleep(30)
    return f"{COUNT}:{INSTANCE}"
"""


def sleep_token() -> str:
    """A unique ``sleep`` argument, so the child can be found from the host."""
    return f"600.{random.randrange(10**8, 10**9)}"


def test_timeout_kills_the_instance_and_its_children(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": TIMEOUT}, timeout=1)
    assert shared_client.invoke_function(service, "fn").data.decode().startswith("1:")
    count, instance = shared_client.invoke_function(service, "fn").data.decode().split(":")
    assert count == "2"

    token = sleep_token()
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        pending = pool.submit(invoke_raw, shared_platform, service, "fn",
                              f"sleep {token}".encode())
        assert wait_for(lambda: bool(processes_with(token)), 5), "the child never started"
        response = pending.result()
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3.5
    assert response.status_code == 200
    assert response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    error = response.json()
    assert set(error) == {"errorMessage", "errorType", "stackTrace"}
    assert error["errorType"] == "Runtime.Timeout"
    assert "1" in error["errorMessage"]
    assert wait_for(lambda: not processes_with(token), 5), "the child outlived the timeout"

    # The next request gets a fresh instance: the module global starts over.
    count, new_instance = shared_client.invoke_function(service, "fn").data.decode().split(":")
    assert count == "1"
    assert new_instance != instance


def failed_invocation_framing(platform: PlatformProcess, client: fc2.Client, source: str,
                              error_type: str) -> None:
    service = unique("svc")
    deploy(client, service, "fn", {"index.py": source}, timeout=1)
    response = invoke_raw(platform, service, "fn", headers={"x-fc-log-type": "Tail"})
    assert response.json()["errorType"] == error_type
    request_id = response.headers["x-fc-request-id"]
    for text in (decoded_tail(response).decode(), function_log(platform, service, "fn")):
        start = text.index(f"FC Invoke Start RequestId: {request_id}\n")
        assert start < text.index(error_type, start)
        assert text.endswith(f"FC Invoke End RequestId: {request_id}\n")


@pytest.mark.parametrize(("source", "error_type"), [
    ("import time\ndef handler(e, c):\n    print('about to sleep')\n    time.sleep(30)\n",
     "Runtime.Timeout"),
    ("import os\ndef handler(e, c):\n    print('about to exit')\n    os._exit(3)\n",
     "Runtime.ExitError"),
], ids=["timeout", "exit"])
def test_failed_invocation_log_framing(shared_platform: PlatformProcess,
                                       shared_client: fc2.Client, source: str,
                                       error_type: str) -> None:
    failed_invocation_framing(shared_platform, shared_client, source, error_type)


@pytest.mark.parametrize(("source", "error_type"), [
    ("import time\ndef handler(e, c):\n    time.sleep(30)\n", "Runtime.Timeout"),
    ("import os\ndef handler(e, c):\n    os._exit(3)\n", "Runtime.ExitError"),
], ids=["timeout", "exit"])
def test_failed_invocation_log_framing_of_a_silent_handler(
    shared_platform: PlatformProcess, shared_client: fc2.Client, source: str, error_type: str,
) -> None:
    failed_invocation_framing(shared_platform, shared_client, source, error_type)


ASYNC = """
import time

def handler(event, context):
    token, delay = event.decode().split("|")
    time.sleep(float(delay))
    print("ran", token, context.request_id)
    return "done"
"""


def test_async_invocation_answers_202_at_once_and_runs_later(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": ASYNC})
    token = unique("run")
    started = time.monotonic()
    response = invoke_raw(shared_platform, service, "fn", f"{token}|2.5".encode(),
                          headers={"x-fc-invocation-type": "Async"})
    assert time.monotonic() - started < 2.0  # well before the handler can have finished
    assert response.status_code == 202
    assert response.content == b""
    request_id = response.headers["x-fc-request-id"]
    assert token not in function_log(shared_platform, service, "fn")
    assert wait_for(lambda: f"ran {token} {request_id}" in function_log(
        shared_platform, service, "fn"), 15), "the async invocation never ran"

    # Through the SDK, with the header spelled as users spell it.
    second = unique("run")
    answer = shared_client.invoke_function(service, "fn", payload=f"{second}|0".encode(),
                                           headers={"x-fc-invocation-type": "Async"})
    assert answer.data == b""
    assert wait_for(lambda: f"ran {second} " in function_log(shared_platform, service, "fn"), 15)


CONTEXT = """
import json, os

def init(context):
    pass

def handler(event, context):
    c = context.credentials
    f = context.function
    return json.dumps({
        "request_id": context.request_id,
        "function": {"name": f.name, "handler": f.handler, "memory": f.memory,
                     "timeout": f.timeout, "initializer": f.initializer},
        "service": {"name": context.service.name},
        "region": context.region,
        "account_id": context.account_id,
        "credentials": [c.access_key_id, c.access_key_secret, c.security_token,
                        c.accessKeyId, c.accessKeySecret, c.securityToken],
        "env": dict(os.environ),
    })
"""


def test_context_and_environment(shared_platform: PlatformProcess,
                                 shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy(shared_client, service, "ctx-fn", {"index.py": CONTEXT}, memorySize=512, timeout=7,
           initializer="index.init",
           environmentVariables={"GREETING": "hello", "EMPTY": "", "JSONISH": '{"a": 1}'})
    response = invoke_raw(shared_platform, service, "ctx-fn")
    data: dict[str, Any] = response.json()
    assert data["request_id"] == response.headers["x-fc-request-id"]
    assert data["function"] == {"name": "ctx-fn", "handler": "index.handler", "memory": 512,
                                "timeout": 7, "initializer": "index.init"}
    assert data["service"] == {"name": service}
    assert data["region"]
    assert data["account_id"]
    assert all(isinstance(value, str) for value in data["credentials"])
    env = data["env"]
    assert env["GREETING"] == "hello"
    assert env["EMPTY"] == ""
    assert env["JSONISH"] == '{"a": 1}'
    assert env["FC_FUNCTION_NAME"] == "ctx-fn"
    assert env["FC_SERVICE_NAME"] == service
    assert env["FC_REGION"] == data["region"]
    assert env["FC_ACCOUNT_ID"] == data["account_id"]
    # Each invocation has its own request id.
    assert invoke_raw(shared_platform, service, "ctx-fn").json()["request_id"] != (
        data["request_id"])

    # New variables reach new instances after an update.
    shared_client.update_function(service, "ctx-fn", environmentVariables={"GREETING": "bye"})
    env = invoke_raw(shared_platform, service, "ctx-fn").json()["env"]
    assert env["GREETING"] == "bye"
    assert "EMPTY" not in env


def test_code_dir_is_the_working_directory_and_importable(shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {
        "index.py": """
            import json, os, sys
            import vendored
            from vendored.deep import answer

            def handler(event, context):
                here = os.path.dirname(os.path.abspath(__file__))
                with open("data/info.txt") as handle:
                    info = handle.read()
                return json.dumps({"cwd": os.getcwd(), "here": here, "path": sys.path,
                                   "info": info, "answer": answer(), "version": vendored.VERSION})
        """,
        "vendored/__init__.py": "VERSION = '1.2.3'\n",
        "vendored/deep.py": "def answer():\n    return 42\n",
        "data/info.txt": "packaged data",
    })
    data = json.loads(shared_client.invoke_function(service, "fn").data)
    assert data["cwd"] == data["here"]
    assert data["cwd"] in data["path"]
    assert data["info"] == "packaged data"
    assert data["answer"] == 42
    assert data["version"] == "1.2.3"


def test_log_file_holds_each_invocation(shared_platform: PlatformProcess,
                                        shared_client: fc2.Client) -> None:
    service = unique("svc")
    deploy(shared_client, service, "fn", {"index.py": LOGGING})
    first = invoke_raw(shared_platform, service, "fn")
    second = invoke_raw(shared_platform, service, "fn", b"fail")
    log_file = shared_platform.data_dir / "logs" / service / "fn.log"
    text = log_file.read_text()
    for response in (first, second):
        request_id = response.headers["x-fc-request-id"]
        start = text.index(f"FC Invoke Start RequestId: {request_id}\n")
        end = text.index(f"FC Invoke End RequestId: {request_id}\n")
        assert start < text.index("printed line", start) < end
        assert start < text.index("logged line", start) < end
    assert "KeyError: 'missing key'" in text


def test_cold_start_and_timing_headers(shared_platform: PlatformProcess,
                                       shared_client: fc2.Client) -> None:
    service = unique("svc")
    fn = deploy(shared_client, service, "fn", {"index.py": RESULTS})
    first = invoke_raw(shared_platform, service, "fn", b"echo")
    second = invoke_raw(shared_platform, service, "fn", b"echo")
    assert first.headers["x-fc-cold-start"] == "true"
    assert second.headers["x-fc-cold-start"] == "false"
    for response in (first, second):
        assert "handler;dur=" in response.headers["server-timing"]
        assert response.headers["x-fc-code-checksum"] == fn["codeChecksum"]
        assert response.headers["x-fc-request-id"]
    assert "start;dur=" in first.headers["server-timing"]
    assert "start;dur=" not in second.headers["server-timing"]
    assert first.headers["x-fc-request-id"] != second.headers["x-fc-request-id"]


@pytest.mark.parametrize("invocation_type", ["Sync", "Async"])
def test_invoking_a_missing_function_is_404(shared_platform: PlatformProcess,
                                            shared_client: fc2.Client,
                                            invocation_type: str) -> None:
    service = unique("svc")
    shared_client.create_service(service)
    response = invoke_raw(shared_platform, service, "nope",
                          headers={"x-fc-invocation-type": invocation_type})
    assert response.status_code == 404
    assert response.json()["ErrorCode"] == "FunctionNotFound"
