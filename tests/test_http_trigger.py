"""HTTP triggers: WSGI handlers behind /2016-08-15/proxy/{service}/{function}/{path...}."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import API, assert_fc_error, deploy, unique
from tests.platform_process import PlatformProcess

ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]
KEY_ID = "AKID-http"
SECRET = "http-secret"

WSGI_APP = """
import hashlib, json

def chunks(count, size):
    for i in range(count):
        yield hashlib.sha256(str(i).encode()).digest() * (size // 32)

def handler(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stream":
        count = int(environ["QUERY_STRING"].split("=")[1])
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return chunks(count, 1024 * 1024)
    if path == "/fail":
        raise LookupError("no route for you")
    if path == "/created":
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-Custom", "yes"),
                                       ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        return [b"made ", b"it"]
    context = environ["fc.context"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    headers = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    answer = {
        "method": environ["REQUEST_METHOD"],
        "path": path,
        "query": environ["QUERY_STRING"],
        "headers": headers,
        "content_type": environ.get("CONTENT_TYPE", ""),
        "body": body.decode("latin-1"),
        "request_id": context.request_id,
        "function": context.function.name,
        "service": context.service.name,
        "request_uri": environ.get("fc.request_uri", ""),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(answer).encode()]
"""


def proxy_url(platform: PlatformProcess, service: str, function: str, path: str = "") -> str:
    return f"{platform.endpoint}{API}/proxy/{service}/{function}{path}"


def deploy_web(client: fc2.Client, auth: str = "anonymous",
               methods: list[str] | None = None, **options: Any) -> str:
    service = unique("web")
    deploy(client, service, "app", {"index.py": WSGI_APP}, **options)
    client.create_trigger(service, "app", "http", "http",
                          {"authType": auth, "methods": methods or ALL_METHODS}, None, None)
    return service


def test_wsgi_request_details(shared_platform: PlatformProcess,
                              shared_client: fc2.Client) -> None:
    service = deploy_web(shared_client)
    response = httpx.post(proxy_url(shared_platform, service, "app", "/a/b%20c/"),
                          params={"k": "v 1", "z": ""}, content=b"payload \x01",
                          headers={"X-Custom-Header": "hello", "Content-Type": "text/plain"})
    assert response.status_code == 200
    request_id = response.headers["x-fc-request-id"]
    data = response.json()
    assert data["method"] == "POST"
    assert data["path"] == "/a/b c/"
    assert data["query"] == "k=v+1&z="
    assert data["headers"]["HTTP_X_CUSTOM_HEADER"] == "hello"
    assert data["content_type"] == "text/plain"
    assert data["body"] == "payload \x01"
    assert data["request_id"] == request_id
    assert data["function"] == "app"
    assert data["service"] == service
    assert data["request_uri"].endswith("/a/b%20c/?k=v+1&z=")


def test_root_path_with_and_without_slash(shared_platform: PlatformProcess,
                                          shared_client: fc2.Client) -> None:
    service = deploy_web(shared_client)
    assert httpx.get(proxy_url(shared_platform, service, "app")).json()["path"] == "/"
    assert httpx.get(proxy_url(shared_platform, service, "app", "/")).json()["path"] == "/"


@pytest.mark.parametrize("method", ALL_METHODS)
def test_every_method_reaches_the_handler(shared_platform: PlatformProcess,
                                          shared_client: fc2.Client, method: str) -> None:
    service = deploy_web(shared_client)
    response = httpx.request(method, proxy_url(shared_platform, service, "app", "/m"),
                             content=b"body")
    assert response.status_code == 200
    assert response.headers["x-fc-request-id"]
    if method != "HEAD":
        assert response.json()["method"] == method
        assert response.json()["body"] == "body"


def test_status_and_headers_pass_through(shared_platform: PlatformProcess,
                                         shared_client: fc2.Client) -> None:
    service = deploy_web(shared_client)
    response = httpx.get(proxy_url(shared_platform, service, "app", "/created"))
    assert response.status_code == 201
    assert response.content == b"made it"
    assert response.headers["x-custom"] == "yes"
    assert response.headers["content-type"] == "text/plain"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.headers["x-fc-request-id"]


def test_sdk_do_http_request(shared_client: fc2.Client) -> None:
    service = deploy_web(shared_client)
    response = shared_client.do_http_request(
        "PUT", service, "app", "/sdk/path", headers={"x-extra": "1"},
        params={"k": "v 1", "z": ""}, body=b"from the sdk",
    )
    assert response.status_code == 200
    data = response.json()
    assert data["method"] == "PUT"
    assert data["path"] == "/sdk/path"
    assert data["body"] == "from the sdk"
    assert data["headers"]["HTTP_X_EXTRA"] == "1"
    assert sorted(data["query"].split("&")) == ["k=v+1", "z="]


def test_methods_outside_the_trigger_are_405(shared_platform: PlatformProcess,
                                             shared_client: fc2.Client) -> None:
    service = deploy_web(shared_client, methods=["GET", "POST"])
    assert httpx.get(proxy_url(shared_platform, service, "app", "/")).status_code == 200
    for method in ("PUT", "DELETE", "PATCH"):
        response = httpx.request(method, proxy_url(shared_platform, service, "app", "/"))
        assert_fc_error(response, 405, "MethodNotAllowed")
    # Updating the trigger changes what is allowed.
    shared_client.update_trigger(service, "app", "http",
                                 triggerConfig={"authType": "anonymous", "methods": ["PUT"]})
    assert httpx.put(proxy_url(shared_platform, service, "app", "/")).status_code == 200
    assert_fc_error(httpx.get(proxy_url(shared_platform, service, "app", "/")), 405,
                    "MethodNotAllowed")


def test_function_without_http_trigger_is_404(shared_platform: PlatformProcess,
                                              shared_client: fc2.Client) -> None:
    service = unique("web")
    deploy(shared_client, service, "app", {"index.py": WSGI_APP})
    assert_fc_error(httpx.get(proxy_url(shared_platform, service, "app", "/")), 404,
                    "TriggerNotFound")
    assert_fc_error(httpx.get(proxy_url(shared_platform, service, "nope", "/")), 404,
                    "FunctionNotFound")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(
        tmp_path_factory.mktemp("keyed-http") / "data",
        env={"FCOMPUTE_ACCESS_KEY_ID": KEY_ID, "FCOMPUTE_ACCESS_KEY_SECRET": SECRET},
    ).start()
    yield running
    running.stop()


def test_auth_type_function_needs_a_signature(keyed: PlatformProcess) -> None:
    client = fc2.Client(endpoint=keyed.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET)
    service = deploy_web(client, auth="function")
    response = httpx.get(proxy_url(keyed, service, "app", "/x"))
    assert response.status_code == 403
    assert response.json()["ErrorCode"] in ("AccessDenied", "SignatureNotMatch")
    assert response.headers["x-fc-request-id"]

    signed = client.do_http_request("POST", service, "app", "/x/y", params={"q": "1 2", "e": ""},
                                    body=b"signed body")
    assert signed.status_code == 200
    assert signed.json()["body"] == "signed body"
    assert signed.json()["path"] == "/x/y"

    spaced = client.do_http_request("GET", service, "app", "/with space/\u00e9", params={"a": "b"})
    assert spaced.status_code == 200
    assert spaced.json()["path"] == "/with space/\u00e9"

    wrong = fc2.Client(endpoint=keyed.endpoint, accessKeyID=KEY_ID, accessKeySecret="nope")
    assert wrong.do_http_request("GET", service, "app", "/x").status_code == 403

    # Anonymous triggers stay open even when keys are configured.
    open_service = deploy_web(client, auth="anonymous")
    assert httpx.get(proxy_url(keyed, open_service, "app", "/x")).status_code == 200


def test_large_streamed_response_arrives_intact(shared_platform: PlatformProcess,
                                                shared_client: fc2.Client) -> None:
    service = deploy_web(shared_client)
    count = 50
    expected = hashlib.sha256()
    for i in range(count):
        expected.update(hashlib.sha256(str(i).encode()).digest() * (1024 * 1024 // 32))
    received = hashlib.sha256()
    size = 0
    with httpx.stream("GET", proxy_url(shared_platform, service, "app", "/stream"),
                      params={"n": count}, timeout=60) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            received.update(chunk)
            size += len(chunk)
    assert size == count * 1024 * 1024
    assert received.hexdigest() == expected.hexdigest()


def test_wsgi_handler_error_is_502_with_error_json(shared_platform: PlatformProcess,
                                                   shared_client: fc2.Client) -> None:
    service = deploy_web(shared_client)
    response = httpx.get(proxy_url(shared_platform, service, "app", "/fail"))
    assert response.status_code == 502
    assert response.headers["x-fc-request-id"]
    assert response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    error = response.json()
    assert error["errorType"] == "LookupError"
    assert error["errorMessage"] == "no route for you"
    assert isinstance(error["stackTrace"], list)
    # The instance survives the error.
    assert httpx.get(proxy_url(shared_platform, service, "app", "/ok")).status_code == 200


def test_wsgi_load_failure_is_502(shared_platform: PlatformProcess,
                                  shared_client: fc2.Client) -> None:
    service = unique("web")
    deploy(shared_client, service, "app", {"index.py": "import nothing_here\n"})
    shared_client.create_trigger(service, "app", "http", "http",
                                 {"authType": "anonymous", "methods": ["GET"]}, None, None)
    response = httpx.get(proxy_url(shared_platform, service, "app", "/"))
    assert response.status_code == 502
    assert response.json()["errorType"] == "Runtime.ImportModuleError"


def test_wsgi_timeout_is_504(shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    service = unique("web")
    deploy(shared_client, service, "app", {
        "index.py": "import time\ndef handler(environ, start_response):\n    time.sleep(30)\n",
    }, timeout=1)
    shared_client.create_trigger(service, "app", "http", "http",
                                 {"authType": "anonymous", "methods": ["GET"]}, None, None)
    response = httpx.get(proxy_url(shared_platform, service, "app", "/"), timeout=10)
    assert response.status_code == 504
    assert response.json()["errorType"] == "Runtime.Timeout"


def test_proxy_body_size_limit(shared_platform: PlatformProcess,
                               shared_client: fc2.Client) -> None:
    service = deploy_web(shared_client)
    response = httpx.post(proxy_url(shared_platform, service, "app", "/"),
                          content=b"x" * (6 * 1024 * 1024 + 1), timeout=30)
    assert response.status_code == 413
    assert json.loads(response.content)["ErrorCode"] == "EntityTooLarge"


def test_trigger_changes_take_effect_at_once(shared_platform: PlatformProcess,
                                             shared_client: fc2.Client) -> None:
    service = unique("web")
    deploy(shared_client, service, "app", {"index.py": WSGI_APP})
    url = proxy_url(shared_platform, service, "app", "/")
    assert_fc_error(httpx.get(url), 404, "TriggerNotFound")
    shared_client.create_trigger(service, "app", "http", "http",
                                 {"authType": "anonymous", "methods": ["get", "post"]}, None,
                                 None)
    assert httpx.get(url).status_code == 200  # methods are case-insensitive
    assert httpx.post(url).status_code == 200
    shared_client.delete_trigger(service, "app", "http")
    assert_fc_error(httpx.get(url), 404, "TriggerNotFound")


BAD_RESPONSES = """
def handler(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/unicode-header":
        start_response("200 OK", [("X-Name", "\\u00e9\\u4e2d")])
    elif path == "/split-header":
        start_response("200 OK", [("X-Bad", "a\\r\\nInjected: yes")])
    elif path == "/str-body":
        start_response("200 OK", [])
        return ["text, not bytes"]
    else:
        start_response("200 OK", [])
    return [b"fine"]
"""


@pytest.fixture(scope="module")
def bad_responses(shared_platform: PlatformProcess, shared_client: fc2.Client) -> str:
    service = unique("web")
    deploy(shared_client, service, "app", {"index.py": BAD_RESPONSES})
    shared_client.create_trigger(service, "app", "http", "http",
                                 {"authType": "anonymous", "methods": ["GET"]}, None, None)
    return service


def assert_bad_gateway(response: httpx.Response) -> None:
    assert response.status_code == 502, (response.status_code, response.text)
    assert response.headers["x-fc-request-id"]
    assert response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert set(response.json()) == {"errorMessage", "errorType", "stackTrace"}


def test_non_latin1_response_header_is_a_function_error(
    shared_platform: PlatformProcess, bad_responses: str
) -> None:
    assert_bad_gateway(httpx.get(proxy_url(shared_platform, bad_responses, "app",
                                           "/unicode-header")))


def test_response_header_with_newline_is_a_function_error(
    shared_platform: PlatformProcess, bad_responses: str
) -> None:
    assert_bad_gateway(httpx.get(proxy_url(shared_platform, bad_responses, "app",
                                           "/split-header")))


def test_str_body_chunk_is_a_function_error(shared_platform: PlatformProcess,
                                            bad_responses: str) -> None:
    assert_bad_gateway(httpx.get(proxy_url(shared_platform, bad_responses, "app", "/str-body")))


def test_bad_responses_do_not_break_the_function(shared_platform: PlatformProcess,
                                                 bad_responses: str) -> None:
    for path in ("/unicode-header", "/split-header", "/str-body"):
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(proxy_url(shared_platform, bad_responses, "app", path))
    response = httpx.get(proxy_url(shared_platform, bad_responses, "app", "/ok"))
    assert response.status_code == 200
    assert response.content == b"fine"
