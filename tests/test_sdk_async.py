"""The SDK's async-invocation methods (fcompute.sdk) against a real platform."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from fcompute.sdk import AsyncInvocation, Client, FcApiError
from tests.conftest import function_log, make_zip, unique, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import FAST_RETRIES

CODE = """
import os, time

def handler(event, context):
    if event.startswith(b"fail"):
        raise ValueError("asked to fail: " + event.decode())
    if event == b"sleep":
        os.write(1, b"SLEEPING\\n")
        time.sleep(60)
    return b"result:" + event
"""
# The same function after an update: nothing fails any more (tells replay targets apart).
FIXED = """
def handler(event, context):
    return b"fixed:" + event
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    # Two instances: async holds at most one, so a sleeping event keeps the next one waiting.
    running = PlatformProcess(tmp_path_factory.mktemp("sdk-async") / "data",
                              "--max-instances", "2", *FAST_RETRIES).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fc(platform: PlatformProcess) -> Iterator[Client]:
    with Client(platform.endpoint, timeout=30) as client:
        yield client


@pytest.fixture
def service(fc: Client) -> str:
    """A service of the test's own with function ``fn`` (each test has its own queue share)."""
    name = unique("sdkasync")
    fc.create_service(name)
    fc.create_function(name, "fn", handler="index.handler", code=make_zip({"index.py": CODE}),
                       timeout=120)
    return name


def wait_finished(fc: Client, service: str, invocation_id: str,
                  timeout: float = 30) -> AsyncInvocation:
    seen: list[AsyncInvocation] = []

    def finished() -> bool:
        seen.append(fc.get_async_invocation(service, "fn", invocation_id))
        return seen[-1].finished

    assert wait_for(finished, timeout), seen[-1]
    return seen[-1]


def test_invoke_async_returns_the_invocation_id_and_its_record(fc: Client, service: str) -> None:
    function = fc.get_function(service, "fn")
    invocation_id = fc.invoke_async(service, "fn", "hello")
    record = wait_finished(fc, service, invocation_id)
    assert record.status == "Succeeded"
    # Without an id of the caller's, the request id names the invocation.
    assert record.invocation_id == record.request_id == invocation_id
    assert (record.service_name, record.function_name, record.qualifier) == (
        service, "fn", "LATEST")
    assert record.invocation_payload == b"hello"
    assert record.return_payload == b"result:hello"
    assert record.error is None
    assert record.already_retried_times == 0
    [attempt] = record.attempts
    assert (attempt.attempt, attempt.status, attempt.request_id) == (1, "Succeeded", invocation_id)
    assert record.started_time is not None
    assert attempt.started_time is not None
    assert attempt.end_time is not None
    assert record.started_time <= attempt.started_time <= attempt.end_time
    assert record.version is not None
    assert record.version.code_checksum == function.code_checksum
    assert record.version.qualifier == "LATEST"
    assert record.raw["invocationId"] == invocation_id

    bare = fc.get_async_invocation(service, "fn", invocation_id, include_payload=False)
    assert (bare.invocation_payload, bare.return_payload) == (None, None)
    assert bare.status == "Succeeded"


def test_caller_chosen_invocation_id_runs_once(fc: Client, service: str) -> None:
    chosen = unique("order")
    assert fc.invoke_async(service, "fn", "first", invocation_id=chosen) == chosen
    with pytest.raises(FcApiError) as info:
        fc.invoke_async(service, "fn", "second", invocation_id=chosen)
    assert (info.value.status, info.value.code) == (409, "InvocationAlreadyExists")
    record = wait_finished(fc, service, chosen)
    assert record.invocation_payload == b"first"
    assert record.request_id != chosen
    with pytest.raises(FcApiError) as bad:
        fc.invoke_async(service, "fn", "x", invocation_id="not allowed!")
    assert (bad.value.status, bad.value.code) == (400, "InvalidArgument")


def test_payloads_that_are_not_text_come_back_as_bytes(fc: Client, service: str) -> None:
    event = b"\xff\x00raw"
    record = wait_finished(fc, service, fc.invoke_async(service, "fn", event))
    assert record.raw["invocationPayloadEncoding"] == "base64"
    assert record.invocation_payload == event
    assert record.return_payload == b"result:" + event


def test_failures_and_retries_are_typed(fc: Client, service: str) -> None:
    fc.put_async_invoke_config(service, "fn", max_async_retry_attempts=1)
    record = wait_finished(fc, service, fc.invoke_async(service, "fn", "fail-now"))
    assert record.status == "Failed"
    assert record.error is not None
    assert (record.error.type, record.error.message) == ("ValueError", "asked to fail: fail-now")
    assert any("raise ValueError" in line for line in record.error.stack_trace)
    assert (record.already_retried_times, record.function_errors, record.system_errors) == (
        1, 2, 0)
    first, second = record.attempts
    assert [first.status, second.status] == ["Failed", "Failed"]
    assert first.request_id != second.request_id
    assert second.error is not None
    assert second.error.type == "ValueError"
    # --async-backoff-base 0.2 reached the platform: the default (1 s, -20 % jitter at most)
    # would have waited at least 0.8 s before the retry.
    assert first.end_time is not None
    assert second.started_time is not None
    assert second.started_time - first.end_time < 800


def test_get_of_a_missing_invocation(fc: Client, service: str) -> None:
    with pytest.raises(FcApiError) as info:
        fc.get_async_invocation(service, "fn", "nope")
    assert (info.value.status, info.value.code) == (404, "InvocationNotFound")
    with pytest.raises(ValueError, match="not an async invocation id"):
        fc.get_async_invocation(service, "fn", "a/b")


def test_list_filters_and_pages(fc: Client, service: str) -> None:
    before = int(time.time() * 1000)
    # One after the other, so that the three have distinct acceptance times.
    records = [wait_finished(fc, service, fc.invoke_async(service, "fn", event,
                                                           invocation_id=name))
               for name, event in [("ok-1", "a"), ("ok-2", "b"), ("bad-1", "fail")]]
    ok1, ok2, bad1 = records
    assert [r.status for r in records] == ["Succeeded", "Succeeded", "Failed"]

    first = fc.list_async_invocations(service, "fn", limit=2)
    assert [r.invocation_id for r in first.items] == ["bad-1", "ok-2"]  # newest first
    assert first.next_token
    second = fc.list_async_invocations(service, "fn", limit=2, next_token=first.next_token)
    assert [r.invocation_id for r in second.items] == ["ok-1"]
    assert second.next_token is None

    def ids(**filters: Any) -> list[str]:
        return [r.invocation_id
                for r in fc.iter_async_invocations(service, "fn", page_size=1, **filters)]

    assert ids() == ["bad-1", "ok-2", "ok-1"]
    assert ids(sort_order_by_time="asc") == ["ok-1", "ok-2", "bad-1"]
    assert ids(status="Failed") == ["bad-1"]
    assert ids(invocation_id_prefix="ok-") == ["ok-2", "ok-1"]
    assert ids(started_time_begin=datetime(2999, 1, 1, tzinfo=UTC)) == []
    assert ids(started_time_end=before) == []
    assert ids(started_time_begin=datetime.fromtimestamp(before / 1000, UTC)) == [
        "bad-1", "ok-2", "ok-1"]
    # The beginning is inclusive, the end exclusive.
    assert ids(started_time_begin=ok2.started_time, started_time_end=bad1.started_time) == [
        "ok-2"]

    listed = fc.list_async_invocations(service, "fn", status="Succeeded").items
    assert [r.invocation_payload for r in listed] == [None, None]
    with_payload = fc.list_async_invocations(service, "fn", status="Succeeded",
                                             include_payload=True).items
    assert [r.invocation_payload for r in with_payload] == [b"b", b"a"]
    assert with_payload[1].return_payload == ok1.return_payload == b"result:a"

    with pytest.raises(FcApiError) as info:
        fc.list_async_invocations(service, "fn", status="Lost")
    assert (info.value.status, info.value.code) == (400, "InvalidArgument")


def test_stop_queued_and_running_invocations(
    fc: Client, service: str, platform: PlatformProcess
) -> None:
    sleeping = fc.invoke_async(service, "fn", "sleep")
    assert wait_for(lambda: "SLEEPING" in function_log(platform, service, "fn"), 20)
    # The sleeper holds the function's whole async share: this one cannot start.
    waiting = fc.invoke_async(service, "fn", "never")
    stopped = fc.stop_async_invocation(service, "fn", waiting)
    assert (stopped.invocation_id, stopped.status) == (waiting, "Stopped")

    stopped = fc.stop_async_invocation(service, "fn", sleeping)
    assert (stopped.invocation_id, stopped.status) == (sleeping, "Stopped")
    record = fc.get_async_invocation(service, "fn", sleeping)
    assert record.status == "Stopped"
    assert record.attempts[-1].status == "Stopped"
    assert fc.get_async_invocation(service, "fn", waiting).return_payload is None

    with pytest.raises(FcApiError) as info:
        fc.stop_async_invocation(service, "fn", sleeping)
    assert (info.value.status, info.value.code) == (409, "InvocationNotRunning")


def test_replay_on_original_or_latest_code(fc: Client, service: str) -> None:
    fc.put_async_invoke_config(service, "fn", max_async_retry_attempts=0)
    failed = wait_finished(fc, service, fc.invoke_async(service, "fn", "fail-once"))
    assert failed.status == "Failed"
    with pytest.raises(FcApiError) as info:
        fc.replay_async_invocation(service, "fn",
                                   fc.invoke_async(service, "fn", "fine", invocation_id="fine"))
    # Either still running or already succeeded: neither may be replayed.
    assert (info.value.status, info.value.code) == (409, "InvocationNotReplayable")

    fc.update_function(service, "fn", code=make_zip({"index.py": FIXED}))
    on_latest = fc.replay_async_invocation(service, "fn", failed.invocation_id)
    on_original = fc.replay_async_invocation(service, "fn", failed.invocation_id,
                                             target="original")
    assert len({failed.invocation_id, on_latest.invocation_id, on_original.invocation_id}) == 3
    assert on_latest.replay_of == on_original.replay_of == failed.invocation_id

    latest = wait_finished(fc, service, on_latest.invocation_id)
    assert (latest.status, latest.return_payload) == ("Succeeded", b"fixed:fail-once")
    original = wait_finished(fc, service, on_original.invocation_id)
    assert original.status == "Failed"
    assert original.invocation_payload == b"fail-once"
    assert original.version is not None
    assert failed.version is not None
    assert original.version.code_checksum == failed.version.code_checksum
    assert fc.get_async_invocation(service, "fn", failed.invocation_id).replayed_by == [
        on_latest.invocation_id, on_original.invocation_id]


def test_async_invoke_config(fc: Client, service: str) -> None:
    for call in (fc.get_async_invoke_config, fc.delete_async_invoke_config):
        with pytest.raises(FcApiError) as info:
            call(service, "fn")
        assert (info.value.status, info.value.code) == (404, "AsyncConfigNotFound")
    assert fc.list_async_invoke_configs(service, "fn") == []

    arn = f"acs:fc:local:000000000000:services/{service}/functions/sink"
    put = fc.put_async_invoke_config(
        service, "fn", max_async_retry_attempts=0, max_async_event_age_in_seconds=600,
        on_success="https://hooks.example.com/fc", on_failure=arn, stateful_invocation=False,
    )
    assert (put.service, put.function, put.qualifier) == (service, "fn", "LATEST")
    assert (put.max_async_retry_attempts, put.max_async_event_age_in_seconds) == (0, 600)
    assert (put.on_success, put.on_failure) == ("https://hooks.example.com/fc", arn)
    assert put.stateful_invocation is False
    assert put.created_time
    assert put.last_modified_time
    got = fc.get_async_invoke_config(service, "fn")
    assert (got.max_async_retry_attempts, got.on_success, got.on_failure) == (
        0, "https://hooks.example.com/fc", arn)
    assert [c.qualifier for c in fc.list_async_invoke_configs(service, "fn")] == ["LATEST"]

    # PUT replaces the whole config: what is left out goes back to its default.
    replaced = fc.put_async_invoke_config(service, "fn", max_async_event_age_in_seconds=60)
    assert (replaced.max_async_retry_attempts, replaced.max_async_event_age_in_seconds) == (3, 60)
    assert (replaced.on_success, replaced.on_failure) == (None, None)
    assert replaced.stateful_invocation is True

    with pytest.raises(FcApiError) as info:
        fc.put_async_invoke_config(service, "fn", on_failure="acs:mns:local:0:/queues/q")
    assert (info.value.status, info.value.code) == (400, "InvalidArgument")
    with pytest.raises(FcApiError) as info:
        fc.get_async_invoke_config(service, "fn", qualifier="prod")
    assert (info.value.status, info.value.code) == (404, "AliasNotFound")

    fc.delete_async_invoke_config(service, "fn")
    with pytest.raises(FcApiError):
        fc.get_async_invoke_config(service, "fn")
    assert fc.list_async_invoke_configs(service, "fn") == []
