"""Triggers through the official SDK: fields, ETags, pagination, limits and config validation."""

from __future__ import annotations

import json
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import API, assert_fc_error, deploy, raises_fc, unique
from tests.platform_process import PlatformProcess

ECHO = {"index.py": "def handler(event, context):\n    return event\n"}
HTTP_CONFIG = {"authType": "anonymous", "methods": ["GET", "POST"]}
TIMER_CONFIG = {"cronExpression": "@every 5m", "enable": True, "payload": "tick"}
OSS_CONFIG = {"events": ["oss:ObjectCreated:*", "oss:ObjectRemoved:DeleteObject"],
              "filter": {"key": {"prefix": "in/", "suffix": ".png"}}}
OSS_ARN = "acs:oss:cn-local:000000000000:my-bucket"
# Triggers on one bucket may not overlap: the update test has a bucket of its own.
OSS_ARN_FOR_UPDATE = "acs:oss:cn-local:000000000000:update-bucket"


def new_function(client: fc2.Client) -> str:
    service = unique("svc")
    deploy(client, service, "fn", ECHO)
    return service


def test_create_http_trigger_returns_fields(shared_client: fc2.Client) -> None:
    service = new_function(shared_client)
    created = shared_client.create_trigger(
        service, "fn", "web", "http", HTTP_CONFIG, "acs:oss:x:y:ignored",
        "acs:ram::1:role/invoke", description="the web door",
    )
    data = created.data
    assert created.headers["etag"]
    assert data["triggerName"] == "web"
    assert data["description"] == "the web door"
    assert data["triggerType"] == "http"
    assert data["triggerConfig"] == HTTP_CONFIG
    assert data["sourceArn"] is None  # http triggers have no source, even when one is sent
    assert data["invocationRole"] == "acs:ram::1:role/invoke"
    assert data["qualifier"] is None
    assert data["createdTime"]
    assert data["lastModifiedTime"]

    fetched = shared_client.get_trigger(service, "fn", "web")
    assert fetched.data == data
    assert fetched.headers["etag"] == created.headers["etag"]


def test_timer_and_oss_triggers_echo_their_config(shared_client: fc2.Client) -> None:
    service = new_function(shared_client)
    timer = shared_client.create_trigger(service, "fn", "tick", "timer", TIMER_CONFIG, None,
                                         None).data
    assert timer["triggerConfig"] == TIMER_CONFIG
    assert timer["triggerType"] == "timer"
    cron = {"cronExpression": "0 0 8 * * *", "enable": False}
    assert shared_client.create_trigger(service, "fn", "cron", "timer", cron, None,
                                        None).data["triggerConfig"] == cron
    oss = shared_client.create_trigger(service, "fn", "upload", "oss", OSS_CONFIG, OSS_ARN,
                                       "acs:ram::1:role/oss").data
    assert oss["triggerConfig"] == OSS_CONFIG
    assert oss["sourceArn"] == OSS_ARN
    assert shared_client.get_trigger(service, "fn", "upload").data["sourceArn"] == OSS_ARN


def test_update_trigger_changes_etag_and_config(shared_client: fc2.Client) -> None:
    service = new_function(shared_client)
    created = shared_client.create_trigger(service, "fn", "web", "http", HTTP_CONFIG, None, None)
    etags = {created.headers["etag"]}
    new_config = {"authType": "function", "methods": ["PUT"]}
    updated = shared_client.update_trigger(service, "fn", "web", triggerConfig=new_config)
    assert updated.data["triggerConfig"] == new_config
    assert updated.data["triggerType"] == "http"
    assert updated.data["createdTime"] == created.data["createdTime"]
    etags.add(updated.headers["etag"])
    updated = shared_client.update_trigger(service, "fn", "web", description="now described",
                                           invocationRole="acs:ram::1:role/x")
    assert updated.data["description"] == "now described"
    assert updated.data["invocationRole"] == "acs:ram::1:role/x"
    assert updated.data["triggerConfig"] == new_config  # not sent, so unchanged
    etags.add(updated.headers["etag"])
    assert len(etags) == 3
    assert shared_client.get_trigger(service, "fn", "web").headers["etag"] in etags


def test_if_match_guards_trigger_update_and_delete(shared_client: fc2.Client) -> None:
    service = new_function(shared_client)
    etag = shared_client.create_trigger(service, "fn", "web", "http", HTTP_CONFIG, None,
                                        None).headers["etag"]
    with raises_fc(412, "PreconditionFailed"):
        shared_client.update_trigger(service, "fn", "web", description="x",
                                     headers={"if-match": "wrong"})
    with raises_fc(412, "PreconditionFailed"):
        shared_client.delete_trigger(service, "fn", "web", headers={"if-match": "wrong"})
    etag = shared_client.update_trigger(service, "fn", "web", description="y",
                                        headers={"if-match": etag}).headers["etag"]
    shared_client.delete_trigger(service, "fn", "web", headers={"if-match": etag})
    with raises_fc(404, "TriggerNotFound"):
        shared_client.get_trigger(service, "fn", "web")


def test_missing_and_duplicate_triggers(shared_client: fc2.Client) -> None:
    service = new_function(shared_client)
    with raises_fc(404, "TriggerNotFound"):
        shared_client.get_trigger(service, "fn", "nope")
    with raises_fc(404, "TriggerNotFound"):
        shared_client.update_trigger(service, "fn", "nope", description="x")
    with raises_fc(404, "TriggerNotFound"):
        shared_client.delete_trigger(service, "fn", "nope")
    with raises_fc(404, "FunctionNotFound"):
        shared_client.create_trigger(service, "nofn", "web", "http", HTTP_CONFIG, None, None)
    with raises_fc(404, "ServiceNotFound"):
        shared_client.create_trigger(unique("nosvc"), "fn", "web", "http", HTTP_CONFIG, None,
                                     None)
    shared_client.create_trigger(service, "fn", "web", "http", HTTP_CONFIG, None, None)
    with raises_fc(409, "TriggerAlreadyExists"):
        shared_client.create_trigger(service, "fn", "web", "timer", TIMER_CONFIG, None, None)


def test_list_triggers_pages_with_prefix(shared_client: fc2.Client) -> None:
    service = new_function(shared_client)
    names = [f"t_{i}" for i in range(5)]
    for name in [*names, "tx"]:
        shared_client.create_trigger(service, "fn", name, "timer", TIMER_CONFIG, None, None)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        data = shared_client.list_triggers(service, "fn", limit=2, prefix="t_",
                                           nextToken=token).data
        pages += 1
        seen += [t["triggerName"] for t in data["triggers"]]
        token = data.get("nextToken")
        if not token:
            break
        assert pages < 10
    assert seen == names
    assert pages == 3
    everything = shared_client.list_triggers(service, "fn").data
    assert [t["triggerName"] for t in everything["triggers"]] == [*names, "tx"]
    assert not everything.get("nextToken")


def test_ten_triggers_per_function(shared_client: fc2.Client) -> None:
    service = new_function(shared_client)
    for i in range(10):
        shared_client.create_trigger(service, "fn", f"t{i}", "timer", TIMER_CONFIG, None, None)
    with raises_fc(429, "ResourceExhausted") as info:
        shared_client.create_trigger(service, "fn", "t10", "timer", TIMER_CONFIG, None, None)
    assert "10" in json.loads(info.value.message)["ErrorMessage"]
    shared_client.delete_trigger(service, "fn", "t0")
    shared_client.create_trigger(service, "fn", "t10", "timer", TIMER_CONFIG, None, None)


BAD_TRIGGERS: list[tuple[str, dict[str, Any]]] = [
    ("unknown type", {"triggerType": "carrier-pigeon", "triggerConfig": HTTP_CONFIG}),
    ("type not a string", {"triggerType": ["http"], "triggerConfig": HTTP_CONFIG}),
    ("no type", {"triggerType": None, "triggerConfig": HTTP_CONFIG}),
    ("no config", {"triggerType": "http", "triggerConfig": None}),
    ("config not an object", {"triggerType": "http", "triggerConfig": "anonymous"}),
    ("bad name", {"triggerName": "a.b"}),
    ("name digit first", {"triggerName": "1web"}),
    ("http authType unknown", {"triggerConfig": {"authType": "open", "methods": ["GET"]}}),
    ("http authType missing", {"triggerConfig": {"methods": ["GET"]}}),
    ("http methods empty", {"triggerConfig": {"authType": "anonymous", "methods": []}}),
    ("http methods missing", {"triggerConfig": {"authType": "anonymous"}}),
    ("http methods not a list", {"triggerConfig": {"authType": "anonymous", "methods": "GET"}}),
    ("http method unknown", {"triggerConfig": {"authType": "anonymous", "methods": ["FETCH"]}}),
    ("http method not a string", {"triggerConfig": {"authType": "anonymous", "methods": [1]}}),
    ("timer cron missing", {"triggerType": "timer", "triggerConfig": {"enable": True}}),
    ("timer cron five fields", {"triggerType": "timer",
                                "triggerConfig": {"cronExpression": "0 8 * * *"}}),
    ("timer cron garbage", {"triggerType": "timer",
                            "triggerConfig": {"cronExpression": "every day at noon"}}),
    ("timer cron out of range", {"triggerType": "timer",
                                 "triggerConfig": {"cronExpression": "0 0 25 * * *"}}),
    ("timer every too often", {"triggerType": "timer",
                               "triggerConfig": {"cronExpression": "@every 0s"}}),
    ("timer every no duration", {"triggerType": "timer",
                                 "triggerConfig": {"cronExpression": "@every"}}),
    ("timer cron not a string", {"triggerType": "timer",
                                 "triggerConfig": {"cronExpression": 5}}),
    ("timer enable not bool", {"triggerType": "timer",
                               "triggerConfig": {"cronExpression": "@every 5m",
                                                 "enable": "yes"}}),
    ("timer payload not string", {"triggerType": "timer",
                                  "triggerConfig": {"cronExpression": "@every 5m",
                                                    "payload": {"a": 1}}}),
    ("oss events missing", {"triggerType": "oss", "sourceArn": OSS_ARN,
                            "triggerConfig": {"filter": {}}}),
    ("oss events empty", {"triggerType": "oss", "sourceArn": OSS_ARN,
                          "triggerConfig": {"events": []}}),
    ("oss event unknown", {"triggerType": "oss", "sourceArn": OSS_ARN,
                           "triggerConfig": {"events": ["s3:ObjectCreated:*"]}}),
    ("oss filter key not object", {"triggerType": "oss", "sourceArn": OSS_ARN,
                                   "triggerConfig": {"events": ["oss:ObjectCreated:*"],
                                                     "filter": {"key": "in/"}}}),
    ("oss filter not object", {"triggerType": "oss", "sourceArn": OSS_ARN,
                               "triggerConfig": {"events": ["oss:ObjectCreated:*"],
                                                 "filter": "in/"}}),
    ("oss prefix not string", {"triggerType": "oss", "sourceArn": OSS_ARN,
                               "triggerConfig": {"events": ["oss:ObjectCreated:*"],
                                                 "filter": {"key": {"prefix": 1}}}}),
    ("oss sourceArn missing", {"triggerType": "oss", "sourceArn": None,
                               "triggerConfig": OSS_CONFIG}),
    ("oss sourceArn malformed", {"triggerType": "oss", "sourceArn": "arn:aws:s3:::bucket",
                                 "triggerConfig": OSS_CONFIG}),
    ("invocationRole not string", {"invocationRole": 5}),
    ("qualifier not string", {"qualifier": 1}),
]


@pytest.mark.parametrize(("case", "override"), BAD_TRIGGERS, ids=[c for c, _ in BAD_TRIGGERS])
def test_invalid_trigger_requests_are_400(
    shared_platform: PlatformProcess, shared_client: fc2.Client, case: str,
    override: dict[str, Any],
) -> None:
    service = new_function(shared_client)
    body: dict[str, Any] = {"triggerName": "t", "triggerType": "http",
                            "triggerConfig": HTTP_CONFIG, "sourceArn": None,
                            "invocationRole": None, "qualifier": None}
    body.update(override)
    url = f"{shared_platform.endpoint}{API}/services/{service}/functions/fn/triggers"
    assert_fc_error(httpx.post(url, json=body), 400, "InvalidArgument")
    with raises_fc(404, "TriggerNotFound"):
        shared_client.get_trigger(service, "fn", "t")


@pytest.mark.parametrize(("trigger_type", "good", "source_arn", "bad"), [
    ("http", HTTP_CONFIG, None, {"authType": "anonymous", "methods": ["TRACE"]}),
    ("timer", TIMER_CONFIG, None, {"cronExpression": "* * * * *"}),
    ("oss", OSS_CONFIG, OSS_ARN_FOR_UPDATE, {"events": ["created"]}),
])
def test_invalid_trigger_config_on_update_is_400(
    shared_platform: PlatformProcess, shared_client: fc2.Client, trigger_type: str,
    good: dict[str, Any], source_arn: str | None, bad: dict[str, Any],
) -> None:
    service = new_function(shared_client)
    etag = shared_client.create_trigger(service, "fn", "t", trigger_type, good, source_arn,
                                        None).headers["etag"]
    url = f"{shared_platform.endpoint}{API}/services/{service}/functions/fn/triggers/t"
    assert_fc_error(httpx.put(url, json={"triggerConfig": bad}), 400, "InvalidArgument")
    after = shared_client.get_trigger(service, "fn", "t")
    assert after.data["triggerConfig"] == good
    assert after.headers["etag"] == etag


def test_invalid_trigger_json_is_400(shared_platform: PlatformProcess,
                                     shared_client: fc2.Client) -> None:
    service = new_function(shared_client)
    url = f"{shared_platform.endpoint}{API}/services/{service}/functions/fn/triggers"
    assert_fc_error(httpx.post(url, content=b"{oops"), 400, "InvalidArgument")
    assert_fc_error(httpx.post(url, content=b"[]"), 400, "InvalidArgument")
