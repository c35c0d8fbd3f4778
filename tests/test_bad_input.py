"""Hostile input over the real API: every malformed request is a 4xx FC error, never a 500.

Numbers in queries and headers are bounded ASCII decimals, JSON bodies are bounded in depth
and hold no NaN, Infinity, NUL or lone surrogates, free-form fields are capped, names are
matched whole (a trailing newline is not a name) and ``FC_*`` variables belong to the
platform.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fcompute import limits
from tests.conftest import API, assert_fc_error, make_zip, unique
from tests.platform_process import PlatformProcess

ZIP = base64.b64encode(make_zip({"index.py": "def handler(event, context):\n    return event\n"}
                                )).decode()
SUPERSCRIPT_TWO = "%C2%B2"  # '²': str.isdigit() says yes, int() says no
ARABIC_ONE = "%D9%A1"  # U+0661: str.isdigit() says yes and int() reads 1
HUGE = "9" * 5000
BAD_DECIMALS = [SUPERSCRIPT_TWO, ARABIC_ONE, HUGE, "-1", "+1", "1.0", "1e2", "%201", "0x10",
                "1%0A", "99999999999999999999"]


@pytest.fixture(scope="module")
def api(shared_platform: PlatformProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{shared_platform.endpoint}{API}", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def target(api: httpx.Client) -> dict[str, str]:
    """A service, a function and a timer trigger the tests send bodies to."""
    service = unique("bad")
    assert api.post("/services", json={"serviceName": service}).status_code == 200
    created = api.post(f"/services/{service}/functions", json={
        "functionName": "fn", "runtime": "python3", "handler": "index.handler",
        "code": {"zipFile": ZIP},
    })
    assert created.status_code == 200, created.text
    trigger = api.post(f"/services/{service}/functions/fn/triggers", json={
        "triggerName": "tick", "triggerType": "timer",
        "triggerConfig": {"cronExpression": "@every 5m"},
    })
    assert trigger.status_code == 200, trigger.text
    return {"service": service, "function": "fn", "trigger": "tick"}


def list_paths(target: dict[str, str]) -> list[str]:
    fn = f"/services/{target['service']}/functions/fn"
    return ["/services", f"/services/{target['service']}/functions", f"{fn}/triggers",
            f"{fn}/stateful-async-invocations"]


def body_calls(target: dict[str, str]) -> list[tuple[str, str]]:
    """Every operation that takes a JSON body, as (method, path)."""
    service, fn = target["service"], f"/services/{target['service']}/functions/fn"
    return [
        ("POST", "/services"), ("PUT", f"/services/{service}"),
        ("POST", f"/services/{service}/functions"), ("PUT", fn),
        ("POST", f"{fn}/triggers"), ("PUT", f"{fn}/triggers/tick"),
        ("PUT", f"{fn}/async-invoke-config"),
        ("POST", f"{fn}/stateful-async-invocations/some-id/replay"),
    ]


def send(api: httpx.Client, method: str, path: str, raw: bytes | str) -> httpx.Response:
    content = raw.encode() if isinstance(raw, str) else raw
    return api.request(method, path, content=content,
                       headers={"content-type": "application/json"})


@pytest.mark.parametrize("value", [*BAD_DECIMALS, "0", "101", ""])
def test_bad_list_limits_are_400(api: httpx.Client, target: dict[str, str], value: str) -> None:
    for path in list_paths(target):
        response = api.get(f"{path}?limit={value}")
        if value == "":
            assert response.status_code == 200, (path, response.text)
        else:
            assert_fc_error(response, 400, "InvalidArgument")


def test_good_list_limits_still_work(api: httpx.Client, target: dict[str, str]) -> None:
    for path in list_paths(target):
        for value in ("1", "100", "007"):
            assert api.get(f"{path}?limit={value}").status_code == 200, path


@pytest.mark.parametrize("name", ["startedTimeBegin", "startedTimeEnd"])
@pytest.mark.parametrize("value", BAD_DECIMALS)
def test_bad_async_listing_times_are_400(api: httpx.Client, target: dict[str, str], name: str,
                                         value: str) -> None:
    path = list_paths(target)[3]
    assert_fc_error(api.get(f"{path}?{name}={value}"), 400, "InvalidArgument")


@pytest.mark.parametrize("token", [f"{SUPERSCRIPT_TWO}.1", f"1.{SUPERSCRIPT_TWO}", f"{HUGE}.1",
                                   f"1.{HUGE}", "99999999999999999999.1", "1", ".", "a.b",
                                   "1.2.3", "-1.2"])
def test_bad_async_next_tokens_are_400(api: httpx.Client, target: dict[str, str],
                                       token: str) -> None:
    path = list_paths(target)[3]
    assert_fc_error(api.get(f"{path}?nextToken={token}"), 400, "InvalidArgument")


def test_a_handed_out_async_token_still_pages(api: httpx.Client, target: dict[str, str]) -> None:
    path = list_paths(target)[3]
    assert api.get(f"{path}?nextToken=1700000000000.5").status_code == 200


@pytest.mark.parametrize("expires", [*BAD_DECIMALS, ""])
def test_bad_code_link_expiry_is_403(api: httpx.Client, target: dict[str, str],
                                     expires: str) -> None:
    url = api.get(f"/services/{target['service']}/functions/fn/code").json()["url"]
    base, _, query = url.partition("?")
    signature = query.split("&Signature=")[1]
    response = httpx.get(f"{base}?Expires={expires}&Signature={signature}")
    assert_fc_error(response, 403, "AccessDenied")
    assert httpx.get(url).status_code == 200


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [1000, 5000, limits.MAX_JSON_DEPTH + 1])
def test_deeply_nested_bodies_are_400(api: httpx.Client, target: dict[str, str],
                                      depth: int) -> None:
    for method, path in body_calls(target):
        response = send(api, method, path, '{"serviceName": "deep", "x": ' + nested(depth) + "}")
        body = assert_fc_error(response, 400, "InvalidArgument")
        assert "deep" in body["ErrorMessage"] or "nest" in body["ErrorMessage"], (path, body)
        objects = min(depth, 2000)  # within the smallest body limit (16 KB)
        response = send(api, method, path, '{"a": ' * objects + "1" + "}" * objects)
        assert_fc_error(response, 400, "InvalidArgument")


def test_nesting_up_to_the_cap_is_accepted(api: httpx.Client) -> None:
    # The body itself is one level: a field may nest MAX_JSON_DEPTH - 1 more.
    inner = nested(limits.MAX_JSON_DEPTH - 2)
    response = send(api, "POST", "/services",
                    f'{{"serviceName": "{unique("nest")}", "logConfig": {{"x": {inner}}}}}')
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_non_finite_numbers_are_400(api: httpx.Client, target: dict[str, str],
                                    literal: str) -> None:
    for method, path in body_calls(target):
        raw = (f'{{"serviceName": "{unique("nan")}", "logConfig": {{"x": {literal}}}, '
               f'"timeout": {literal}}}')
        assert_fc_error(send(api, method, path, raw), 400, "InvalidArgument")


def test_answers_are_strict_json(api: httpx.Client) -> None:
    name = unique("num")
    response = send(api, "POST", "/services",
                    f'{{"serviceName": "{name}", "logConfig": {{"x": 1.5e300, "y": -0.0}}}}')
    assert response.status_code == 200, response.text
    json.loads(response.text, parse_constant=lambda c: pytest.fail(f"emitted {c}"))


@pytest.mark.parametrize("text", ["a\\u0000b", "\\ud800", "x\\udfff", "\\udc00\\ud800"])
def test_nul_and_lone_surrogates_are_400(api: httpx.Client, target: dict[str, str],
                                         text: str) -> None:
    for method, path in body_calls(target):
        raw = (f'{{"serviceName": "{unique("str")}", "description": "{text}", '
               f'"logConfig": {{"{text}": 1}}}}')
        assert_fc_error(send(api, method, path, raw), 400, "InvalidArgument")


def test_a_surrogate_pair_is_a_character(api: httpx.Client) -> None:
    response = send(api, "POST", "/services",
                    '{"serviceName": "' + unique("emoji") + '", "description": "\\ud83d\\ude00"}')
    assert response.status_code == 200, response.text
    assert response.json()["description"] == "\U0001f600"


@pytest.mark.parametrize("field", ["serviceName", "functionName", "triggerName"])
def test_names_ending_in_a_newline_are_400(api: httpx.Client, target: dict[str, str],
                                           field: str) -> None:
    service = target["service"]
    body: dict[str, Any] = {
        "serviceName": {"path": "/services"},
        "functionName": {"path": f"/services/{service}/functions", "runtime": "python3",
                         "handler": "index.handler", "code": {"zipFile": ZIP}},
        "triggerName": {"path": f"/services/{service}/functions/fn/triggers",
                        "triggerType": "timer",
                        "triggerConfig": {"cronExpression": "@every 5m"}},
    }[field]
    path = body.pop("path")
    for name in ("n\n", "n\r\n", "\nn"):
        body[field] = name
        body_ = assert_fc_error(api.post(path, json=body), 400, "InvalidArgument")
        assert field in body_["ErrorMessage"]


def test_other_patterns_are_matched_whole(api: httpx.Client, target: dict[str, str]) -> None:
    fn = f"/services/{target['service']}/functions/fn"
    for body in ({"handler": "index.handler\n"}, {"initializer": "index.init\n"},
                 {"environmentVariables": {"A\n": "1"}}):
        assert_fc_error(api.put(fn, json=body), 400, "InvalidArgument")
    assert_fc_error(api.post(f"{fn}/triggers", json={
        "triggerName": "o", "triggerType": "oss", "sourceArn": "acs:oss:r:1:bucket\n",
        "triggerConfig": {"events": ["oss:ObjectCreated:*"]}}), 400, "InvalidArgument")
    assert_fc_error(api.post(f"{fn}/triggers", json={
        "triggerName": "o", "triggerType": "oss", "sourceArn": "acs:oss:r:1:bucket",
        "triggerConfig": {"events": ["oss:ObjectCreated:*\n"]}}), 400, "InvalidArgument")


@pytest.mark.parametrize("variable", ["FC_FUNCTION_NAME", "FC_REGION", "FC_ANYTHING",
                                      "ALIBABA_CLOUD_ACCESS_KEY_ID",
                                      "ALIBABA_CLOUD_SECURITY_TOKEN", "accessKeyID",
                                      "accessKeySecret", "securityToken", "topic"])
def test_reserved_environment_variables_are_400(api: httpx.Client, target: dict[str, str],
                                                variable: str) -> None:
    service = target["service"]
    env = {"MINE": "1", variable: "spoofed"}
    created = api.post(f"/services/{service}/functions", json={
        "functionName": unique("env"), "runtime": "python3", "handler": "index.handler",
        "code": {"zipFile": ZIP}, "environmentVariables": env})
    assert variable in assert_fc_error(created, 400, "InvalidArgument")["ErrorMessage"]
    updated = api.put(f"/services/{service}/functions/fn", json={"environmentVariables": env})
    assert variable in assert_fc_error(updated, 400, "InvalidArgument")["ErrorMessage"]


def test_lookalike_environment_names_are_the_users(api: httpx.Client,
                                                   target: dict[str, str]) -> None:
    env = {"fc_lower": "1", "MY_FC_X": "2", "FCX": "3", "TOPIC": "4"}
    response = api.put(f"/services/{target['service']}/functions/fn",
                       json={"environmentVariables": env})
    assert response.status_code == 200, response.text
    assert response.json()["environmentVariables"] == env


def too_big_object() -> dict[str, str]:
    return {"k": "x" * limits.MAX_CONFIG_OBJECT_BYTES}


@pytest.mark.parametrize(("kind", "field", "value"), [
    ("service", "description", "d" * (limits.MAX_DESCRIPTION_CHARS + 1)),
    ("service", "role", "r" * (limits.MAX_ARN_CHARS + 1)),
    ("service", "logConfig", too_big_object()),
    ("service", "vpcConfig", too_big_object()),
    ("service", "nasConfig", too_big_object()),
    ("service", "tracingConfig", too_big_object()),
    ("function", "description", "d" * (limits.MAX_DESCRIPTION_CHARS + 1)),
    ("function", "customContainerConfig", too_big_object()),
    ("function", "instanceType", "e" * (limits.MAX_INSTANCE_TYPE_CHARS + 1)),
    ("function", "handler", "h" * limits.MAX_HANDLER_CHARS + ".x"),
    ("function", "initializer", "h" * limits.MAX_HANDLER_CHARS + ".x"),
    ("trigger", "description", "d" * (limits.MAX_DESCRIPTION_CHARS + 1)),
    ("trigger", "invocationRole", "r" * (limits.MAX_ARN_CHARS + 1)),
    ("trigger", "qualifier", "q" * (limits.MAX_QUALIFIER_CHARS + 1)),
    ("trigger", "triggerConfig", {"cronExpression": "@every 5m", **too_big_object()}),
    ("trigger", "triggerConfig", {"cronExpression": "@every 5m" + " " * 300}),
    ("trigger", "triggerConfig", {"cronExpression": "@every 5m", "payload": "p" * 20000}),
])
def test_free_form_fields_are_capped(api: httpx.Client, target: dict[str, str], kind: str,
                                     field: str, value: object) -> None:
    path = {
        "service": f"/services/{target['service']}",
        "function": f"/services/{target['service']}/functions/fn",
        "trigger": f"/services/{target['service']}/functions/fn/triggers/tick",
    }[kind]
    body = assert_fc_error(api.put(path, json={field: value}), 400, "InvalidArgument")
    assert field in body["ErrorMessage"]


def test_fields_at_their_caps_are_accepted(api: httpx.Client, target: dict[str, str]) -> None:
    description = "é" * limits.MAX_DESCRIPTION_CHARS
    response = api.put(f"/services/{target['service']}/functions/fn", json={
        "description": description, "customContainerConfig": {"image": "i" * 4000}})
    assert response.status_code == 200, response.text
    assert response.json()["description"] == description


@pytest.mark.parametrize("expression", [f"@every {HUGE}m", f"@every 1{'0' * 300}s",
                                        "@every 99999999999999999999h", "@every 8785h"])
def test_unbounded_timer_intervals_are_400(api: httpx.Client, target: dict[str, str],
                                           expression: str) -> None:
    path = f"/services/{target['service']}/functions/fn/triggers/tick"
    response = api.put(path, json={"triggerConfig": {"cronExpression": expression}})
    assert_fc_error(response, 400, "InvalidArgument")


def test_a_yearly_timer_is_accepted(api: httpx.Client, target: dict[str, str]) -> None:
    path = f"/services/{target['service']}/functions/fn/triggers/tick"
    response = api.put(path, json={"triggerConfig": {"cronExpression": "@every 8784h"}})
    assert response.status_code == 200, response.text


# Values of every JSON type: a field given the wrong one must be a 400, never a crash.
WRONG_TYPES: list[object] = [None, True, False, 0, -1, 1.5, "", "s", [], [1], ["s"], {},
                             {"a": 1}, [[]], [{}]]
SERVICE_FIELDS = ["serviceName", "description", "role", "internetAccess", "logConfig",
                  "vpcConfig", "nasConfig", "tracingConfig"]
FUNCTION_FIELDS = ["functionName", "runtime", "handler", "code", "initializer", "description",
                   "memorySize", "timeout", "initializationTimeout", "environmentVariables",
                   "instanceConcurrency", "diskSize", "instanceType", "caPort",
                   "customContainerConfig"]
TRIGGER_FIELDS = ["triggerName", "triggerType", "triggerConfig", "sourceArn", "invocationRole",
                  "qualifier", "description"]
ASYNC_CONFIG_FIELDS = ["maxAsyncRetryAttempts", "maxAsyncEventAgeInSeconds", "destinationConfig",
                       "statefulInvocation"]


def assert_not_a_crash(response: httpx.Response, context: object) -> None:
    assert response.status_code < 500, (context, response.status_code, response.text)
    if response.status_code >= 400:
        assert set(response.json()) == {"ErrorCode", "ErrorMessage"}, context


def test_wrong_json_types_never_crash(api: httpx.Client, target: dict[str, str]) -> None:
    service, fn = target["service"], f"/services/{target['service']}/functions/fn"
    base_function = {"functionName": "wt", "runtime": "python3", "handler": "index.handler",
                     "code": {"zipFile": ZIP}}
    base_trigger = {"triggerName": "wt", "triggerType": "http",
                    "triggerConfig": {"authType": "anonymous", "methods": ["GET"]}}
    cases: list[tuple[str, str, dict[str, Any], list[str]]] = [
        ("POST", "/services", {"serviceName": "wt"}, SERVICE_FIELDS),
        ("PUT", f"/services/{service}", {}, SERVICE_FIELDS),
        ("POST", f"/services/{service}/functions", base_function, FUNCTION_FIELDS),
        ("PUT", fn, {}, FUNCTION_FIELDS),
        ("POST", f"{fn}/triggers", base_trigger, TRIGGER_FIELDS),
        ("PUT", f"{fn}/triggers/tick", {}, TRIGGER_FIELDS),
        ("PUT", f"{fn}/async-invoke-config", {}, ASYNC_CONFIG_FIELDS),
        ("POST", f"{fn}/stateful-async-invocations/none/replay", {}, ["target"]),
    ]
    for method, path, base, fields in cases:
        for field in fields:
            for value in WRONG_TYPES:
                body = {**base, field: value}
                response = api.request(method, path, json=body)
                assert_not_a_crash(response, (method, path, field, value))
                if response.status_code == 200 and method == "POST":
                    # A create that succeeded: remove it so the next one can be made.
                    name = response.json().get("serviceName") if path == "/services" else None
                    if path == "/services" and name:
                        api.delete(f"/services/{name}")
                    elif path.endswith("/functions"):
                        api.delete(f"{path}/{response.json()['functionName']}")
                    elif path.endswith("/triggers"):
                        api.delete(f"{path}/{response.json()['triggerName']}")
    # Nested objects of the wrong shape.
    for config in ({"authType": "anonymous", "methods": [{}]}, {"authType": [], "methods": 1},
                   {"cronExpression": ["@every 5m"]}, {"cronExpression": None}):
        for trigger_type in ("http", "timer", "oss"):
            response = api.post(f"{fn}/triggers", json={
                "triggerName": "nx", "triggerType": trigger_type, "triggerConfig": config,
                "sourceArn": "acs:oss:r:1:bucket"})
            assert_not_a_crash(response, (trigger_type, config))
    for code in ({"zipFile": ["x"]}, {"zipFile": {}}, {"ossBucketName": [], "ossObjectName": 1},
                 {"zipFile": "not base64!"}):
        assert_not_a_crash(api.put(fn, json={"code": code}), code)
    for destination in ({"onSuccess": []}, {"onSuccess": {"destination": []}},
                        {"onFailure": {"destination": {}}}, {"onFailure": "x"}):
        response = api.put(f"{fn}/async-invoke-config", json={"destinationConfig": destination})
        assert_not_a_crash(response, destination)
    for raw in ("[]", "1", '"s"', "null", "true", "{", "\xff"):
        for method, path in body_calls(target):
            assert_not_a_crash(send(api, method, path, raw.encode("latin-1")), (path, raw))


def test_content_length_of_unicode_digits(shared_platform: PlatformProcess,
                                          target: dict[str, str]) -> None:
    # Raw bytes: the HTTP parser may refuse it itself; either way no 500.
    import socket

    request = (f"POST {API}/services HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
               "content-length: \xb2\r\nconnection: close\r\n\r\n").encode("latin-1")
    with socket.create_connection(("127.0.0.1", shared_platform.port), timeout=10) as sock:
        sock.sendall(request)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 4"), answer[:100]


def test_content_md5_is_checked_without_access_keys_too(api: httpx.Client) -> None:
    body = json.dumps({"serviceName": unique("md5")}).encode()
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    response = api.post("/services", content=body, headers={"content-md5": good})
    assert response.status_code == 200, response.text
    other = json.dumps({"serviceName": unique("md5")}).encode()
    response = api.post("/services", content=other, headers={"content-md5": good})
    assert "Content-MD5" in assert_fc_error(response, 400, "InvalidArgument")["ErrorMessage"]


def test_nul_in_listing_keys_is_400(api: httpx.Client, target: dict[str, str]) -> None:
    for path in list_paths(target)[:3]:
        for name in ("prefix", "nextToken", "startKey"):
            assert_fc_error(api.get(f"{path}?{name}=a%00"), 400, "InvalidArgument")


def test_nul_in_path_names_is_not_found(api: httpx.Client, target: dict[str, str]) -> None:
    # No name holds NUL; PostgreSQL would refuse to compare one, so none is looked up.
    service = target["service"]
    for path, code in (("/services/a%00", "ServiceNotFound"),
                       (f"/services/{service}/functions/a%00", "FunctionNotFound"),
                       (f"/services/{service}/functions/fn/triggers/a%00", "TriggerNotFound"),
                       ("/services/a%00/functions/fn/async-invoke-config", "ServiceNotFound"),
                       (f"/services/{service}/functions/a%00/async-invoke-config",
                        "FunctionNotFound"),
                       (f"/services/{service}/functions/a%00/async-invoke-configs",
                        "FunctionNotFound")):
        assert_fc_error(api.get(path), 404, code)


def test_errors_do_not_echo_huge_values(api: httpx.Client, target: dict[str, str]) -> None:
    fn = f"/services/{target['service']}/functions/fn"
    for body in ({"memorySize": 10**4000}, {"timeout": "9" * 100_000},
                 {"runtime": "r" * 100_000}, {"handler": ["h" * 100_000]},
                 {"environmentVariables": {"x" * 100_000: "1"}}):
        response = api.put(fn, content=json.dumps(body).encode())
        assert len(assert_fc_error(response, 400, "InvalidArgument")["ErrorMessage"]) < 500
    response = api.get(f"{list_paths(target)[0]}?limit={'9' * 5000}")
    assert len(assert_fc_error(response, 400, "InvalidArgument")["ErrorMessage"]) < 500
