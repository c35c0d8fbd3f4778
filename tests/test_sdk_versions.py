"""The typed SDK's versions, aliases and qualified calls (fcompute.sdk) against a real platform."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fcompute.sdk import Alias, Client, FcApiError, Version, http_trigger_config
from tests.conftest import make_zip, unique, wait_for
from tests.platform_process import PlatformProcess

# The tag names the code in every answer, so a response proves which code ran.
CODE = """
import os

def handler(event, context):
    return "@TAG@|%s|%s|%s" % (context.service.qualifier, context.service.version_id,
                                os.environ.get("FC_QUALIFIER", ""))

def web(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"web:@TAG@"]
"""


def code(tag: str) -> bytes:
    return make_zip({"index.py": CODE.replace("@TAG@", tag)})


def tag_of(body: bytes) -> str:
    return body.decode().split("|")[0]


@pytest.fixture(scope="module")
def fc(shared_platform: PlatformProcess) -> Iterator[Client]:
    with Client(shared_platform.endpoint) as client:
        yield client


@pytest.fixture
def service(fc: Client) -> str:
    """A fresh service with function ``f`` running code ``v1``."""
    name = unique("ver")
    fc.create_service(name, description="first")
    fc.create_function(name, "f", handler="index.handler", code=code("v1"), memory_size=256)
    return name


@contextmanager
def expect_error(status: int, code: str) -> Iterator[pytest.ExceptionInfo[FcApiError]]:
    """The call raises FcApiError with this status and FC error code, and a request id."""
    with pytest.raises(FcApiError) as info:
        yield info
    assert (info.value.status, info.value.code) == (status, code), info.value
    assert info.value.request_id


def two_versions(fc: Client, service: str) -> tuple[Version, Version]:
    """Version 1 runs ``v1``; version 2 runs ``v2``, as LATEST does afterwards."""
    first = fc.publish_version(service, description="one")
    fc.update_function(service, "f", code=code("v2"))
    second = fc.publish_version(service)
    return first, second


def test_publish_list_page_and_delete(fc: Client, service: str) -> None:
    first = fc.publish_version(service, description="the first")
    assert isinstance(first, Version)
    assert (first.version_id, first.description) == ("1", "the first")
    assert first.created_time
    assert first.last_modified_time
    assert first.raw["versionId"] == "1"
    with pytest.raises(FcApiError) as unchanged:
        fc.publish_version(service)
    assert (unchanged.value.status, unchanged.value.code) == (400, "ServiceNotModified")

    for tag in ("v2", "v3"):
        fc.update_function(service, "f", code=code(tag))
        fc.publish_version(service)
    assert [v.version_id for v in fc.iter_versions(service)] == ["3", "2", "1"]
    assert [v.version_id for v in fc.iter_versions(service, direction="FORWARD")] == [
        "1", "2", "3"]
    assert [v.version_id for v in fc.iter_versions(service, page_size=1)] == ["3", "2", "1"]
    page = fc.list_versions(service, limit=2)
    assert [v.version_id for v in page.items] == ["3", "2"]
    assert page.next_token
    rest = fc.list_versions(service, limit=2, next_token=page.next_token)
    assert ([v.version_id for v in rest.items], rest.next_token) == (["1"], None)
    forward = fc.list_versions(service, direction="FORWARD", start_key=2)
    assert [v.version_id for v in forward.items] == ["2", "3"]  # the start key is inclusive
    assert [v.version_id for v in fc.iter_versions(
        service, direction="FORWARD", page_size=1, start_key="2")] == ["2", "3"]
    newest = fc.newest_version(service)
    assert newest is not None
    assert newest.version_id == "3"

    fc.delete_version(service, 3)
    with expect_error(404, "VersionNotFound"):
        fc.delete_version(service, "3")
    fc.update_function(service, "f", code=code("v4"))
    assert fc.publish_version(service).version_id == "4"  # ids are never reused
    assert [v.version_id for v in fc.iter_versions(service)] == ["4", "2", "1"]
    with expect_error(404, "ServiceNotFound"):
        fc.publish_version(unique("missing"))


def test_a_service_without_versions(fc: Client, service: str) -> None:
    assert fc.list_versions(service).items == []
    assert fc.newest_version(service) is None
    assert fc.list_aliases(service).items == []


def test_qualified_reads_show_the_snapshot(fc: Client, service: str) -> None:
    before = fc.get_function(service, "f")
    fc.publish_version(service)
    fc.update_service(service, description="second")
    fc.update_function(service, "f", code=code("v2"), memory_size=512)
    fc.create_function(service, "g", handler="index.handler", code=code("g1"))
    fc.create_alias(service, "prod", 1)

    for qualifier in ("1", "prod"):
        assert fc.get_service(service, qualifier=qualifier).description == "first"
        snapshot = fc.get_function(service, "f", qualifier=qualifier)
        assert (snapshot.memory_size, snapshot.code_checksum) == (256, before.code_checksum)
        assert fc.get_function_code(service, "f", qualifier=qualifier).checksum == (
            before.code_checksum)
        package = fc.download_function_code(service, "f", qualifier=qualifier)
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            assert '"v1|' in archive.read("index.py").decode()
        assert [f.name for f in fc.iter_functions(service, qualifier=qualifier)] == ["f"]
        with expect_error(404, "FunctionNotFound"):
            fc.get_function(service, "g", qualifier=qualifier)
    assert fc.get_service(service).description == "second"
    assert fc.get_function(service, "f", qualifier="LATEST").memory_size == 512
    assert [f.name for f in fc.list_functions(service, qualifier="LATEST").items] == ["f", "g"]
    with expect_error(404, "VersionNotFound"):
        fc.get_function(service, "f", qualifier="9")
    with expect_error(404, "AliasNotFound"):
        fc.list_functions(service, qualifier="nope")


def test_invoke_runs_the_qualified_code(fc: Client, service: str) -> None:
    two_versions(fc, service)
    fc.create_alias(service, "prod", "1")
    latest = fc.invoke(service, "f")
    assert (latest.text(), latest.service_version) == ("v2|LATEST||LATEST", "LATEST")
    one = fc.invoke(service, "f", qualifier="1")
    assert (one.text(), one.service_version) == ("v1|1|1|1", "1")
    prod = fc.invoke(service, "f", qualifier="prod")
    assert (prod.text(), prod.service_version) == ("v1|prod|1|prod", "1")

    fc.update_alias(service, "prod", version_id=2)
    moved = fc.invoke(service, "f", qualifier="prod")  # applies from the next request
    assert (tag_of(moved.body), moved.service_version) == ("v2", "2")
    with expect_error(404, "AliasNotFound"):
        fc.invoke(service, "f", qualifier="nope")
    with expect_error(404, "VersionNotFound"):
        fc.invoke(service, "f", qualifier="7")


def test_async_invocations_keep_qualifier_and_version(fc: Client, service: str) -> None:
    two_versions(fc, service)
    fc.create_alias(service, "prod", 1)
    invocation_id = fc.invoke_async(service, "f", "x", qualifier="prod")
    assert wait_for(lambda: fc.get_async_invocation(service, "f", invocation_id).finished,
                    timeout=20)
    record = fc.get_async_invocation(service, "f", invocation_id)
    assert (record.status, record.qualifier, record.version_id) == ("Succeeded", "prod", "1")
    assert record.return_payload == b"v1|prod|1|prod"
    assert record.version is not None
    assert record.version.version_id == "1"


def test_http_trigger_through_a_qualifier(fc: Client, service: str) -> None:
    fc.create_function(service, "web", handler="index.web", code=code("w1"))
    fc.create_trigger(service, "web", "http", "http", http_trigger_config(["GET"]))
    fc.publish_version(service)
    fc.update_function(service, "web", code=code("w2"))
    fc.create_alias(service, "prod", 1)
    old = fc.http_request("GET", service, "web", qualifier="prod")
    assert (old.status, old.text(), old.service_version) == (200, "web:w1", "1")
    new = fc.http_request("GET", service, "web")
    assert (new.text(), new.service_version) == ("web:w2", "LATEST")


def test_alias_lifecycle_etags_and_weights(fc: Client, service: str) -> None:
    two_versions(fc, service)
    created = fc.create_alias(service, "prod", 1, description="live",
                              additional_version_weight={2: 0.25})
    assert isinstance(created, Alias)
    assert (created.name, created.version_id, created.description) == ("prod", "1", "live")
    assert created.additional_version_weight == {"2": 0.25}
    assert created.etag
    assert created.created_time
    assert created.raw["aliasName"] == "prod"
    with expect_error(409, "AliasAlreadyExists"):
        fc.create_alias(service, "prod", 2)
    fetched = fc.get_alias(service, "prod")
    assert (fetched.etag, fetched.additional_version_weight) == (created.etag, {"2": 0.25})

    described = fc.update_alias(service, "prod", description="still live")
    # Left-out fields keep their values; every update changes the ETag.
    assert (described.version_id, described.additional_version_weight) == ("1", {"2": 0.25})
    assert described.etag != created.etag
    with expect_error(412, "PreconditionFailed"):
        fc.update_alias(service, "prod", version_id=2, if_match=created.etag)
    cleared = fc.update_alias(service, "prod", additional_version_weight={},
                              if_match=described.etag)
    assert (cleared.version_id, cleared.additional_version_weight) == ("1", {})
    assert cleared.description == "still live"

    with pytest.raises(FcApiError) as in_use:
        fc.delete_version(service, 1)
    assert (in_use.value.status, in_use.value.code) == (400, "VersionInUse")
    assert "prod" in in_use.value.message
    with expect_error(412, "PreconditionFailed"):
        fc.delete_alias(service, "prod", if_match=created.etag)
    fc.delete_alias(service, "prod", if_match=cleared.etag)
    with expect_error(404, "AliasNotFound"):
        fc.get_alias(service, "prod")
    with expect_error(404, "AliasNotFound"):
        fc.update_alias(service, "prod", version_id=1)
    fc.delete_version(service, 1)  # no alias uses it any more


@pytest.mark.parametrize(("version", "weights"), [
    (9, None),            # no such version
    (1, {2: 1.5}),        # above 1
    (1, {2: -0.1}),       # below 0
    (1, {1: 0.5}),        # the alias's own version
    (1, {8: 0.5}),        # no such version
])
def test_bad_alias_targets_are_invalid_arguments(
    fc: Client, service: str, version: int, weights: dict[int, float] | None
) -> None:
    two_versions(fc, service)
    with expect_error(400, "InvalidArgument"):
        fc.create_alias(service, "bad", version, additional_version_weight=weights)
    fc.create_alias(service, "good", 1)
    with expect_error(400, "InvalidArgument"):
        fc.update_alias(service, "good", version_id=version,
                        additional_version_weight=weights)
    assert fc.get_alias(service, "good").version_id == "1"  # a refused update changes nothing


def test_weighted_alias_splits_the_requests(fc: Client, service: str) -> None:
    two_versions(fc, service)
    fc.create_alias(service, "all-new", 1, additional_version_weight={2: 1.0})
    fc.create_alias(service, "none-new", 1, additional_version_weight={2: 0.0})
    fc.create_alias(service, "half", 1, additional_version_weight={"2": 0.5})
    assert {fc.invoke(service, "f", qualifier="all-new").service_version
            for _ in range(10)} == {"2"}
    assert {fc.invoke(service, "f", qualifier="none-new").service_version
            for _ in range(10)} == {"1"}
    ran = [fc.invoke(service, "f", qualifier="half") for _ in range(40)]
    # Each answer's version header and its code agree; 40 fair coin flips all alike: 2^-39.
    assert {(r.service_version, tag_of(r.body)) for r in ran} == {("1", "v1"), ("2", "v2")}


def test_listing_aliases_by_name_in_pages(fc: Client, service: str) -> None:
    fc.publish_version(service)
    for name in ("beta", "alpha", "gamma", "other"):
        fc.create_alias(service, name, 1)
    assert [a.name for a in fc.iter_aliases(service)] == ["alpha", "beta", "gamma", "other"]
    assert [a.name for a in fc.iter_aliases(service, page_size=1)] == [
        "alpha", "beta", "gamma", "other"]
    page = fc.list_aliases(service, limit=2)
    assert [a.name for a in page.items] == ["alpha", "beta"]
    assert page.next_token
    assert [a.name for a in fc.list_aliases(service, next_token=page.next_token).items] == [
        "gamma", "other"]
    assert [a.name for a in fc.list_aliases(service, start_key="beta").items] == [
        "beta", "gamma", "other"]
    assert [a.name for a in fc.iter_aliases(service, prefix="g")] == ["gamma"]


def test_a_service_with_versions_or_aliases_is_not_deleted(fc: Client, service: str) -> None:
    fc.publish_version(service)
    fc.create_alias(service, "prod", 1)
    fc.delete_function(service, "f")
    with expect_error(400, "ServiceNotEmpty"):
        fc.delete_service(service)
    fc.delete_alias(service, "prod")
    with expect_error(400, "ServiceNotEmpty"):
        fc.delete_service(service)
    fc.delete_version(service, 1)
    fc.delete_service(service)


def test_malformed_names_are_refused_before_sending(fc: Client, service: str) -> None:
    for call in (lambda: fc.delete_version(service, "1/x"),
                 lambda: fc.get_alias(service, "a/b"),
                 lambda: fc.get_function(service, "f", qualifier="a/b"),
                 lambda: fc.invoke(f"{service}.1", "f", qualifier="2")):
        with pytest.raises(ValueError, match=r"version id|alias name|cannot qualify"):
            call()
