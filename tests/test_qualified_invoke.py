"""Running the right code: invocations through LATEST, a version or an alias, sync, async
and over HTTP triggers, and the instances each version keeps."""

from __future__ import annotations

import functools
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import API, assert_fc_error, deploy, processes_with, raises_fc, unique, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import (
    FAST_RETRIES,
    accepted_id,
    all_records,
    get_record,
    replay,
    wait_record,
)
from tests.versions_helpers import (
    VERSION_HEADER,
    answer,
    invocation_url,
    invoke,
    publish,
    qualified,
    ran_on,
    sdk_client,
    set_code,
    tagged,
    tiny,
)

ARN = "acs:fc:local:000000000000:services/{service}/functions/{function}"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """One platform for the module, with retries short enough to wait for."""
    running = PlatformProcess(tmp_path_factory.mktemp("qualified") / "data",
                              *FAST_RETRIES).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sdk(platform: PlatformProcess) -> fc2.Client:
    return sdk_client(platform)


def three_codes(sdk: fc2.Client, function: str = "fn",
                files: Any = tagged, **options: Any) -> str:
    """A service whose version 1 runs ``c1``, version 2 ``c2`` and LATEST ``c3``."""
    service = unique("qual")
    deploy(sdk, service, function, files("c1"), **options)
    assert publish(sdk, service) == "1"
    set_code(sdk, service, function, files("c2"))
    assert publish(sdk, service) == "2"
    set_code(sdk, service, function, files("c3"))
    return service


def invoke_async(platform: PlatformProcess, service: str, function: str,
                 qualifier: str | None, event: bytes = b"",
                 invocation_id: str | None = None) -> httpx.Response:
    headers = {"x-fc-invocation-type": "Async"}
    if invocation_id:
        headers["x-fc-stateful-async-invocation-id"] = invocation_id
    return invoke(platform, service, function, qualifier, event, headers)


def put_config(platform: PlatformProcess, service: str, qualifier: str, function: str,
               **config: Any) -> httpx.Response:
    return httpx.put(f"{platform.endpoint}{API}/services/{service}.{qualifier}/functions/"
                     f"{function}/async-invoke-config", json=config, timeout=30)


def delivered(platform: PlatformProcess, service: str, invocation_id: str) -> bool:
    record = get_record(platform, service, "fn", invocation_id)
    return bool(record.get("destinationStatus") == "Succeeded")


def returned(record: dict[str, Any]) -> dict[str, Any]:
    """What a TAGGED handler returned in an async run."""
    data: dict[str, Any] = json.loads(record["returnPayload"])
    return data


def test_sync_invoke_through_latest_a_version_and_an_alias(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = three_codes(sdk)
    sdk.create_alias(service, "live", "1")
    expected = {None: ("c3", "LATEST"), "LATEST": ("c3", "LATEST"), "1": ("c1", "1"),
                "2": ("c2", "2"), "live": ("c1", "1")}
    for qualifier, (tag, version) in expected.items():
        response = sdk.invoke_function(service, "fn", qualifier=qualifier)
        assert json.loads(response.data)["tag"] == tag, qualifier
        assert response.headers[VERSION_HEADER] == version, qualifier
    sdk.update_alias(service, "live", "2")
    response = sdk.invoke_function(service, "fn", qualifier="live")
    assert (json.loads(response.data)["tag"], response.headers[VERSION_HEADER]) == ("c2", "2")
    assert_fc_error(invoke(platform, service, "fn", "3"), 404, "VersionNotFound")
    assert_fc_error(invoke(platform, service, "fn", "gone"), 404, "AliasNotFound")


def test_context_and_environment_name_the_qualifier(platform: PlatformProcess,
                                                    sdk: fc2.Client) -> None:
    service = three_codes(sdk)
    sdk.create_alias(service, "ctx", "2")
    expected = {
        None: {"qualifier": "LATEST", "versionId": "", "fcQualifier": "LATEST"},
        "LATEST": {"qualifier": "LATEST", "versionId": "", "fcQualifier": "LATEST"},
        "1": {"qualifier": "1", "versionId": "1", "fcQualifier": "1"},
        "ctx": {"qualifier": "ctx", "versionId": "2", "fcQualifier": "ctx"},
    }
    for qualifier, names in expected.items():
        seen = answer(invoke(platform, service, "fn", qualifier))
        assert {key: seen[key] for key in names} == names, qualifier


def test_a_weighted_alias_splits_traffic_by_its_weights(platform: PlatformProcess,
                                                        sdk: fc2.Client) -> None:
    service = unique("split")
    deploy(sdk, service, "fn", tiny("main"))
    publish(sdk, service)
    set_code(sdk, service, "fn", tiny("extra"))
    publish(sdk, service)
    sdk.create_alias(service, "canary", "1", additionalVersionWeight={"2": 0.3})
    url = invocation_url(platform, service, "fn", "canary")
    total, threads = 10_000, 8
    tags = {"1": b"main", "2": b"extra"}

    def run(count: int) -> Counter[str]:
        counts: Counter[str] = Counter()
        with httpx.Client(timeout=60) as http:
            for _ in range(count):
                response = http.post(url)
                assert response.status_code == 200, response.text
                version = response.headers[VERSION_HEADER]
                assert response.content == tags[version], (version, response.content)
                counts[version] += 1
        return counts

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(run, [total // threads] * threads))
    counts = sum(parts, Counter())
    assert sum(counts.values()) == total
    assert set(counts) == {"1", "2"}
    share = counts["2"] / total
    # The standard deviation of the share is 0.46 points: 2 points is over four of them.
    assert 0.28 <= share <= 0.32, (counts, time.monotonic() - started)


WEB = '''
import json

TAG = "@TAG@"

def handler(environ, start_response):
    service = environ["fc.context"].service
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"tag": TAG, "qualifier": service.qualifier,
                        "versionId": service.version_id}).encode()]
'''


def web(tag: str) -> dict[str, str]:
    return {"index.py": WEB.replace("@TAG@", tag)}


def proxied(platform: PlatformProcess, service: str, qualifier: str | None,
            method: str = "GET") -> httpx.Response:
    return httpx.request(method, f"{platform.endpoint}{API}/proxy/"
                         f"{qualified(service, qualifier)}/app/some/path", timeout=30)


def seen_through(platform: PlatformProcess, service: str, qualifier: str | None,
                 method: str = "GET") -> tuple[str, str, str]:
    """(tag, qualifier the instance saw, version header) of a request through the proxy."""
    response = proxied(platform, service, qualifier, method)
    assert response.status_code == 200, response.text
    return response.json()["tag"], response.json()["qualifier"], ran_on(response)


def test_http_trigger_runs_the_qualifier_of_the_path_or_else_the_trigger(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = three_codes(sdk, "app", files=web)
    sdk.create_trigger(service, "app", "http", "http",
                       {"authType": "anonymous", "methods": ["GET", "POST"]}, None, None)
    sdk.create_alias(service, "stable", "1")
    assert seen_through(platform, service, None) == ("c3", "LATEST", "LATEST")
    assert seen_through(platform, service, "LATEST") == ("c3", "LATEST", "LATEST")
    assert seen_through(platform, service, "1") == ("c1", "1", "1")
    assert seen_through(platform, service, "stable") == ("c1", "stable", "1")
    assert proxied(platform, service, "1").json()["versionId"] == "1"
    through_sdk = sdk.do_http_request("GET", f"{service}.2", "app", "/p")
    assert through_sdk.status_code == 200
    assert through_sdk.json()["tag"] == "c2"
    assert through_sdk.headers[VERSION_HEADER] == "2"
    assert_fc_error(proxied(platform, service, "9"), 404, "VersionNotFound")
    assert_fc_error(proxied(platform, service, "ghost"), 404, "AliasNotFound")

    # Without a qualifier in the path, the trigger's qualifier decides.
    sdk.update_trigger(service, "app", "http", qualifier="stable")
    assert sdk.get_trigger(service, "app", "http").data["qualifier"] == "stable"
    assert seen_through(platform, service, None) == ("c1", "stable", "1")
    assert seen_through(platform, service, "2") == ("c2", "2", "2")  # the path wins
    sdk.update_alias(service, "stable", "2")
    assert seen_through(platform, service, None) == ("c2", "stable", "2")
    sdk.update_trigger(service, "app", "http", qualifier="1")
    assert seen_through(platform, service, None) == ("c1", "1", "1")

    # Triggers are not versioned: the LATEST function's trigger applies to every qualifier.
    sdk.update_trigger(service, "app", "http",
                       triggerConfig={"authType": "anonymous", "methods": ["POST"]})
    assert sdk.get_trigger(service, "app", "http").data["qualifier"] == "1"
    assert_fc_error(proxied(platform, service, "2"), 405, "MethodNotAllowed")
    assert seen_through(platform, service, "2", "POST") == ("c2", "2", "2")
    assert seen_through(platform, service, None, "POST") == ("c1", "1", "1")
    sdk.delete_trigger(service, "app", "http")
    assert_fc_error(proxied(platform, service, "1", "POST"), 404, "TriggerNotFound")


def test_a_signed_request_through_a_qualified_path(make_platform: Any) -> None:
    keyed: PlatformProcess = make_platform(env={"FCOMPUTE_ACCESS_KEY_ID": "AKID-q",
                                                "FCOMPUTE_ACCESS_KEY_SECRET": "q-secret"})
    client = fc2.Client(endpoint=keyed.endpoint, accessKeyID="AKID-q",
                        accessKeySecret="q-secret")
    service = three_codes(client, "app", files=web)
    client.create_trigger(service, "app", "http", "http",
                          {"authType": "function", "methods": ["GET"]}, None, None)
    signed = client.do_http_request("GET", f"{service}.1", "app", "/signed", params={"a": "b"})
    assert signed.status_code == 200, signed.text
    assert (signed.json()["tag"], signed.headers[VERSION_HEADER]) == ("c1", "1")
    assert proxied(keyed, service, "1").status_code == 403
    wrong = fc2.Client(endpoint=keyed.endpoint, accessKeyID="AKID-q", accessKeySecret="nope")
    assert wrong.do_http_request("GET", f"{service}.1", "app", "/").status_code == 403


def test_a_trigger_qualifier_must_name_latest_a_version_or_an_alias(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = three_codes(sdk, "app", files=web)
    sdk.create_alias(service, "stable", "1")
    config = {"authType": "anonymous", "methods": ["GET"]}
    for nothing in ("ghost", "9", "0"):
        with raises_fc(400, "InvalidArgument"):
            sdk.create_trigger(service, "app", "http", "http", config, None, None,
                               qualifier=nothing)
        assert sdk.list_triggers(service, "app").data["triggers"] == []
    for something in ("LATEST", "2", "stable"):
        created = sdk.create_trigger(service, "app", "http", "http", config, None, None,
                                     qualifier=something)
        assert created.data["qualifier"] == something
        sdk.delete_trigger(service, "app", "http")
    sdk.create_trigger(service, "app", "http", "http", config, None, None, qualifier="2")
    for nothing in ("ghost", "9"):
        with raises_fc(400, "InvalidArgument"):
            sdk.update_trigger(service, "app", "http", qualifier=nothing)
    assert sdk.get_trigger(service, "app", "http").data["qualifier"] == "2"
    assert seen_through(platform, service, None) == ("c2", "2", "2")


def test_async_records_keep_the_qualifier_and_the_version_that_ran(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = three_codes(sdk)
    sdk.create_alias(service, "bg", "1")
    sent = {"via-alias": "bg", "via-version": "2", "via-latest": None}
    for invocation_id, qualifier in sent.items():
        accepted_id(invoke_async(platform, service, "fn", qualifier, b"x", invocation_id))
    assert_fc_error(invoke_async(platform, service, "fn", "9", b"x"), 404, "VersionNotFound")
    assert_fc_error(invoke_async(platform, service, "fn", "ghost", b"x"), 404, "AliasNotFound")
    records = {i: wait_record(platform, service, "fn", i) for i in sent}
    assert all(r["status"] == "Succeeded" for r in records.values()), records

    alias_run = records["via-alias"]
    assert alias_run["qualifier"] == "bg"
    assert alias_run["versionId"] == "1"
    assert alias_run["version"]["versionId"] == "1"
    assert returned(alias_run)["tag"] == "c1"
    assert returned(alias_run)["qualifier"] == "bg"
    version_run = records["via-version"]
    assert (version_run["qualifier"], version_run["versionId"]) == ("2", "2")
    assert returned(version_run)["tag"] == "c2"
    assert records["via-latest"]["qualifier"] == "LATEST"
    assert returned(records["via-latest"])["tag"] == "c3"

    # Listing by function shows every qualifier's records.
    listed = {r["invocationId"]: r for r in all_records(platform, service, "fn")}
    assert set(listed) == set(sent)
    assert {i: listed[i]["qualifier"] for i in sent} == {
        "via-alias": "bg", "via-version": "2", "via-latest": "LATEST"}

    # A record keeps the version its run had after the alias moves on.
    sdk.update_alias(service, "bg", "2")
    moved = wait_record(platform, service, "fn",
                        accepted_id(invoke_async(platform, service, "fn", "bg", b"y")))
    assert (moved["qualifier"], moved["versionId"], returned(moved)["tag"]) == ("bg", "2", "c2")
    assert get_record(platform, service, "fn", "via-alias")["versionId"] == "1"


def test_async_invoke_config_is_per_qualifier(platform: PlatformProcess,
                                              sdk: fc2.Client) -> None:
    service = three_codes(sdk)
    sdk.create_alias(service, "retry", "1")
    for qualifier, retries in (("LATEST", 0), ("retry", 2), ("1", 1)):
        response = put_config(platform, service, qualifier, "fn",
                              maxAsyncRetryAttempts=retries)
        assert response.status_code == 200, response.text
        assert response.json()["qualifier"] == qualifier
    got = sdk.get_function_async_invoke_config(service, "retry", "fn").data
    assert (got["qualifier"], got["maxAsyncRetryAttempts"]) == ("retry", 2)
    listed = sdk.list_function_async_invoke_configs(service, "fn").data["configs"]
    assert sorted(c["qualifier"] for c in listed) == ["1", "LATEST", "retry"]

    attempts = {}
    for qualifier in ("LATEST", "retry", "1", "2"):
        record = wait_record(platform, service, "fn", accepted_id(
            invoke_async(platform, service, "fn", qualifier, b"fail")))
        assert record["status"] == "Failed", record
        attempts[qualifier] = len(record["attempts"])
    # Version 2 has no config of its own: the default of 3 retries.
    assert attempts == {"LATEST": 1, "retry": 3, "1": 2, "2": 4}

    for qualifier, code in (("7", "VersionNotFound"), ("ghost", "AliasNotFound")):
        assert_fc_error(put_config(platform, service, qualifier, "fn"), 404, code)
        with raises_fc(404, code):
            sdk.get_function_async_invoke_config(service, qualifier, "fn")
        with raises_fc(404, code):
            sdk.delete_function_async_invoke_config(service, qualifier, "fn")


def test_a_destination_on_the_alias_only(platform: PlatformProcess, sdk: fc2.Client) -> None:
    service = unique("dest")
    deploy(sdk, service, "fn", tagged("worker"))
    deploy(sdk, service, "sink", tagged("sink"))
    publish(sdk, service)
    sdk.create_alias(service, "notify", "1")
    sink = ARN.format(service=service, function="sink")
    assert put_config(platform, service, "notify", "fn", destinationConfig={
        "onSuccess": {"destination": sink}}).status_code == 200

    plain = wait_record(platform, service, "fn", accepted_id(
        invoke_async(platform, service, "fn", None, b"x", "plain")))
    assert plain["status"] == "Succeeded"
    assert not plain.get("destinations"), plain
    aliased = accepted_id(invoke_async(platform, service, "fn", "notify", b"y", "aliased"))
    assert wait_for(lambda: delivered(platform, service, aliased), 20)
    assert wait_for(lambda: len(all_records(platform, service, "sink")) == 1, 20)
    time.sleep(0.5)  # a delivery for the plain run, had there been one, is done by now
    [sink_call] = all_records(platform, service, "sink")
    sink_run = wait_record(platform, service, "sink", sink_call["invocationId"])
    sent = json.loads(sink_run["invocationPayload"])
    assert sent["requestContext"]["invocationId"] == "aliased"
    assert sent["requestContext"]["functionArn"] == (
        f"acs:fc:local:000000000000:services/{service}.notify/functions/fn")


def test_a_function_destination_with_a_qualifier_runs_that_qualifier(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    sinks = three_codes(sdk, "sink")
    sdk.create_alias(sinks, "sinkprod", "1")
    service = unique("src")
    deploy(sdk, service, "fn", tagged("worker"))
    assert put_config(platform, service, "LATEST", "fn", maxAsyncRetryAttempts=0,
                      destinationConfig={
                          "onSuccess": {"destination": ARN.format(
                              service=f"{sinks}.sinkprod", function="sink")},
                          "onFailure": {"destination": ARN.format(
                              service=f"{sinks}.2", function="sink")},
                      }).status_code == 200
    for invocation_id, event in (("ok", b"x"), ("bad", b"fail")):
        accepted_id(invoke_async(platform, service, "fn", None, event, invocation_id))
        assert wait_for(functools.partial(delivered, platform, service, invocation_id), 20)
    assert wait_for(lambda: len(all_records(platform, sinks, "sink")) == 2, 20)
    runs = [wait_record(platform, sinks, "sink", r["invocationId"])
            for r in all_records(platform, sinks, "sink")]
    by_source = {json.loads(r["invocationPayload"])["requestContext"]["invocationId"]: r
                 for r in runs}
    ok, bad = by_source["ok"], by_source["bad"]
    assert (ok["qualifier"], ok["versionId"], returned(ok)["tag"]) == ("sinkprod", "1", "c1")
    assert returned(ok)["qualifier"] == "sinkprod"
    assert (bad["qualifier"], bad["versionId"], returned(bad)["tag"]) == ("2", "2", "c2")


FAILS = """
def handler(event, context):
    raise RuntimeError("version one fails")
"""
WORKS = """
def handler(event, context):
    return b"version two got " + event
"""
LATEST_CODE = """
def handler(event, context):
    return b"latest got " + event
"""


def test_replay_on_original_reruns_the_version_after_the_alias_moved(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = unique("replay")
    deploy(sdk, service, "fn", {"index.py": FAILS})
    publish(sdk, service)
    set_code(sdk, service, "fn", {"index.py": WORKS})
    publish(sdk, service)
    set_code(sdk, service, "fn", {"index.py": LATEST_CODE})
    sdk.create_alias(service, "rp", "1")
    assert put_config(platform, service, "rp", "fn", maxAsyncRetryAttempts=0).status_code == 200
    first = wait_record(platform, service, "fn", accepted_id(
        invoke_async(platform, service, "fn", "rp", b"payload", "orig")))
    assert (first["status"], first["versionId"], first["qualifier"]) == ("Failed", "1", "rp")

    sdk.update_alias(service, "rp", "2")
    pinned = replay(platform, service, "fn", "orig", target="original")
    assert pinned.status_code == 202, pinned.text
    rerun = wait_record(platform, service, "fn", pinned.json()["invocationId"])
    assert rerun["status"] == "Failed"
    assert rerun["error"]["errorMessage"] == "version one fails"
    assert rerun["versionId"] == "1"

    now = replay(platform, service, "fn", "orig", target="latest")
    assert now.status_code == 202, now.text
    moved = wait_record(platform, service, "fn", now.json()["invocationId"])
    assert moved["status"] == "Succeeded", moved
    assert moved["returnPayload"] == "version two got payload"
    assert (moved["versionId"], moved["qualifier"]) == ("2", "rp")
    assert sdk.invoke_function(service, "fn").data == b"latest got "


def marker() -> str:
    """A unique ``sleep`` argument, so a child process can be found from the host."""
    return f"600.{random.randrange(10**8, 10**9)}"


def test_deleting_a_version_retires_its_instances_after_in_flight_requests(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = three_codes(sdk)
    # An alias that ran version 1 and moved on: its idle instance of 1 goes with 1 too.
    sdk.create_alias(service, "moved", "1")
    idle = marker()
    answer(invoke(platform, service, "fn", "moved", f"spawn:{idle}".encode()))
    sdk.update_alias(service, "moved", "2")
    token = marker()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(invoke, platform, service, "fn", "1", f"slow:{token}:3".encode())
        assert wait_for(lambda: bool(processes_with(token)), 15), "the slow request never ran"
        assert processes_with(idle)
        sdk.delete_version(service, "1")
        with raises_fc(404, "VersionNotFound"):
            sdk.get_function(service, "fn", qualifier="1")
        response = slow.result()
    # The request in flight finished on its version, successfully.
    assert answer(response)["tag"] == "c1"
    assert ran_on(response) == "1"
    # Then the version's instances went away (their children with them).
    assert wait_for(lambda: not processes_with(token), 15), "the instance of version 1 lives on"
    assert wait_for(lambda: not processes_with(idle), 15), (
        "the alias's instance of version 1 lives on")
    assert_fc_error(invoke(platform, service, "fn", "1"), 404, "VersionNotFound")
    assert answer(invoke(platform, service, "fn", "2"))["tag"] == "c2"
    assert answer(invoke(platform, service, "fn", "moved"))["tag"] == "c2"


def test_latest_changes_never_restart_the_instances_of_a_version(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = three_codes(sdk)
    token = marker()
    spawned = invoke(platform, service, "fn", "1", f"spawn:{token}".encode())
    instance = answer(spawned)["token"]
    assert wait_for(lambda: bool(processes_with(token)), 10)
    latest = answer(invoke(platform, service, "fn"))["token"]

    set_code(sdk, service, "fn", tagged("c4"))
    sdk.update_function(service, "fn", environmentVariables={"EXTRA": "changed"},
                        memorySize=512)
    sdk.update_service(service, description="changed too")
    publish(sdk, service)
    sdk.create_alias(service, "new", "3")
    assert answer(invoke(platform, service, "fn", "new"))["tag"] == "c4"

    again = invoke(platform, service, "fn", "1")
    assert answer(again)["token"] == instance
    assert answer(again)["tag"] == "c1"
    assert again.headers["x-fc-cold-start"] == "false"
    assert processes_with(token), "the instance of version 1 was restarted"
    now = answer(invoke(platform, service, "fn"))
    assert (now["tag"], now["extra"], now["memory"]) == ("c4", "changed", 512)
    assert now["token"] != latest


def test_concurrent_requests_on_two_versions_each_run_their_own_code(
    platform: PlatformProcess, sdk: fc2.Client
) -> None:
    service = three_codes(sdk)
    errors: list[str] = []

    def hammer(qualifier: str, tag: str) -> None:
        with httpx.Client(timeout=60) as http:
            url = invocation_url(platform, service, "fn", qualifier)
            for _ in range(30):
                response = http.post(url, content=b"sleep:0.01")
                if response.status_code != 200 or json.loads(response.content)["tag"] != tag:
                    errors.append(f"{qualifier}: {response.status_code} {response.text}")

    workers = [threading.Thread(target=hammer, args=pair)
               for pair in [("1", "c1"), ("2", "c2"), ("LATEST", "c3")] * 2]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
