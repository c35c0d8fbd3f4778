"""The typed SDK (fcompute.sdk) against a real platform."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fcompute.sdk import (
    Client,
    FcApiError,
    FcConnectionError,
    FcTimeoutError,
    http_trigger_config,
    zip_directory,
)
from tests.conftest import make_zip, unique, wait_for, write_code
from tests.platform_process import PlatformProcess, free_port

KEYS = {"FCOMPUTE_ACCESS_KEY_ID": "sdk-key", "FCOMPUTE_ACCESS_KEY_SECRET": "sdk-secret"}
CODE = {"index.py": """
    import time

    def handler(event, context):
        print("handling", context.request_id)
        return b"echo:" + event

    def boom(event, context):
        raise ValueError("bad input")

    def record(event, context):
        print("recorded", event.decode(), "in", context.request_id)
        return b"done"

    def slow(event, context):
        time.sleep(3)
        return b"late"

    def web(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        text = "%s %s?%s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"],
                                environ["QUERY_STRING"], body.decode())
        start_response("201 Created", [("Content-Type", "text/plain"),
                                       ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        return [text.encode()]
"""}


def function_log(platform: PlatformProcess, service: str, function: str) -> str:
    """The function's log file, where the platform documents it (docs/operations.md)."""
    path = platform.data_dir / "logs" / service / f"{function}.log"
    return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module")
def fc(shared_platform: PlatformProcess) -> Iterator[Client]:
    with Client(shared_platform.endpoint) as client:
        yield client


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    return write_code(tmp_path / "code", CODE)


@pytest.fixture
def service(fc: Client) -> str:
    name = unique("sdk")
    fc.create_service(name)
    return name


def test_service_lifecycle_and_errors(fc: Client) -> None:
    name = unique("svc")
    created = fc.create_service(name, description="first", internet_access=False)
    assert (created.name, created.description, created.internet_access) == (name, "first", False)
    assert created.id
    assert created.etag
    assert created.created_time
    fetched = fc.get_service(name)
    assert fetched.id == created.id
    assert fetched.raw["serviceName"] == name
    updated = fc.update_service(name, description="second")
    assert updated.description == "second"
    assert updated.etag != created.etag
    assert updated.internet_access is False  # untouched fields stay as they were
    with pytest.raises(FcApiError) as stale:
        fc.update_service(name, description="third", if_match=created.etag)
    assert (stale.value.status, stale.value.code) == (412, "PreconditionFailed")
    fc.delete_service(name)
    with pytest.raises(FcApiError) as missing:
        fc.get_service(name)
    error = missing.value
    assert (error.status, error.code) == (404, "ServiceNotFound")
    assert name in error.message
    assert error.request_id
    with pytest.raises(FcApiError) as duplicate:
        fc.create_service("x.y")
    assert duplicate.value.code == "InvalidArgument"


def test_listing_pages_and_iterator(fc: Client) -> None:
    prefix = unique("page")
    names = sorted(f"{prefix}-{i}" for i in range(5))
    for name in names:
        fc.create_service(name)
    first = fc.list_services(prefix=prefix, limit=2)
    assert [s.name for s in first.items] == names[:2]
    assert first.next_token
    second = fc.list_services(prefix=prefix, limit=2, next_token=first.next_token)
    assert [s.name for s in second.items] == names[2:4]
    assert [s.name for s in fc.iter_services(prefix=prefix, page_size=2)] == names
    assert [s.name for s in fc.iter_services(prefix=prefix)] == names


def test_function_from_directory_then_zip_bytes(fc: Client, service: str, code_dir: Path) -> None:
    created = fc.create_function(service, "f", handler="index.handler", code=code_dir,
                                 memory_size=512, timeout=5, environment={"A": "1"},
                                 description="from a directory")
    assert (created.handler, created.runtime, created.memory_size, created.timeout) == (
        "index.handler", "python3", 512, 5)
    assert created.environment == {"A": "1"}
    assert created.code_checksum
    assert created.code_size > 0
    code = fc.get_function_code(service, "f")
    assert code.checksum == created.code_checksum
    with zipfile.ZipFile(io.BytesIO(fc.download_function_code(service, "f"))) as archive:
        assert "def boom" in archive.read("index.py").decode()

    updated = fc.update_function(service, "f", code=make_zip({"index.py": """
        def handler(event, context):
            return b"v2"
    """}), environment={})
    assert updated.code_checksum != created.code_checksum
    assert updated.environment == {}
    assert updated.memory_size == 512  # not sent, so unchanged
    assert fc.invoke(service, "f").body == b"v2"

    assert [f.name for f in fc.iter_functions(service)] == ["f"]
    assert fc.get_function(service, "f").etag == updated.etag
    fc.delete_function(service, "f")
    assert fc.list_functions(service).items == []


def test_zip_directory_is_reproducible_and_skips_caches(tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", {"b.py": "x = 1\n", "pkg/a.py": "y = 2\n",
                                          "__pycache__/b.cpython-311.pyc": "junk"})
    (code / "run.sh").write_text("#!/bin/sh\n")
    (code / "run.sh").chmod(0o755)
    first = zip_directory(code)
    (code / "b.py").touch()  # a new mtime alone must not change the package
    assert zip_directory(code) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["b.py", "pkg/a.py", "run.sh"]
        assert (archive.getinfo("run.sh").external_attr >> 16) & 0o111
    with pytest.raises(NotADirectoryError):
        zip_directory(code / "b.py")


def test_invoke_returns_body_headers_and_log_tail(
    fc: Client, service: str, code_dir: Path
) -> None:
    function = fc.create_function(service, "echo", handler="index.handler", code=code_dir)
    result = fc.invoke(service, "echo", {"name": "you"}, log_tail=True)
    assert result.ok
    assert result.body == b'echo:{"name": "you"}'
    assert result.request_id
    assert result.headers["x-fc-request-id"] == result.request_id
    assert result.code_checksum == function.code_checksum
    assert result.log_tail is not None
    assert f"handling {result.request_id}" in result.log_tail
    assert f"FC Invoke End RequestId: {result.request_id}" in result.log_tail
    quiet = fc.invoke(service, "echo", b"raw bytes")
    assert quiet.body == b"echo:raw bytes"
    assert quiet.log_tail is None
    assert not quiet.cold_start  # the first invocation left a warm instance


def test_function_error_is_returned_not_raised(fc: Client, service: str, code_dir: Path) -> None:
    fc.create_function(service, "boom", handler="index.boom", code=code_dir)
    result = fc.invoke(service, "boom", "x")
    assert not result.ok
    assert result.error is not None
    assert (result.error.type, result.error.message) == ("ValueError", "bad input")
    assert any("raise ValueError" in line for line in result.error.stack_trace)
    assert result.request_id


def test_invoke_async_returns_request_id_and_runs(
    fc: Client, service: str, code_dir: Path, shared_platform: PlatformProcess
) -> None:
    fc.create_function(service, "record", handler="index.record", code=code_dir)
    request_id = fc.invoke_async(service, "record", "later")
    assert request_id
    assert wait_for(lambda: f"recorded later in {request_id}" in function_log(
        shared_platform, service, "record"), timeout=15)


def test_invoke_of_missing_function_raises(fc: Client, service: str) -> None:
    with pytest.raises(FcApiError) as info:
        fc.invoke(service, "nope")
    assert (info.value.status, info.value.code) == (404, "FunctionNotFound")


def test_triggers_and_http_requests(fc: Client, service: str, code_dir: Path) -> None:
    fc.create_function(service, "web", handler="index.web", code=code_dir)
    trigger = fc.create_trigger(service, "web", "http", "http",
                                http_trigger_config(["GET"]), description="web")
    assert (trigger.type, trigger.config["authType"], trigger.source_arn) == (
        "http", "anonymous", None)
    assert fc.get_trigger(service, "web", "http").etag == trigger.etag
    assert [t.name for t in fc.iter_triggers(service, "web")] == ["http"]

    refused = fc.http_request("POST", service, "web", "/x")
    assert refused.status == 405  # only GET so far: an answer, not an exception
    updated = fc.update_trigger(service, "web", "http", config=http_trigger_config())
    assert updated.config["methods"] == ["GET", "POST", "PUT", "DELETE"]
    assert updated.etag != trigger.etag

    response = fc.http_request("POST", service, "web", "/a b/c", query={"q": "1 2"},
                               body="payload", headers={"content-type": "text/plain"})
    assert response.status == 201
    assert response.text() == "POST /a b/c?q=1+2 payload"
    assert response.request_id
    assert [v for k, v in response.header_list if k == "set-cookie"] == ["a=1", "b=2"]

    fc.delete_trigger(service, "web", "http")
    assert fc.list_triggers(service, "web").items == []
    assert fc.http_request("GET", service, "web").status == 404


def test_client_timeout_raises_timeout_error(fc: Client, service: str, code_dir: Path) -> None:
    fc.create_function(service, "slow", handler="index.slow", code=code_dir)
    with pytest.raises(FcTimeoutError) as info:
        fc.invoke(service, "slow", timeout=0.5)
    assert fc.endpoint in str(info.value)


def test_connection_refused_names_the_endpoint() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    with Client(endpoint) as client, pytest.raises(FcConnectionError) as info:
        client.list_services()
    assert not isinstance(info.value, FcTimeoutError)
    assert info.value.endpoint == endpoint
    assert str(info.value).startswith(f"cannot reach fcompute at {endpoint}")


def test_endpoint_without_scheme_is_http(shared_platform: PlatformProcess) -> None:
    bare = shared_platform.endpoint.removeprefix("http://")
    with Client(bare + "/") as client:
        assert client.endpoint == shared_platform.endpoint
        client.list_services(limit=1)


def test_keys_must_come_in_pairs() -> None:
    with pytest.raises(ValueError, match="both"):
        Client("http://127.0.0.1:9", access_key_id="only-id")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(tmp_path_factory.mktemp("sdk-keyed") / "data", env=KEYS).start()
    yield running
    running.stop()


def signed_client(platform: PlatformProcess, secret: str = KEYS["FCOMPUTE_ACCESS_KEY_SECRET"]
                  ) -> Client:
    return Client(platform.endpoint, KEYS["FCOMPUTE_ACCESS_KEY_ID"], secret)


def test_signed_requests_cover_every_kind_of_call(keyed: PlatformProcess, code_dir: Path) -> None:
    with signed_client(keyed) as fc:
        service = unique("signed")
        fc.create_service(service)
        # Listing with query parameters, invoke with x-fc-* headers, HTTP triggers with both.
        assert [s.name for s in fc.iter_services(prefix=service, page_size=1)] == [service]
        fc.create_function(service, "echo", handler="index.handler", code=code_dir)
        result = fc.invoke(service, "echo", "hi", log_tail=True, trace_id="trace-1")
        assert result.body == b"echo:hi"
        assert result.log_tail
        assert fc.invoke_async(service, "echo", "later")
        fc.create_function(service, "web", handler="index.web", code=code_dir)
        fc.create_trigger(service, "web", "http", "http",
                          http_trigger_config(auth_type="function"))
        # The signature covers the unescaped path and the sorted query pairs.
        response = fc.http_request("PUT", service, "web", "/p q", query=[("b", "2"), ("a", "1 x")],
                                   body=b"z")
        assert (response.status, response.text()) == (201, "PUT /p q?b=2&a=1+x z")
        assert fc.download_function_code(service, "echo")
    with Client(keyed.endpoint) as anonymous:
        assert anonymous.http_request("GET", service, "web").status == 403


@pytest.mark.parametrize(("secret", "code"), [
    ("wrong-secret", "SignatureNotMatch"),
    (None, "AccessDenied"),
])
def test_wrong_or_missing_signature_is_refused(
    keyed: PlatformProcess, secret: str | None, code: str
) -> None:
    fc = signed_client(keyed, secret) if secret else Client(keyed.endpoint)
    with fc, pytest.raises(FcApiError) as info:
        fc.list_services()
    assert (info.value.status, info.value.code) == (403, code)
    assert info.value.request_id


def test_unknown_operation_raises_api_error(fc: Client) -> None:
    with pytest.raises(FcApiError) as info:
        fc._call("GET", "/no-such-operation")
    assert (info.value.status, info.value.code) == (404, "ResourceNotFound")
