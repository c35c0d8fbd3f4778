"""Services through the official SDK, plus raw checks of the error format of the whole API."""

from __future__ import annotations

import fc2
import httpx
import pytest

from tests.conftest import API, assert_fc_error, deploy, raises_fc, unique
from tests.platform_process import PlatformProcess

HANDLER = {"index.py": "def handler(event, context):\n    return event\n"}


def test_create_service_returns_fields_and_defaults(shared_client: fc2.Client) -> None:
    name = unique("svc")
    created = shared_client.create_service(name, description="first service")
    data = created.data
    assert data["serviceName"] == name
    assert data["description"] == "first service"
    assert data["serviceId"]
    assert data["createdTime"]
    assert data["lastModifiedTime"]
    assert "logConfig" in data
    assert "role" in data
    assert data["internetAccess"] is True
    assert created.headers["etag"]

    fetched = shared_client.get_service(name)
    assert fetched.data == data
    assert fetched.headers["etag"] == created.headers["etag"]


def test_create_service_keeps_optional_fields(shared_client: fc2.Client) -> None:
    name = unique("svc")
    log_config = {"project": "proj", "logstore": "store"}
    data = shared_client.create_service(
        name, logConfig=log_config, role="acs:ram::123:role/fc", internetAccess=False,
    ).data
    assert data["logConfig"]["project"] == "proj"
    assert data["logConfig"]["logstore"] == "store"
    assert data["role"] == "acs:ram::123:role/fc"
    assert data["internetAccess"] is False
    assert shared_client.get_service(name).data["internetAccess"] is False


def test_update_service_changes_etag_every_time(shared_client: fc2.Client) -> None:
    name = unique("svc")
    created = shared_client.create_service(name, description="v0")
    etags = [created.headers["etag"]]
    for version in ("v1", "v2"):
        updated = shared_client.update_service(name, description=version)
        assert updated.data["description"] == version
        assert updated.data["serviceId"] == created.data["serviceId"]
        assert updated.data["createdTime"] == created.data["createdTime"]
        assert updated.data["lastModifiedTime"] >= created.data["lastModifiedTime"]
        assert updated.headers["etag"]
        etags.append(updated.headers["etag"])
    assert len(set(etags)) == 3
    assert shared_client.get_service(name).headers["etag"] == etags[-1]
    # Fields not sent stay as they were.
    shared_client.update_service(name, internetAccess=False)
    assert shared_client.get_service(name).data["description"] == "v2"


def test_if_match_guards_update_and_delete(shared_client: fc2.Client) -> None:
    name = unique("svc")
    etag = shared_client.create_service(name).headers["etag"]
    with raises_fc(412, "PreconditionFailed"):
        shared_client.update_service(name, description="x", headers={"if-match": "wrong"})
    with raises_fc(412, "PreconditionFailed"):
        shared_client.delete_service(name, headers={"if-match": "wrong"})
    assert shared_client.get_service(name).data["description"] == ""

    etag = shared_client.update_service(
        name, description="ok", headers={"if-match": etag}
    ).headers["etag"]
    with raises_fc(412, "PreconditionFailed"):  # the old ETag is stale now
        shared_client.delete_service(name, headers={"if-match": "wrong" + etag})
    shared_client.delete_service(name, headers={"if-match": etag})
    with raises_fc(404, "ServiceNotFound"):
        shared_client.get_service(name)


def test_delete_service_answers_204(shared_platform: PlatformProcess,
                                    shared_client: fc2.Client) -> None:
    name = unique("svc")
    shared_client.create_service(name)
    response = httpx.delete(f"{shared_platform.endpoint}{API}/services/{name}")
    assert response.status_code == 204
    assert response.headers["x-fc-request-id"]
    assert_fc_error(httpx.get(f"{shared_platform.endpoint}{API}/services/{name}"),
                    404, "ServiceNotFound")


def test_missing_service_is_404(shared_client: fc2.Client) -> None:
    name = unique("nosuch")
    with raises_fc(404, "ServiceNotFound"):
        shared_client.get_service(name)
    with raises_fc(404, "ServiceNotFound"):
        shared_client.update_service(name, description="x")
    with raises_fc(404, "ServiceNotFound"):
        shared_client.delete_service(name)
    with raises_fc(404, "ServiceNotFound"):
        shared_client.list_functions(name)


def test_duplicate_service_is_409(shared_client: fc2.Client) -> None:
    name = unique("svc")
    shared_client.create_service(name)
    with raises_fc(409, "ServiceAlreadyExists"):
        shared_client.create_service(name)


def test_delete_service_refused_while_it_has_functions(shared_client: fc2.Client) -> None:
    name = unique("svc")
    deploy(shared_client, name, "fn", HANDLER)
    with raises_fc(400, "ServiceNotEmpty"):
        shared_client.delete_service(name)
    assert shared_client.get_service(name).data["serviceName"] == name
    shared_client.delete_function(name, "fn")
    shared_client.delete_service(name)
    with raises_fc(404, "ServiceNotFound"):
        shared_client.get_service(name)


@pytest.mark.parametrize("name", [
    "with.dot", "1starts-with-digit", "-dash-first", "has space", "a" * 129, "slash/in", "",
    "ünicode",
])
def test_invalid_service_names_are_refused(shared_client: fc2.Client, name: str) -> None:
    with raises_fc(400, "InvalidArgument") as info:
        shared_client.create_service(name)
    assert "serviceName" in info.value.message


def test_longest_valid_service_name_is_accepted(shared_client: fc2.Client) -> None:
    name = unique("s").ljust(128, "_")
    assert len(name) == 128
    assert shared_client.create_service(name).data["serviceName"] == name


def test_list_services_pages_with_limit_next_token_and_prefix(shared_client: fc2.Client) -> None:
    prefix = unique("page") + "_"
    names = sorted(f"{prefix}{i:02d}" for i in range(7))
    for name in names:
        shared_client.create_service(name)
    # Names that share part of the prefix must not show up ('_' is no wildcard).
    shared_client.create_service(prefix[:-1] + "x00")
    shared_client.create_service(prefix[:-1])

    seen: list[str] = []
    pages = 0
    token = None
    while True:
        data = shared_client.list_services(limit=3, prefix=prefix, nextToken=token).data
        pages += 1
        assert len(data["services"]) <= 3
        seen += [s["serviceName"] for s in data["services"]]
        token = data.get("nextToken")
        if not token:
            break
        assert pages < 10
    assert seen == names
    assert pages == 3

    everything = shared_client.list_services(prefix=prefix).data
    assert [s["serviceName"] for s in everything["services"]] == names
    assert not everything.get("nextToken")
    # startKey starts the listing at a given name.
    data = shared_client.list_services(prefix=prefix, startKey=names[5]).data
    assert [s["serviceName"] for s in data["services"]] == names[5:]


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "limit=101", "limit=-1"])
def test_list_with_bad_limit_is_invalid_argument(
    shared_platform: PlatformProcess, query: str
) -> None:
    response = httpx.get(f"{shared_platform.endpoint}{API}/services?{query}")
    assert_fc_error(response, 400, "InvalidArgument")


# Raw checks of the error format: a sample of user errors across the API. None may be a 5xx.

BAD_REQUESTS: list[tuple[str, str, bytes, int, str]] = [
    ("GET", "/", b"", 404, "ResourceNotFound"),
    ("GET", "/nothing/here", b"", 404, "ResourceNotFound"),
    ("GET", f"{API}/no-such-collection", b"", 404, "ResourceNotFound"),
    ("GET", f"{API}/services/a/functions/b/c/d", b"", 404, "ResourceNotFound"),
    ("PATCH", f"{API}/services", b"{}", 405, "MethodNotAllowed"),
    ("DELETE", f"{API}/services", b"", 405, "MethodNotAllowed"),
    ("POST", f"{API}/services/x", b"{}", 405, "MethodNotAllowed"),
    ("PUT", f"{API}/services/x/functions", b"{}", 405, "MethodNotAllowed"),
    ("POST", f"{API}/services", b"{not json", 400, "InvalidArgument"),
    ("POST", f"{API}/services", b"\xff\xfe\x00", 400, "InvalidArgument"),
    ("POST", f"{API}/services", b"[1, 2]", 400, "InvalidArgument"),
    ("POST", f"{API}/services", b'"text"', 400, "InvalidArgument"),
    ("POST", f"{API}/services", b"", 400, "InvalidArgument"),
    ("POST", f"{API}/services", b'{"serviceName": 5}', 400, "InvalidArgument"),
    ("POST", f"{API}/services", b'{"serviceName": ["a"]}', 400, "InvalidArgument"),
    ("POST", f"{API}/services", b'{"serviceName": "ok-{U}", "internetAccess": "yes"}', 400,
     "InvalidArgument"),
    ("POST", f"{API}/services", b'{"serviceName": "ok-{U}", "logConfig": "x"}', 400,
     "InvalidArgument"),
    ("POST", f"{API}/services", b'{"serviceName": "ok-{U}", "description": 7}', 400,
     "InvalidArgument"),
    ("GET", f"{API}/services/nosuch-{{U}}", b"", 404, "ServiceNotFound"),
    ("GET", f"{API}/services/nosuch-{{U}}/functions/f", b"", 404, "ServiceNotFound"),
    ("POST", f"{API}/services/nosuch-{{U}}/functions/f/invocations", b"", 404, "ServiceNotFound"),
    ("GET", f"{API}/services/nosuch-{{U}}/functions/f/triggers", b"", 404, "ServiceNotFound"),
    ("PUT", f"{API}/services/nosuch-{{U}}.1", b"{}", 400, "InvalidArgument"),
    ("GET", f"{API}/services/nosuch-{{U}}.7", b"", 404, "ServiceNotFound"),
    ("GET", f"{API}/services/nosuch-{{U}}.prod", b"", 404, "ServiceNotFound"),
    ("GET", f"{API}/proxy/nosuch-{{U}}/f/path", b"", 404, "ServiceNotFound"),
    ("GET", f"{API}/code/{'0' * 64}.zip?Expires=1&Signature=bad", b"", 403, "AccessDenied"),
    ("GET", f"{API}/code/{'0' * 64}.zip", b"", 403, "AccessDenied"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), BAD_REQUESTS,
                         ids=[f"{m} {p[:60]} {b[:20]!r}" for m, p, b, _, _ in BAD_REQUESTS])
def test_user_errors_have_fc_error_bodies(
    shared_platform: PlatformProcess, method: str, path: str, body: bytes, status: int, code: str,
) -> None:
    marker = unique("u")
    path = path.replace("{U}", marker)
    body = body.replace(b"{U}", marker.encode())
    response = httpx.request(method, f"{shared_platform.endpoint}{path}", content=body,
                             headers={"content-type": "application/json"})
    assert_fc_error(response, status, code)


def test_oversized_management_body_is_413(shared_platform: PlatformProcess) -> None:
    # Declared length over the limit: refused before the body is read.
    response = httpx.post(
        f"{shared_platform.endpoint}{API}/services", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
    )
    assert_fc_error(response, 413, "EntityTooLarge")
