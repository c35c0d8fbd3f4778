"""Unit tests of request validation: names, limits, defaults, trigger configs, cron."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from fcompute import limits, validation
from fcompute.cron import every_seconds, validate_cron_expression
from fcompute.errors import InvalidArgument

ZIP = base64.b64encode(b"PK\x05\x06" + b"\x00" * 18).decode()


def function_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"functionName": "fn", "runtime": "python3",
                            "handler": "index.handler", "code": {"zipFile": ZIP}}
    body.update(changes)
    return body


@pytest.mark.parametrize("name", ["a", "_x", "svc-1_b", "A" * 128])
def test_valid_service_names(name: str) -> None:
    assert validation.service_name(name) == name


@pytest.mark.parametrize("name", ["", "a.b", "1a", "-a", "a b", "A" * 129, None, 5, "a/b"])
def test_invalid_service_names(name: object) -> None:
    with pytest.raises(InvalidArgument, match="serviceName"):
        validation.service_name(name)


def test_function_and_trigger_name_lengths() -> None:
    assert validation.function_name("f" * 64) == "f" * 64
    with pytest.raises(InvalidArgument):
        validation.function_name("f" * 65)
    assert validation.trigger_name("t" * 128) == "t" * 128
    with pytest.raises(InvalidArgument):
        validation.trigger_name("t" * 129)


def test_service_defaults_and_partial_updates() -> None:
    created = validation.parse_service({"serviceName": "s"}, creating=True)
    assert created == {"name": "s", "description": "", "role": "", "internet_access": True}
    assert validation.parse_service({"description": None}, creating=False) == {}
    assert validation.parse_service({"internetAccess": False}, creating=False) == {
        "internet_access": False}


def test_function_defaults() -> None:
    fields = validation.parse_function(function_body(), creating=True)
    assert fields["memory_size"] == limits.DEFAULT_MEMORY_MB == 256
    assert fields["timeout"] == limits.DEFAULT_TIMEOUT_S == 60
    assert fields["initialization_timeout"] == limits.DEFAULT_INITIALIZATION_TIMEOUT_S == 30
    assert fields["environment"] == {}
    assert fields["initializer"] == ""
    assert fields["code"] == ZIP


def test_function_update_is_partial() -> None:
    assert validation.parse_function({"description": "d"}, creating=False) == {"description": "d"}
    assert validation.parse_function({"environmentVariables": {}}, creating=False) == {
        "environment": {}}
    assert validation.parse_function({"environmentVariables": None}, creating=False) == {}


@pytest.mark.parametrize("memory", range(0, 4096 + 64, 32))
def test_memory_bounds_and_step(memory: int) -> None:
    ok = 128 <= memory <= 3072 and memory % 64 == 0
    if ok:
        assert validation.parse_function(function_body(memorySize=memory),
                                         creating=True)["memory_size"] == memory
    else:
        with pytest.raises(InvalidArgument, match="memorySize"):
            validation.parse_function(function_body(memorySize=memory), creating=True)


@pytest.mark.parametrize(("value", "ok"), [
    (1, True), (86400, True), (0, False), (86401, False), (1.5, False), ("60", False),
    (True, False),
])
def test_timeout_bounds(value: object, ok: bool) -> None:
    if ok:
        assert validation.parse_function(function_body(timeout=value), creating=True)[
            "timeout"] == value
    else:
        with pytest.raises(InvalidArgument, match="timeout"):
            validation.parse_function(function_body(timeout=value), creating=True)


@pytest.mark.parametrize("handler", ["index.handler", "a.b.c", "src/app.main", "my-mod.h_1",
                                     "_m.h"])
def test_valid_handlers(handler: str) -> None:
    assert validation.parse_function(function_body(handler=handler),
                                     creating=True)["handler"] == handler


@pytest.mark.parametrize("handler", ["index", "index.", ".h", "index.1h", "a b.c", "a.b-c",
                                     "/abs.h", 5, ["index.handler"]])
def test_invalid_handlers(handler: object) -> None:
    with pytest.raises(InvalidArgument):
        validation.parse_function(function_body(handler=handler), creating=True)


@pytest.mark.parametrize("runtime", ["python2.7", "nodejs14", "custom", 3, ["python3"],
                                     {"a": 1}])
def test_unsupported_runtimes(runtime: object) -> None:
    with pytest.raises(InvalidArgument, match="runtime"):
        validation.parse_function(function_body(runtime=runtime), creating=True)


def test_environment_size_limit() -> None:
    value = "x" * (limits.MAX_ENV_BYTES - 1)
    assert validation.parse_function(function_body(environmentVariables={"A": value}),
                                     creating=True)["environment"] == {"A": value}
    with pytest.raises(InvalidArgument, match="environmentVariables"):
        validation.parse_function(function_body(environmentVariables={"AB": value}),
                                  creating=True)


@pytest.mark.parametrize("code", [None, "zip", {}, {"zipFile": ""}, {"zipFile": 5},
                                  {"ossBucketName": "b", "ossObjectName": "o"}])
def test_invalid_code(code: object) -> None:
    with pytest.raises(InvalidArgument, match="code"):
        validation.parse_function(function_body(code=code), creating=True)


def test_http_trigger_source_arn_is_dropped() -> None:
    fields = validation.parse_trigger(
        {"triggerName": "t", "triggerType": "http", "sourceArn": "acs:oss:a:b:c",
         "triggerConfig": {"authType": "function", "methods": ["get"]}}, creating=True)
    assert fields["source_arn"] is None
    assert fields["qualifier"] is None


@pytest.mark.parametrize(("trigger_type", "config"), [
    ("http", {"authType": "anonymous", "methods": ["GET", "HEAD", "OPTIONS"]}),
    ("timer", {"cronExpression": "@every 1m"}),
    ("timer", {"cronExpression": "@every 1h30m", "enable": False, "payload": "x"}),
    ("timer", {"cronExpression": "0 */5 * * * *"}),
    ("oss", {"events": ["oss:ObjectCreated:PutObject"], "filter": {"key": {"prefix": "a/"}}}),
    ("oss", {"events": ["oss:ObjectRemoved:*"]}),
])
def test_valid_trigger_configs(trigger_type: str, config: dict[str, Any]) -> None:
    assert validation.validate_trigger_config(trigger_type, config) == config


@pytest.mark.parametrize(("trigger_type", "config"), [
    ("http", {}),
    ("http", {"authType": "anonymous", "methods": ["CONNECT"]}),
    ("http", {"authType": "none", "methods": ["GET"]}),
    ("timer", {"cronExpression": "@every 0s"}),
    ("timer", {"cronExpression": "@every 5x"}),
    ("timer", {"cronExpression": "0 * * * *"}),
    ("timer", {"cronExpression": "61 * * * * *"}),
    ("oss", {"events": "oss:ObjectCreated:*"}),
    ("oss", {"events": ["ObjectCreated"]}),
    ("oss", {"events": ["oss:ObjectCreated:*"], "filter": ["x"]}),
    ("oss", {"events": ["oss:ObjectCreated:*"], "filter": {"key": {"suffix": 3}}}),
])
def test_invalid_trigger_configs(trigger_type: str, config: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        validation.validate_trigger_config(trigger_type, config)


@pytest.mark.parametrize("trigger_type", [None, "", "log", ["http"], {"t": 1}, 7])
def test_unsupported_trigger_types(trigger_type: object) -> None:
    with pytest.raises(InvalidArgument, match="triggerType"):
        validation.parse_trigger({"triggerName": "t", "triggerType": trigger_type,
                                  "triggerConfig": {}}, creating=True)


@pytest.mark.parametrize("arn", [None, "", "acs:oss:r:a", "acs:s3:r:a:bucket", "acs:oss:r:a:b"])
def test_oss_triggers_need_a_bucket_arn(arn: object) -> None:
    with pytest.raises(InvalidArgument, match="sourceArn"):
        validation.parse_trigger(
            {"triggerName": "t", "triggerType": "oss", "sourceArn": arn,
             "triggerConfig": {"events": ["oss:ObjectCreated:*"]}}, creating=True)


def test_every_seconds() -> None:
    assert every_seconds("@every 5m") == 300
    assert every_seconds("@every 1h30m") == 5400
    assert every_seconds("@every 90s") == 90
    assert every_seconds("0 0 8 * * *") is None
    validate_cron_expression("@every 1m")
    validate_cron_expression("@every 1s")  # the shortest interval
    with pytest.raises(InvalidArgument):
        validate_cron_expression("@every 0s")


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("1", 1), ("007", 7), ("100", 100)])
def test_decimals(text: str, value: int) -> None:
    assert validation.decimal("limit", text, 0, 100) == value


@pytest.mark.parametrize("text", ["", " 1", "1 ", "+1", "-1", "1.0", "1e2", "0x1", "\u00b2",
                                  "\u0661", "\uff11", "1\n", "101", "9" * 33, "9" * 5000])
def test_malformed_or_out_of_range_decimals(text: str) -> None:
    with pytest.raises(InvalidArgument, match="limit") as info:
        validation.decimal("limit", text, 0, 100)
    assert len(info.value.message) < 200  # a 5,000-digit value is not echoed whole


@pytest.mark.parametrize("name", ["a\n", "a\r\n", "a\x00", " a", "a "])
def test_names_are_matched_whole(name: str) -> None:
    for check in (validation.service_name, validation.function_name, validation.trigger_name):
        with pytest.raises(InvalidArgument):
            check(name)


@pytest.mark.parametrize("variable", ["FC_FUNCTION_NAME", "FC_", "FC_X", "accessKeyID",
                                      "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "topic"])
def test_reserved_environment_variables(variable: str) -> None:
    with pytest.raises(InvalidArgument, match=variable):
        validation.parse_function(function_body(environmentVariables={variable: "x"}),
                                  creating=True)


def test_caps_of_free_form_fields() -> None:
    at_cap = "d" * limits.MAX_DESCRIPTION_CHARS
    assert validation.parse_service({"description": at_cap}, creating=False) == {
        "description": at_cap}
    with pytest.raises(InvalidArgument, match="description"):
        validation.parse_service({"description": at_cap + "d"}, creating=False)
    # Objects are measured as compact UTF-8 JSON: 'é' is two bytes.
    fits = {"k": "é" * ((limits.MAX_CONFIG_OBJECT_BYTES - 10) // 2)}
    assert validation.json_size(fits) <= limits.MAX_CONFIG_OBJECT_BYTES
    assert validation.parse_function({"customContainerConfig": fits}, creating=False)
    too_big = {"k": "é" * limits.MAX_CONFIG_OBJECT_BYTES}
    with pytest.raises(InvalidArgument, match="customContainerConfig"):
        validation.parse_function({"customContainerConfig": too_big}, creating=False)


def test_log_config_names_are_strings() -> None:
    with pytest.raises(InvalidArgument, match=r"logConfig\.project"):
        validation.parse_service({"logConfig": {"project": ["p"]}}, creating=False)
    assert validation.parse_service({"logConfig": {"project": "p", "x": 1}}, creating=False)


def test_timer_intervals_are_bounded() -> None:
    yearly = {"cronExpression": f"@every {limits.MAX_TIMER_INTERVAL_S // 3600}h"}
    assert validation.validate_trigger_config("timer", yearly) == yearly
    for expression in (f"@every {limits.MAX_TIMER_INTERVAL_S + 1}s", "@every " + "9" * 5000 + "m",
                       "@every \u0661\u0660m", "@every 5m\n", "@every\n5m", "0 0 8 * * *\n"):
        with pytest.raises(InvalidArgument, match="cronExpression"):
            validation.validate_trigger_config("timer", {"cronExpression": expression})
