"""Aliases: create, read, update under If-Match, delete, list, validation, and when a
change takes effect."""

from __future__ import annotations

from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import API, assert_fc_error, deploy, raises_fc, unique
from tests.platform_process import PlatformProcess
from tests.versions_helpers import answer, invoke, publish, ran_on, set_code, tagged

ALIAS_FIELDS = {"aliasName", "versionId", "description", "additionalVersionWeight",
                "createdTime", "lastModifiedTime"}


def service_with_versions(client: fc2.Client, count: int) -> str:
    """A service whose version n runs code tagged ``v<n>``."""
    service = unique("als")
    deploy(client, service, "fn", tagged("v1"))
    for number in range(1, count + 1):
        if number > 1:
            set_code(client, service, "fn", tagged(f"v{number}"))
        assert publish(client, service) == str(number)
    return service


def test_create_get_update_delete(shared_client: fc2.Client) -> None:
    service = service_with_versions(shared_client, 3)
    created = shared_client.create_alias(service, "prod", "1", description="production")
    alias = created.data
    assert set(alias) >= ALIAS_FIELDS
    assert (alias["aliasName"], alias["versionId"], alias["description"]) == (
        "prod", "1", "production")
    assert alias["additionalVersionWeight"] == {}
    assert alias["createdTime"]
    assert alias["lastModifiedTime"]
    etags = [created.headers["etag"]]
    assert etags[0]

    got = shared_client.get_alias(service, "prod")
    assert got.data == alias
    assert got.headers["etag"] == etags[0]
    with raises_fc(409, "AliasAlreadyExists"):
        shared_client.create_alias(service, "prod", "2")
    assert shared_client.get_alias(service, "prod").data["versionId"] == "1"

    # Each update under a matching If-Match; a stale one is refused and changes nothing.
    moved = shared_client.update_alias(service, "prod", "2", headers={"if-match": etags[-1]})
    assert moved.data["versionId"] == "2"
    assert moved.data["description"] == "production"  # left out: kept
    assert moved.data["createdTime"] == alias["createdTime"]
    assert moved.headers["etag"] not in etags
    etags.append(moved.headers["etag"])
    with raises_fc(412, "PreconditionFailed"):
        shared_client.update_alias(service, "prod", "3", headers={"if-match": etags[0]})
    assert shared_client.get_alias(service, "prod").data["versionId"] == "2"
    assert shared_client.get_alias(service, "prod").headers["etag"] == etags[-1]

    weighted = shared_client.update_alias(service, "prod", "2",
                                          additionalVersionWeight={"3": 0.25},
                                          headers={"if-match": etags[-1]})
    assert weighted.data["additionalVersionWeight"] == {"3": 0.25}
    assert weighted.headers["etag"] not in etags
    etags.append(weighted.headers["etag"])

    # Only a description: version and weights stay.
    described = shared_client.update_alias(service, "prod", None, description="renamed")
    assert described.data["description"] == "renamed"
    assert described.data["versionId"] == "2"
    assert described.data["additionalVersionWeight"] == {"3": 0.25}
    assert described.headers["etag"] not in etags
    etags.append(described.headers["etag"])

    # Only a version: the weights stay too.
    kept = shared_client.update_alias(service, "prod", "1")
    assert kept.data["additionalVersionWeight"] == {"3": 0.25}
    assert kept.data["description"] == "renamed"
    assert kept.headers["etag"] not in etags
    etags.append(kept.headers["etag"])

    cleared = shared_client.update_alias(service, "prod", None, additionalVersionWeight={})
    assert cleared.data["additionalVersionWeight"] == {}
    assert cleared.data["versionId"] == "1"
    assert cleared.headers["etag"] not in etags
    etags.append(cleared.headers["etag"])
    assert shared_client.get_alias(service, "prod").data == cleared.data

    with raises_fc(412, "PreconditionFailed"):
        shared_client.delete_alias(service, "prod", headers={"if-match": etags[0]})
    shared_client.get_alias(service, "prod")
    shared_client.delete_alias(service, "prod", headers={"if-match": etags[-1]})
    with raises_fc(404, "AliasNotFound"):
        shared_client.get_alias(service, "prod")
    with raises_fc(404, "AliasNotFound"):
        shared_client.delete_alias(service, "prod")
    with raises_fc(404, "AliasNotFound"):
        shared_client.update_alias(service, "prod", "1")
    # The name is free again.
    assert shared_client.create_alias(service, "prod", "3").data["versionId"] == "3"


def test_wire_shapes(shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    service = service_with_versions(shared_client, 2)
    base = f"{shared_platform.endpoint}{API}/services/{service}/aliases"
    created = httpx.post(base, json={"aliasName": "raw", "versionId": "1",
                                     "additionalVersionWeight": {"2": 0.5}}, timeout=30)
    assert created.status_code == 200, created.text
    assert created.headers["etag"]
    assert created.json()["description"] == ""
    assert created.json()["additionalVersionWeight"] == {"2": 0.5}
    stale = httpx.put(f"{base}/raw", json={"versionId": "2", "additionalVersionWeight": {}},
                      headers={"if-match": '"not-the-etag"'}, timeout=30)
    assert_fc_error(stale, 412, "PreconditionFailed")
    deleted = httpx.delete(f"{base}/raw", headers={"if-match": created.headers["etag"]},
                           timeout=30)
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    body = assert_fc_error(httpx.get(f"{base}/raw", timeout=30), 404, "AliasNotFound")
    assert "raw" in body["ErrorMessage"]
    missing = httpx.get(f"{shared_platform.endpoint}{API}/services/{unique('no')}/aliases",
                        timeout=30)
    assert_fc_error(missing, 404, "ServiceNotFound")


def test_listing_by_name_with_prefix_and_pages(shared_client: fc2.Client) -> None:
    service = service_with_versions(shared_client, 1)
    names = ["a_1", "a_2", "a_3", "a_4", "b", "c-x"]
    for name in reversed(names):
        shared_client.create_alias(service, name, "1")

    everything = shared_client.list_aliases(service).data
    assert [a["aliasName"] for a in everything["aliases"]] == names
    assert not everything.get("nextToken")
    assert all(set(a) >= ALIAS_FIELDS for a in everything["aliases"])

    seen: list[list[str]] = []
    token = None
    while len(seen) < 10:
        page = shared_client.list_aliases(service, limit=2, prefix="a_", nextToken=token).data
        seen.append([a["aliasName"] for a in page["aliases"]])
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [["a_1", "a_2"], ["a_3", "a_4"]] or seen == [["a_1", "a_2"], ["a_3", "a_4"],
                                                                 []]
    started = shared_client.list_aliases(service, startKey="a_3").data["aliases"]
    assert [a["aliasName"] for a in started] == ["a_3", "a_4", "b", "c-x"]
    assert shared_client.list_aliases(service, prefix="zz").data["aliases"] == []


@pytest.mark.parametrize("name", ["_x", "A", "a-b_9", "x" * 128, "latest"])
def test_alias_names_that_are_allowed(shared_client: fc2.Client, name: str) -> None:
    service = service_with_versions(shared_client, 1)
    assert shared_client.create_alias(service, name, "1").data["aliasName"] == name
    assert shared_client.get_alias(service, name).data["versionId"] == "1"


BAD_NAMES = ["9lives", "-dash", "a.b", "has space", "x" * 129, "LATEST", "", "é"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[:20] for n in BAD_NAMES])
def test_alias_names_that_are_refused(shared_platform: PlatformProcess,
                                      shared_client: fc2.Client, name: str) -> None:
    service = service_with_versions(shared_client, 1)
    response = httpx.post(f"{shared_platform.endpoint}{API}/services/{service}/aliases",
                          json={"aliasName": name, "versionId": "1"}, timeout=30)
    assert_fc_error(response, 400, "InvalidArgument")
    assert shared_client.list_aliases(service).data["aliases"] == []


# (versionId, additionalVersionWeight) that name something wrong; versions 1..3 exist.
BAD_TARGETS: list[tuple[str, Any, str]] = [
    ("99", None, "a missing version"),
    ("0", None, "version zero"),
    ("LATEST", None, "LATEST is no version"),
    ("1", {"2": 1.5}, "weight above 1"),
    ("1", {"2": -0.1}, "negative weight"),
    ("1", {"2": "0.5"}, "weight as a string"),
    ("1", {"2": None}, "weight null"),
    ("1", {"2": True}, "weight as a boolean"),
    ("1", {"1": 0.2}, "weight on the alias's own version"),
    ("1", {"99": 0.1}, "weight on a missing version"),
    ("1", {"2": 0.6, "3": 0.5}, "weights summing above 1"),
    ("1", ["2"], "weights not an object"),
]


@pytest.mark.parametrize(("version", "weights", "case"), BAD_TARGETS,
                         ids=[case for _, _, case in BAD_TARGETS])
def test_bad_targets_are_invalid_arguments_on_create_and_update(
    shared_platform: PlatformProcess, shared_client: fc2.Client, version: str, weights: Any,
    case: str,
) -> None:
    service = service_with_versions(shared_client, 3)
    base = f"{shared_platform.endpoint}{API}/services/{service}/aliases"
    body: dict[str, Any] = {"aliasName": "bad", "versionId": version}
    if weights is not None:
        body["additionalVersionWeight"] = weights
    assert_fc_error(httpx.post(base, json=body, timeout=30), 400, "InvalidArgument")
    with raises_fc(404, "AliasNotFound"):
        shared_client.get_alias(service, "bad")

    good = shared_client.create_alias(service, "good", "3")
    update = {k: v for k, v in body.items() if k != "aliasName"}
    assert_fc_error(httpx.put(f"{base}/good", json=update, timeout=30), 400, "InvalidArgument")
    after = shared_client.get_alias(service, "good")
    assert after.data == good.data
    assert after.headers["etag"] == good.headers["etag"]


def test_an_alias_needs_its_name_and_version(shared_platform: PlatformProcess,
                                             shared_client: fc2.Client) -> None:
    service = service_with_versions(shared_client, 1)
    base = f"{shared_platform.endpoint}{API}/services/{service}/aliases"
    for body in ({"aliasName": "x"}, {"versionId": "1"}, {"aliasName": 5, "versionId": "1"},
                 {"aliasName": "x", "versionId": None}):
        assert_fc_error(httpx.post(base, json=body, timeout=30), 400, "InvalidArgument")
    assert_fc_error(httpx.post(base, content=b"[]", timeout=30), 400, "InvalidArgument")
    with raises_fc(404, "ServiceNotFound"):
        shared_client.create_alias(unique("nosvc"), "x", "1")


@pytest.mark.parametrize("weights", [{"2": 1.0}, {"2": 0.0}, {"2": 0.5, "3": 0.5}, {"2": 1}])
def test_weights_at_the_bounds_are_accepted(shared_client: fc2.Client,
                                            weights: dict[str, float]) -> None:
    service = service_with_versions(shared_client, 3)
    alias = shared_client.create_alias(service, "edge", "1", additionalVersionWeight=weights)
    assert alias.data["additionalVersionWeight"] == weights


def test_an_alias_change_applies_from_the_next_request(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = service_with_versions(shared_client, 2)
    shared_client.create_alias(service, "live", "1")
    first = invoke(shared_platform, service, "fn", "live")
    assert (answer(first)["tag"], ran_on(first)) == ("v1", "1")
    for round_number in range(4):
        target = "2" if round_number % 2 == 0 else "1"
        shared_client.update_alias(service, "live", target)
        response = invoke(shared_platform, service, "fn", "live")
        assert (answer(response)["tag"], ran_on(response)) == (f"v{target}", target)
        checksum = shared_client.get_function(service, "fn", qualifier="live").data[
            "codeChecksum"]
        assert checksum == shared_client.get_function(service, "fn", qualifier=target).data[
            "codeChecksum"]

    # A weight of 1 sends every request to the additional version, from the next one on.
    shared_client.update_alias(service, "live", "1", additionalVersionWeight={"2": 1.0})
    for _ in range(5):
        assert ran_on(invoke(shared_platform, service, "fn", "live")) == "2"
    shared_client.update_alias(service, "live", "1", additionalVersionWeight={})
    for _ in range(5):
        assert ran_on(invoke(shared_platform, service, "fn", "live")) == "1"

    shared_client.delete_alias(service, "live")
    assert_fc_error(invoke(shared_platform, service, "fn", "live"), 404, "AliasNotFound")
    shared_client.create_alias(service, "live", "2")
    assert ran_on(invoke(shared_platform, service, "fn", "live")) == "2"


def test_what_a_trigger_names_cannot_be_deleted_while_it_does(
    shared_client: fc2.Client,
) -> None:
    service = service_with_versions(shared_client, 2)
    shared_client.create_alias(service, "prod", "1")
    http = {"authType": "anonymous", "methods": ["GET"]}
    shared_client.create_trigger(service, "fn", "web", "http", http, None, None)
    shared_client.update_trigger(service, "fn", "web", qualifier="prod")
    with raises_fc(400, "AliasInUse") as refused:
        shared_client.delete_alias(service, "prod")
    assert "trigger 'web'" in refused.value.message
    assert shared_client.get_alias(service, "prod").data["versionId"] == "1"
    shared_client.update_trigger(service, "fn", "web", qualifier="2")
    with raises_fc(400, "VersionInUse"):
        shared_client.delete_version(service, "2")
    # Pointed elsewhere, both can go.
    shared_client.update_trigger(service, "fn", "web", qualifier="LATEST")
    shared_client.delete_alias(service, "prod")
    shared_client.delete_version(service, "2")


def test_a_trigger_naming_a_version_with_leading_zeros_names_that_version(
    shared_client: fc2.Client,
) -> None:
    service = service_with_versions(shared_client, 2)
    http = {"authType": "anonymous", "methods": ["GET"]}
    created = shared_client.create_trigger(service, "fn", "web", "http", http, None, None)
    assert created.data["qualifier"] is None
    updated = shared_client.update_trigger(service, "fn", "web", qualifier="002")
    assert updated.data["qualifier"] == "2"
    with raises_fc(400, "VersionInUse"):
        shared_client.delete_version(service, "2")
