"""Versions: snapshots of a whole service, their ids, listing, deletion and qualified reads."""

from __future__ import annotations

from collections.abc import Callable

import fc2
import httpx
import pytest

from tests.conftest import API, assert_fc_error, deploy, raises_fc, unique, wait_for
from tests.platform_process import PlatformProcess
from tests.versions_helpers import (
    answer,
    downloaded_source,
    invoke,
    publish,
    ran_on,
    set_code,
    stored_packages_holding,
    tagged,
)


def new_service(client: fc2.Client, description: str = "") -> str:
    name = unique("ver")
    client.create_service(name, description=description or None)
    return name


def version_ids(client: fc2.Client, service: str, **params: object) -> list[str]:
    return [v["versionId"] for v in client.list_versions(service, **params).data["versions"]]


def test_publish_answers_the_version(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("one"))
    published = shared_client.publish_version(service, "first cut").data
    assert published["versionId"] == "1"
    assert published["description"] == "first cut"
    assert published["createdTime"]
    assert published["lastModifiedTime"]
    [listed] = shared_client.list_versions(service).data["versions"]
    assert listed == published


def test_a_version_snapshots_service_config_function_config_and_code(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = new_service(shared_client, "service as published")
    first_a = deploy(shared_client, service, "a", tagged("a-one"), memorySize=256,
                     description="a as published", environmentVariables={"EXTRA": "one"})
    first_b = deploy(shared_client, service, "b", tagged("b-one"))
    assert publish(shared_client, service) == "1"

    # LATEST moves on in every way a snapshot could miss.
    shared_client.update_service(service, description="service now")
    now_a = set_code(shared_client, service, "a", tagged("a-two"), memorySize=512,
                     description="a now", environmentVariables={"EXTRA": "two"})
    shared_client.delete_function(service, "b")
    deploy(shared_client, service, "c", tagged("c-two"))

    assert shared_client.get_service(service, qualifier="1").data["description"] == (
        "service as published")
    assert shared_client.get_service(service, qualifier="1").data["serviceName"] == service
    assert shared_client.get_service(service).data["description"] == "service now"
    assert shared_client.get_service(service, qualifier="LATEST").data["description"] == (
        "service now")

    a = shared_client.get_function(service, "a", qualifier="1").data
    assert a["description"] == "a as published"
    assert a["memorySize"] == 256
    assert a["environmentVariables"] == {"EXTRA": "one"}
    assert a["codeChecksum"] == first_a["codeChecksum"] != now_a["codeChecksum"]
    assert shared_client.get_function(service, "a").data["memorySize"] == 512
    assert shared_client.get_function(service, "b", qualifier="1").data["codeChecksum"] == (
        first_b["codeChecksum"])
    with raises_fc(404, "FunctionNotFound"):
        shared_client.get_function(service, "c", qualifier="1")
    with raises_fc(404, "FunctionNotFound"):
        shared_client.get_function(service, "b")

    code = shared_client.get_function_code(service, "a", qualifier="1").data
    assert code["checksum"] == first_a["codeChecksum"]
    assert 'TAG = "a-one"' in downloaded_source(shared_client, service, "a", "1")
    assert 'TAG = "a-two"' in downloaded_source(shared_client, service, "a")

    listed = shared_client.list_functions(service, qualifier="1").data["functions"]
    assert [f["functionName"] for f in listed] == ["a", "b"]
    assert [f["codeChecksum"] for f in listed] == [first_a["codeChecksum"],
                                                   first_b["codeChecksum"]]
    latest = shared_client.list_functions(service).data["functions"]
    assert [f["functionName"] for f in latest] == ["a", "c"]

    # The version runs its own code and configuration: b even after LATEST lost it.
    old = invoke(shared_platform, service, "a", "1")
    assert (answer(old)["tag"], answer(old)["extra"], answer(old)["memory"]) == (
        "a-one", "one", 256)
    assert ran_on(old) == "1"
    new = invoke(shared_platform, service, "a")
    assert (answer(new)["tag"], answer(new)["extra"], answer(new)["memory"]) == (
        "a-two", "two", 512)
    assert ran_on(new) == "LATEST"
    gone_from_latest = invoke(shared_platform, service, "b", "1")
    assert answer(gone_from_latest)["tag"] == "b-one"
    assert_fc_error(invoke(shared_platform, service, "c", "1"), 404, "FunctionNotFound")


def test_a_version_keeps_its_code_stored_after_latest_drops_it(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "a", tagged("kept-a"))
    deploy(shared_client, service, "b", tagged("kept-b"))
    publish(shared_client, service)
    set_code(shared_client, service, "a", tagged("dropped-a"))
    set_code(shared_client, service, "a", tagged("latest-a"))
    shared_client.delete_function(service, "b")
    # Code no one references any more goes: once it has, a collection has run.
    assert wait_for(lambda: not stored_packages_holding(shared_platform, b"dropped-a"), 30), (
        "unreferenced code was never collected")
    assert stored_packages_holding(shared_platform, b"kept-a")
    assert stored_packages_holding(shared_platform, b"kept-b")
    # First requests to the version: cold starts, from the stored code.
    assert answer(invoke(shared_platform, service, "a", "1"))["tag"] == "kept-a"
    assert answer(invoke(shared_platform, service, "b", "1"))["tag"] == "kept-b"
    assert 'TAG = "kept-b"' in downloaded_source(shared_client, service, "b", "1")
    # Deleting the version lets its code go too.
    shared_client.delete_version(service, "1")
    assert wait_for(lambda: not stored_packages_holding(shared_platform, b"kept-b"), 30), (
        "the code of a deleted version stays stored")


def test_version_ids_count_up_and_are_never_reused(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("0"))
    assert publish(shared_client, service) == "1"
    set_code(shared_client, service, "fn", tagged("1"))
    assert publish(shared_client, service) == "2"
    shared_client.delete_version(service, "2")
    set_code(shared_client, service, "fn", tagged("2"))
    assert publish(shared_client, service) == "3"
    shared_client.delete_version(service, "1")
    shared_client.delete_version(service, "3")
    assert version_ids(shared_client, service) == []
    set_code(shared_client, service, "fn", tagged("3"))
    assert publish(shared_client, service) == "4"
    assert version_ids(shared_client, service) == ["4"]
    for deleted in ("1", "2", "3"):
        with raises_fc(404, "VersionNotFound"):
            shared_client.get_service(service, qualifier=deleted)


def test_versions_and_aliases_outlive_a_restart(platform: PlatformProcess) -> None:
    client = fc2.Client(endpoint=platform.endpoint, accessKeyID="k", accessKeySecret="s")
    service = new_service(client)
    deploy(client, service, "fn", tagged("first"))
    publish(client, service, "kept")
    set_code(client, service, "fn", tagged("second"))
    publish(client, service)
    set_code(client, service, "fn", tagged("third"))
    alias = client.create_alias(service, "live", "1", additionalVersionWeight={"2": 0.5})
    client.update_alias(service, "live", "1", additionalVersionWeight={})
    client.delete_version(service, "2")
    etag = client.get_alias(service, "live").headers["etag"]

    platform.restart()
    [kept] = client.list_versions(service).data["versions"]
    assert (kept["versionId"], kept["description"]) == ("1", "kept")
    after = client.get_alias(service, "live")
    assert after.headers["etag"] == etag
    assert after.data["createdTime"] == alias.data["createdTime"]
    assert after.data["additionalVersionWeight"] == {}
    response = invoke(platform, service, "fn", "live")
    assert (answer(response)["tag"], ran_on(response)) == ("first", "1")
    assert answer(invoke(platform, service, "fn"))["tag"] == "third"
    # The deleted id stays used across the restart.
    assert publish(client, service) == "3"


def test_publishing_with_nothing_changed_is_refused(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("same"))
    assert publish(shared_client, service) == "1"
    with raises_fc(400, "ServiceNotModified"):
        publish(shared_client, service, "again")
    shared_client.update_function(service, "fn", description="changed")
    assert publish(shared_client, service) == "2"
    with raises_fc(400, "ServiceNotModified"):
        publish(shared_client, service)
    shared_client.update_service(service, description="service changed")
    assert publish(shared_client, service) == "3"
    set_code(shared_client, service, "fn", tagged("new code"))
    assert publish(shared_client, service) == "4"
    deploy(shared_client, service, "other", tagged("other"))
    assert publish(shared_client, service) == "5"
    with raises_fc(400, "ServiceNotModified"):
        publish(shared_client, service)
    # Compared with the newest version that exists: with 5 gone, LATEST differs from 4.
    shared_client.delete_version(service, "5")
    assert publish(shared_client, service) == "6"
    assert version_ids(shared_client, service) == ["6", "4", "3", "2", "1"]


def test_publish_of_a_missing_or_qualified_service(shared_platform: PlatformProcess,
                                                   shared_client: fc2.Client) -> None:
    with raises_fc(404, "ServiceNotFound"):
        publish(shared_client, unique("nosvc"))
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("x"))
    for name in (f"{service}.LATEST", f"{service}.1"):
        with raises_fc(400, "InvalidArgument"):
            publish(shared_client, name)
    assert version_ids(shared_client, service) == []
    response = httpx.post(f"{shared_platform.endpoint}{API}/services/{service}.LATEST/versions",
                          json={}, timeout=30)
    assert_fc_error(response, 400, "InvalidArgument")
    with raises_fc(404, "ServiceNotFound"):
        shared_client.list_versions(unique("nosvc"))


def test_listing_is_newest_first_forward_on_request_and_pages(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("v"))
    for number in range(1, 6):
        shared_client.update_function(service, "fn", description=f"d{number}")
        assert publish(shared_client, service, f"version {number}") == str(number)

    backward = shared_client.list_versions(service).data
    assert [v["versionId"] for v in backward["versions"]] == ["5", "4", "3", "2", "1"]
    assert [v["description"] for v in backward["versions"]] == [
        f"version {n}" for n in range(5, 0, -1)]
    assert backward["direction"] == "BACKWARD"
    assert not backward.get("nextToken")
    forward = shared_client.list_versions(service, direction="FORWARD").data
    assert [v["versionId"] for v in forward["versions"]] == ["1", "2", "3", "4", "5"]
    assert forward["direction"] == "FORWARD"
    assert version_ids(shared_client, service, direction="BACKWARD") == ["5", "4", "3", "2", "1"]

    def pages(direction: str) -> list[list[str]]:
        found: list[list[str]] = []
        token = None
        while len(found) < 10:
            page = shared_client.list_versions(service, limit=2, nextToken=token,
                                               direction=direction).data
            found.append([v["versionId"] for v in page["versions"]])
            token = page.get("nextToken")
            if not token:
                return found
            # The token is the id the next page starts at.
            assert token == str(int(found[-1][-1]) + (1 if direction == "FORWARD" else -1))
        raise AssertionError(f"endless pages: {found}")

    assert pages("BACKWARD") == [["5", "4"], ["3", "2"], ["1"]]
    assert pages("FORWARD") == [["1", "2"], ["3", "4"], ["5"]]
    assert version_ids(shared_client, service, startKey="3") == ["3", "2", "1"]
    assert version_ids(shared_client, service, startKey="3", direction="FORWARD") == [
        "3", "4", "5"]
    assert version_ids(shared_client, service, startKey="4", limit=1) == ["4"]

    response = httpx.get(f"{shared_platform.endpoint}{API}/services/{service}/versions",
                         params={"direction": "SIDEWAYS"}, timeout=30)
    assert_fc_error(response, 400, "InvalidArgument")
    with raises_fc(400, "InvalidArgument"):
        shared_client.list_versions(service, direction="UPWARD")


def test_a_version_an_alias_points_at_cannot_be_deleted(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("v"))
    for number in range(1, 4):
        shared_client.update_function(service, "fn", description=f"d{number}")
        publish(shared_client, service)
    shared_client.create_alias(service, "prod", "1", additionalVersionWeight={"2": 0.3})

    with raises_fc(400, "VersionInUse") as main:
        shared_client.delete_version(service, "1")
    assert "prod" in main.value.message
    with raises_fc(400, "VersionInUse") as weighted:
        shared_client.delete_version(service, "2")
    assert "prod" in weighted.value.message
    assert version_ids(shared_client, service) == ["3", "2", "1"]

    shared_client.delete_version(service, "3")
    assert version_ids(shared_client, service) == ["2", "1"]
    with raises_fc(404, "VersionNotFound"):
        shared_client.delete_version(service, "3")
    with raises_fc(404, "VersionNotFound"):
        shared_client.delete_version(service, "99")

    shared_client.update_alias(service, "prod", "2", additionalVersionWeight={})
    shared_client.delete_version(service, "1")
    with raises_fc(400, "VersionInUse"):
        shared_client.delete_version(service, "2")
    shared_client.delete_alias(service, "prod")
    shared_client.delete_version(service, "2")
    assert version_ids(shared_client, service) == []


def test_a_service_with_versions_or_aliases_cannot_be_deleted(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("v"))
    publish(shared_client, service)
    shared_client.create_alias(service, "live", "1")
    shared_client.delete_function(service, "fn")
    with raises_fc(400, "ServiceNotEmpty"):
        shared_client.delete_service(service)
    shared_client.delete_alias(service, "live")
    with raises_fc(400, "ServiceNotEmpty"):
        shared_client.delete_service(service)
    shared_client.get_service(service, qualifier="1")  # still there, whole
    shared_client.delete_version(service, "1")
    shared_client.delete_service(service)
    with raises_fc(404, "ServiceNotFound"):
        shared_client.get_service(service)


def test_a_service_recreated_under_its_name_starts_without_versions(
    shared_client: fc2.Client
) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("v"))
    publish(shared_client, service)
    shared_client.delete_version(service, "1")
    shared_client.delete_function(service, "fn")
    shared_client.delete_service(service)
    shared_client.create_service(service)
    assert version_ids(shared_client, service) == []
    with raises_fc(404, "VersionNotFound"):
        shared_client.get_service(service, qualifier="1")


def test_qualified_reads_of_unknown_qualifiers(shared_platform: PlatformProcess,
                                               shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("v"))
    publish(shared_client, service)
    reads: list[Callable[[str], object]] = [
        lambda q: shared_client.get_service(service, qualifier=q),
        lambda q: shared_client.get_function(service, "fn", qualifier=q),
        lambda q: shared_client.get_function_code(service, "fn", qualifier=q),
        lambda q: shared_client.list_functions(service, qualifier=q),
        lambda q: shared_client.invoke_function(service, "fn", qualifier=q),
    ]
    for read in reads:
        read("LATEST")
        read("1")
        with raises_fc(404, "VersionNotFound"):
            read("2")
        with raises_fc(404, "AliasNotFound"):
            read("nosuch")
    with raises_fc(404, "FunctionNotFound"):
        shared_client.get_function(service, "nope", qualifier="1")
    with raises_fc(404, "FunctionNotFound"):
        shared_client.get_function_code(service, "nope", qualifier="1")
    with raises_fc(404, "ServiceNotFound"):
        shared_client.get_service(unique("nosvc"), qualifier="1")


@pytest.mark.parametrize(("suffix", "code", "named"), [
    ("services/{s}.7", "VersionNotFound", "7"),
    ("services/{s}.7/functions", "VersionNotFound", "7"),
    ("services/{s}.7/functions/fn", "VersionNotFound", "7"),
    ("services/{s}.7/functions/fn/code", "VersionNotFound", "7"),
    ("services/{s}.ghost", "AliasNotFound", "ghost"),
    ("services/{s}.ghost/functions/fn", "AliasNotFound", "ghost"),
    ("services/{s}.1/functions/nope", "FunctionNotFound", "nope"),
    ("services/{s}/versions/7", "VersionNotFound", "7"),
    ("services/{s}/aliases/ghost", "AliasNotFound", "ghost"),
])
def test_errors_are_fc_error_bodies_naming_what_is_missing(
    shared_platform: PlatformProcess, shared_client: fc2.Client, suffix: str, code: str,
    named: str,
) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("v"))
    publish(shared_client, service)
    method = "DELETE" if suffix.endswith("/versions/7") else "GET"
    response = httpx.request(method, f"{shared_platform.endpoint}{API}/"
                             f"{suffix.format(s=service)}", timeout=30)
    body = assert_fc_error(response, 404, code)
    assert named in body["ErrorMessage"], body


def test_writes_through_a_qualified_name_are_refused(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", tagged("v"))
    publish(shared_client, service)
    shared_client.create_trigger(service, "fn", "kept", "http",
                                 {"authType": "anonymous", "methods": ["GET"]}, None, None)
    before = shared_client.get_function(service, "fn").headers["etag"]
    for name in (f"{service}.1", f"{service}.LATEST"):
        writes: list[Callable[[str], object]] = [
            lambda n: shared_client.update_service(n, description="x"),
            lambda n: shared_client.delete_service(n),
            lambda n: shared_client.update_function(n, "fn", description="x"),
            lambda n: shared_client.delete_function(n, "fn"),
            lambda n: shared_client.create_trigger(
                n, "fn", "web", "http", {"authType": "anonymous", "methods": ["GET"]},
                None, None),
            lambda n: shared_client.update_trigger(
                n, "fn", "kept", triggerConfig={"authType": "anonymous", "methods": ["POST"]}),
            lambda n: shared_client.delete_trigger(n, "fn", "kept"),
        ]
        for write in writes:
            with raises_fc(400, "InvalidArgument"):
                write(name)
        with raises_fc(400, "InvalidArgument"):
            deploy(shared_client, name, "other", tagged("v"))
    assert shared_client.get_function(service, "fn").headers["etag"] == before
    [trigger] = shared_client.list_triggers(service, "fn").data["triggers"]
    assert (trigger["triggerName"], trigger["triggerConfig"]["methods"]) == ("kept", ["GET"])
    url = f"{shared_platform.endpoint}{API}/services/{service}.1/functions/fn"
    assert_fc_error(httpx.put(url, json={"description": "x"}, timeout=30), 400, "InvalidArgument")
    assert_fc_error(httpx.delete(url, timeout=30), 400, "InvalidArgument")
