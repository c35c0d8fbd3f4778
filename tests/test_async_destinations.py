"""Destinations: a function or a webhook gets the record; failed deliveries retry, visibly."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fc2
import pytest

from tests.conftest import deploy, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import (
    FAST_RETRIES,
    accepted_id,
    all_records,
    get_record,
    invoke_async,
    put_config,
    wait_record,
)

WORKER = """
def handler(event, context):
    if event.startswith(b"fail"):
        raise ValueError("asked to fail")
    return b"result:" + event
"""
SINK = """
def handler(event, context):
    return event
"""
ARN = "acs:fc:local:000000000000:services/{service}/functions/{function}"


class Webhook:
    """A local HTTP receiver that answers with scripted statuses (then 200) and keeps
    every request it got."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform(make_platform: Any) -> PlatformProcess:
    running: PlatformProcess = make_platform(*FAST_RETRIES)
    return running


@pytest.fixture
def sdk(platform: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")


@pytest.fixture
def webhook_factory() -> Iterator[Any]:
    hooks: list[Webhook] = []

    def make(statuses: list[int]) -> Webhook:
        hooks.append(Webhook(statuses))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.close()


def test_on_success_invokes_a_function_with_the_record(platform: PlatformProcess,
                                                       sdk: fc2.Client) -> None:
    deploy(sdk, "svc", "fn", {"index.py": WORKER})
    deploy(sdk, "svc", "sink", {"index.py": SINK})
    target = ARN.format(service="svc", function="sink")
    assert put_config(platform, "svc", "fn", destinationConfig={
        "onSuccess": {"destination": target}}).status_code == 200
    response = invoke_async(platform, "svc", "fn", b'{"order": 7}', "job-1")
    request_id = response.headers["x-fc-request-id"]
    accepted_id(response)
    assert wait_for(lambda: get_record(platform, "svc", "fn", "job-1")["destinationStatus"]
                    == "Succeeded", 20)
    record = get_record(platform, "svc", "fn", "job-1")
    [delivery] = record["destinations"]
    assert (delivery["condition"], delivery["destination"]) == ("onSuccess", target)
    assert len(delivery["attempts"]) == 1

    assert wait_for(lambda: len(all_records(platform, "svc", "sink")) == 1, 20)
    [sink_call] = all_records(platform, "svc", "sink")
    sink_record = wait_record(platform, "svc", "sink", sink_call["invocationId"])
    assert sink_record["status"] == "Succeeded"
    sent = json.loads(sink_record["invocationPayload"])
    assert sent["requestContext"]["condition"] == "Success"
    assert sent["requestContext"]["invocationId"] == "job-1"
    assert sent["requestContext"]["requestId"] == request_id
    assert sent["requestContext"]["approximateInvokeCount"] == 1
    assert sent["requestContext"]["functionArn"] == (
        "acs:fc:local:000000000000:services/svc.LATEST/functions/fn")
    assert sent["requestPayload"] == '{"order": 7}'
    assert sent["responsePayload"] == 'result:{"order": 7}'
    assert sent["responseContext"]["functionError"] == ""


def test_on_failure_webhook_is_retried_until_delivered(platform: PlatformProcess,
                                                       sdk: fc2.Client,
                                                       webhook_factory: Any) -> None:
    hook: Webhook = webhook_factory([500, 503])
    deploy(sdk, "svc", "fn", {"index.py": WORKER})
    assert put_config(platform, "svc", "fn", maxAsyncRetryAttempts=1, destinationConfig={
        "onFailure": {"destination": hook.url}}).status_code == 200
    accepted_id(invoke_async(platform, "svc", "fn", b"fail please", "bad-1"))
    assert wait_for(lambda: get_record(platform, "svc", "fn", "bad-1")["destinationStatus"]
                    == "Succeeded", 20)
    record = get_record(platform, "svc", "fn", "bad-1")
    assert record["status"] == "Failed"
    [delivery] = record["destinations"]
    assert [a["status"] for a in delivery["attempts"]] == ["Failed", "Failed", "Succeeded"]
    assert delivery["attempts"][0]["error"]["errorType"] == "Destination.HttpError"
    assert "500" in delivery["attempts"][0]["error"]["errorMessage"]
    assert delivery["lastError"]["errorMessage"].startswith(f"POST {hook.url} answered 503")

    assert len(hook.received) == 3
    bodies = {body for _, body in hook.received}
    assert len(bodies) == 1  # every attempt sends the same record
    headers = hook.received[0][0]
    assert headers["content-type"] == "application/json"
    assert headers["x-fc-delivery-id"] == "bad-1:onFailure"
    sent = json.loads(bodies.pop())
    assert sent["requestContext"]["condition"] == "RetriesExhausted"
    assert sent["requestContext"]["approximateInvokeCount"] == 2
    assert sent["responseContext"]["functionError"] == "ValueError"
    assert sent["responsePayload"]["errorMessage"] == "asked to fail"
    assert sent["requestPayload"] == "fail please"


def test_a_delivery_that_never_succeeds_ends_failed_and_stays_visible(
    platform: PlatformProcess, sdk: fc2.Client, webhook_factory: Any
) -> None:
    hook: Webhook = webhook_factory([500] * 1000)
    deploy(sdk, "svc", "fn", {"index.py": WORKER})
    assert put_config(platform, "svc", "fn", maxAsyncRetryAttempts=0,
                      maxAsyncEventAgeInSeconds=2, destinationConfig={
                          "onFailure": {"destination": hook.url}}).status_code == 200
    accepted_id(invoke_async(platform, "svc", "fn", b"fail", "doomed"))
    assert wait_for(lambda: get_record(platform, "svc", "fn", "doomed")["destinationStatus"]
                    == "Failed", 20)
    [delivery] = get_record(platform, "svc", "fn", "doomed")["destinations"]
    assert len(delivery["attempts"]) >= 2
    assert all(a["status"] == "Failed" for a in delivery["attempts"])
    assert delivery["lastError"]["errorType"] == "Destination.HttpError"
    assert delivery["endTime"] is not None
    assert len(hook.received) == len(delivery["attempts"])


def test_a_missing_destination_function_is_a_visible_delivery_failure(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    deploy(sdk, "svc", "fn", {"index.py": WORKER})
    assert put_config(platform, "svc", "fn", maxAsyncEventAgeInSeconds=2, destinationConfig={
        "onSuccess": {"destination": ARN.format(service="svc", function="gone")}},
    ).status_code == 200
    accepted_id(invoke_async(platform, "svc", "fn", b"ok", "to-nowhere"))
    assert wait_for(lambda: get_record(platform, "svc", "fn", "to-nowhere")[
        "destinationStatus"] == "Failed", 20)
    record = get_record(platform, "svc", "fn", "to-nowhere")
    assert record["status"] == "Succeeded"
    assert record["destinations"][0]["lastError"]["errorType"] == "Destination.FunctionNotFound"
