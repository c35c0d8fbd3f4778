"""Bucket notifications of external S3-compatible servers: MinIO's webhook and Ceph RGW's
HTTP endpoint POST their event records to /2016-08-15/bucket-notifications, which fires the
oss triggers of that bucket with FC's OSS event JSON.

The bodies below are those the servers send (reference/triggers.md §5.1 and §6).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import fc2
import httpx
import oss2
import pytest
from fc2.auth import Auth

from tests.conftest import API, assert_fc_error, deploy, unique
from tests.platform_process import PlatformProcess
from tests.test_async_api import list_records, wait_record

TOKEN = "s3cr3t-notify-token"
NOTIFY = f"{API}/bucket-notifications"
# Returns the event it received: the record's returnPayload is what the function saw.
ECHO = {"index.py": "def handler(event, context):\n    return event\n"}

# MinIO's webhook body: one record per POST (internal/event/target/webhook.go).
MINIO_PUT: dict[str, Any] = {
    "EventName": "s3:ObjectCreated:Put", "Key": "images/photos/gopher one.jpg",
    "Records": [{
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
        "eventTime": "2018-10-31T09:31:11.000Z", "eventName": "s3:ObjectCreated:Put",
        "userIdentity": {"principalId": "21EJ9HYV110O8NVX2VMS"},
        "requestParameters": {"principalId": "21EJ9HYV110O8NVX2VMS", "region": "",
                              "sourceIPAddress": "10.1.1.1"},
        "responseElements": {"x-amz-id-2": "eb9f7c3a", "x-amz-request-id": "1562A792DAA53426",
                             "x-minio-deployment-id": "5e2f2a4e-9b8b-4a4c-a6b4-8b1f4f1c6a10",
                             "x-minio-origin-endpoint": "http://10.0.3.1:9000",
                             "content-length": "162023"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
               "bucket": {"name": "images", "ownerIdentity": {
                   "principalId": "21EJ9HYV110O8NVX2VMS"}, "arn": "arn:aws:s3:::images"},
               "object": {"key": "photos%2Fgopher+one.jpg", "size": 162023,
                          "eTag": "5337769ffa594e742408ad3f30713cd7",
                          "contentType": "image/jpeg",
                          "userMetadata": {"content-type": "image/jpeg",
                                           "X-Amz-Meta-Owner": "ann"},
                          "versionId": "1", "sequencer": "1562A792DAA53426"}},
        "source": {"host": "10.1.1.1", "port": "",
                   "userAgent": "MinIO (linux; amd64) minio-go/v6.0.8 mc/DEVELOPMENT.GOGET"},
    }],
}
# A delete: no size, eTag, contentType or userMetadata (omitempty).
MINIO_DELETE: dict[str, Any] = {
    "EventName": "s3:ObjectRemoved:Delete", "Key": "images/photos/old.jpg",
    "Records": [{
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
        "eventTime": "2018-10-31T09:35:02.000Z", "eventName": "s3:ObjectRemoved:Delete",
        "userIdentity": {"principalId": "21EJ9HYV110O8NVX2VMS"},
        "requestParameters": {"principalId": "21EJ9HYV110O8NVX2VMS", "region": "",
                              "sourceIPAddress": "10.1.1.2"},
        "responseElements": {"x-amz-request-id": "1562A7A1C0FFEE00",
                             "x-minio-origin-endpoint": "http://10.0.3.1:9000"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
               "bucket": {"name": "images", "ownerIdentity": {
                   "principalId": "21EJ9HYV110O8NVX2VMS"}, "arn": "arn:aws:s3:::images"},
               "object": {"key": "photos%2Fold.jpg", "sequencer": "1562A7A1C0FFEE00"}},
        "source": {"host": "10.1.1.2", "port": "", "userAgent": "MinIO"},
    }],
}
# Ceph RGW (doc/radosgw/notifications.rst): no s3: prefix, microseconds, size as a string.
CEPH_PUT: dict[str, Any] = {"Records": [{
    "eventVersion": "2.1", "eventSource": "ceph:s3", "awsRegion": "zonegroup1",
    "eventTime": "2019-11-22T13:47:35.124724Z", "eventName": "ObjectCreated:Put",
    "userIdentity": {"principalId": "tester"}, "requestParameters": {"sourceIPAddress": ""},
    "responseElements": {"x-amz-request-id": "503a4c37-85eb-47cd-8681-2817e80b4281.5330.903595",
                         "x-amz-id-2": "14d2-zone1-zonegroup1"},
    "s3": {"s3SchemaVersion": "1.0", "configurationId": "mynotif1",
           "bucket": {"name": "mybucket1", "ownerIdentity": {"principalId": "tester"},
                      "arn": "arn:aws:s3:zonegroup1::mybucket1",
                      "id": "503a4c37-85eb-47cd-8681-2817e80b4281.5332.38"},
           "object": {"key": "raw/myimage1.jpg", "size": "1024",
                      "eTag": "37b51d194a7513e45b56f6524f2d51f2", "versionId": "",
                      "sequencer": "F7E6D75DC742D108",
                      "metadata": [{"key": "x-amz-meta-camera", "value": "x100"},
                                   {"key": "x-amz-content-sha256", "value": ""}],
                      "tags": []}},
    "eventId": "1574430455.124724.37b51d194a7513e45b56f6524f2d51f2",
    "opaqueData": "me@example.com",
}]}


def with_bucket(body: dict[str, Any], bucket: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    for record in changed["Records"]:
        record["s3"]["bucket"]["name"] = bucket
    return changed


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def notified(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """A platform with a notification token (and no access keys)."""
    running = PlatformProcess(tmp_path_factory.mktemp("notified") / "data",
                              env={"FCOMPUTE_NOTIFICATION_TOKEN": TOKEN}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(notified: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=notified.endpoint, accessKeyID="test", accessKeySecret="test")


Watch = Callable[..., tuple[str, str]]


@pytest.fixture
def watch(client: fc2.Client) -> Watch:
    """watch(bucket, events, prefix=, suffix=) -> (service, function): an echo function
    with an oss trigger on ``bucket``."""
    def make(bucket: str, events: list[str], prefix: str = "", suffix: str = "",
             qualifier: str | None = None) -> tuple[str, str]:
        service = unique("notify")
        deploy(client, service, "echo", ECHO)
        config = {"events": events, "filter": {"key": {"prefix": prefix, "suffix": suffix}}}
        client.create_trigger(service, "echo", "on-object", "oss", config,
                              f"acs:oss:cn-hangzhou:1234567890:{bucket}", None,
                              qualifier=qualifier)
        return service, "echo"

    return make


def post(platform: PlatformProcess, body: Any, headers: dict[str, str] | None = None,
         params: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{platform.endpoint}{NOTIFY}", content=content, params=params,
                      headers={"content-type": "application/json", **(headers or {})},
                      timeout=30)


def received(platform: PlatformProcess, service: str, function: str,
             invocation_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the record once it succeeded, the event the function got)."""
    record = wait_record(platform, service, function, invocation_id)
    assert record["status"] == "Succeeded", record
    full = httpx.get(f"{platform.endpoint}{API}/services/{service}/functions/{function}"
                     f"/stateful-async-invocations/{invocation_id}",
                     params={"includePayload": "true"}, timeout=30).json()
    event: dict[str, Any] = json.loads(full["returnPayload"])
    assert json.loads(full["invocationPayload"]) == event
    return record, event


def test_a_minio_put_fires_the_trigger_with_the_oss_event(
        notified: PlatformProcess, watch: Watch) -> None:
    bucket = unique("images")
    service, function = watch(bucket, ["oss:ObjectCreated:*"], prefix="photos/",
                              suffix=".jpg")
    answer = post(notified, with_bucket(MINIO_PUT, bucket), bearer())
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-fc-request-id"]
    result = answer.json()
    assert result["records"] == 1
    assert result["ignored"] == 0
    [fired] = result["invocations"]
    assert (fired["serviceName"], fired["functionName"], fired["triggerName"]) == (
        service, function, "on-object")
    assert fired["repeated"] is False
    record, event = received(notified, service, function, fired["invocationId"])
    assert record["qualifier"] == "LATEST"
    [one] = event["events"]
    rule = one["oss"].pop("ruleId")
    assert re.fullmatch("[0-9a-f]{40}", rule)
    assert event == {"events": [{
        "eventName": "ObjectCreated:PutObject",
        "eventSource": "acs:oss",
        "eventTime": "2018-10-31T09:31:11.000Z",
        "eventVersion": "1.0",
        "oss": {
            "bucket": {"arn": f"acs:oss:cn-hangzhou:1234567890:{bucket}", "name": bucket,
                       "ownerIdentity": "1234567890", "virtualBucket": ""},
            "object": {"deltaSize": 162023, "eTag": "5337769FFA594E742408AD3F30713CD7",
                       "key": "photos/gopher one.jpg",  # MinIO escapes it as a query value
                       "objectMeta": {"mimeType": "image/jpeg",
                                      "userMeta": {"x-oss-meta-owner": "ann"}},
                       "size": 162023},
            "ossSchemaVersion": "1.0",
        },
        "region": "cn-hangzhou",
        "requestParameters": {"sourceIPAddress": "10.1.1.1"},
        "responseElements": {"requestId": "1562A792DAA53426"},
        "userIdentity": {"principalId": "21EJ9HYV110O8NVX2VMS"},
    }]}


def test_a_repeated_delivery_starts_nothing_new(notified: PlatformProcess,
                                                watch: Watch) -> None:
    # MinIO with queue_dir and Ceph with persistent=true resend until they get a 2xx.
    bucket = unique("images")
    service, function = watch(bucket, ["oss:ObjectCreated:PutObject"])
    first = post(notified, with_bucket(MINIO_PUT, bucket), bearer()).json()["invocations"]
    again = post(notified, with_bucket(MINIO_PUT, bucket), bearer()).json()["invocations"]
    assert [i["invocationId"] for i in again] == [i["invocationId"] for i in first]
    assert [i["repeated"] for i in first + again] == [False, True]
    wait_record(notified, service, function, first[0]["invocationId"])
    assert len(list_records(notified, service, function)["invocations"]) == 1


def test_a_ceph_notification_with_the_token_in_the_url(notified: PlatformProcess,
                                                       watch: Watch) -> None:
    bucket = unique("mybucket")
    service, function = watch(bucket, ["oss:ObjectCreated:PutObject"], prefix="raw/")
    answer = post(notified, with_bucket(CEPH_PUT, bucket), params={"token": TOKEN})
    assert answer.status_code == 200, answer.text
    [fired] = answer.json()["invocations"]
    _, event = received(notified, service, function, fired["invocationId"])
    [one] = event["events"]
    assert one["eventName"] == "ObjectCreated:PutObject"
    assert one["eventTime"] == "2019-11-22T13:47:35.000Z"
    assert one["oss"]["object"] == {
        "deltaSize": 1024, "eTag": "37B51D194A7513E45B56F6524F2D51F2",
        "key": "raw/myimage1.jpg", "objectMeta": {
            "mimeType": "", "userMeta": {"x-oss-meta-camera": "x100"}}, "size": 1024}
    assert one["userIdentity"] == {"principalId": "tester"}
    assert one["requestParameters"] == {"sourceIPAddress": ""}
    assert one["responseElements"] == {
        "requestId": "503a4c37-85eb-47cd-8681-2817e80b4281.5330.903595"}


def test_older_ceph_names_with_the_s3_prefix_are_read_too(notified: PlatformProcess,
                                                          watch: Watch) -> None:
    bucket = unique("mybucket")
    watch(bucket, ["oss:ObjectCreated:*"])
    body = with_bucket(CEPH_PUT, bucket)
    body["Records"][0]["eventName"] = "s3:ObjectCreated:Put"
    assert len(post(notified, body, bearer()).json()["invocations"]) == 1


def test_a_delete_fires_removed_triggers_only(notified: PlatformProcess,
                                              watch: Watch) -> None:
    bucket = unique("images")
    removed = watch(bucket, ["oss:ObjectRemoved:*"], prefix="photos/")
    watch(bucket, ["oss:ObjectCreated:*"], prefix="photos/")  # does not overlap: other events
    answer = post(notified, with_bucket(MINIO_DELETE, bucket), bearer())
    assert answer.status_code == 200, answer.text
    [fired] = answer.json()["invocations"]
    assert (fired["serviceName"], fired["functionName"]) == removed
    _, event = received(notified, *removed, fired["invocationId"])
    [one] = event["events"]
    assert one["eventName"] == "ObjectRemoved:DeleteObject"
    assert one["oss"]["object"]["key"] == "photos/old.jpg"
    assert one["oss"]["object"]["size"] == 0
    assert one["requestParameters"] == {"sourceIPAddress": "10.1.1.2"}


def test_events_with_no_oss_counterpart_are_ignored(notified: PlatformProcess,
                                                    watch: Watch) -> None:
    bucket = unique("images")
    service, function = watch(bucket, ["oss:ObjectCreated:*", "oss:ObjectRemoved:*"])
    body = with_bucket(MINIO_PUT, bucket)
    body["Records"][0]["eventName"] = "s3:ObjectAccessed:Get"
    answer = post(notified, body, bearer())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"records": 1, "ignored": 1, "invocations": []}
    assert list_records(notified, service, function)["invocations"] == []


def test_the_trigger_qualifier_is_honoured(notified: PlatformProcess, client: fc2.Client,
                                           watch: Watch) -> None:
    bucket = unique("images")
    service = unique("notify")
    deploy(client, service, "echo", ECHO)
    version = client.publish_version(service).data["versionId"]
    client.create_alias(service, "prod", version)
    client.create_trigger(service, "echo", "on-object", "oss",
                          {"events": ["oss:ObjectCreated:*"]},
                          f"acs:oss:cn-hangzhou:1234567890:{bucket}", None, qualifier="prod")
    [fired] = post(notified, with_bucket(MINIO_PUT, bucket), bearer()).json()["invocations"]
    record = wait_record(notified, service, "echo", fired["invocationId"])
    assert record["status"] == "Succeeded", record
    assert record["qualifier"] == "prod"
    assert record["versionId"] == version


def test_no_trigger_for_the_bucket_answers_200_with_nothing(notified: PlatformProcess) -> None:
    answer = post(notified, with_bucket(MINIO_PUT, unique("nobody")), bearer())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"records": 1, "ignored": 0, "invocations": []}


@pytest.mark.parametrize(("headers", "params"), [
    ({}, {}),
    (bearer("not-the-token"), {}),
    ({"authorization": "Basic bm8="}, {}),
    ({}, {"token": "not-the-token"}),
    ({"authorization": f"Bearer {TOKEN}x"}, {}),
])
def test_without_the_token_a_notification_is_refused(
        notified: PlatformProcess, watch: Watch, headers: dict[str, str],
        params: dict[str, str]) -> None:
    bucket = unique("images")
    service, function = watch(bucket, ["oss:ObjectCreated:*"])
    answer = post(notified, with_bucket(MINIO_PUT, bucket), headers, params)
    body = assert_fc_error(answer, 403, "AccessDenied")
    assert "token" in body["ErrorMessage"]
    assert list_records(notified, service, function)["invocations"] == []


def test_the_token_verbatim_is_accepted(notified: PlatformProcess) -> None:
    # MinIO sends a two-word auth_token ('Basic xyz') as the whole header.
    answer = post(notified, with_bucket(MINIO_PUT, unique("b")), {"authorization": TOKEN})
    assert answer.status_code == 200, answer.text


def bad(body: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    change(changed["Records"][0])
    return changed


@pytest.mark.parametrize(("body", "words"), [
    (b"{not json", "JSON"),
    (b"[]", "object"),
    ({}, "Records"),
    ({"Records": {"eventName": "s3:ObjectCreated:Put"}}, "Records"),
    ({"Records": ["x"]}, "Records[0]"),
    (bad(MINIO_PUT, lambda r: r.pop("eventName")), "Records[0].eventName"),
    (bad(MINIO_PUT, lambda r: r.pop("s3")), "Records[0].s3"),
    (bad(MINIO_PUT, lambda r: r["s3"]["bucket"].pop("name")), "Records[0].s3.bucket.name"),
    (bad(MINIO_PUT, lambda r: r["s3"]["object"].update(key="")), "Records[0].s3.object.key"),
    (bad(MINIO_PUT, lambda r: r["s3"]["object"].update(size=-1)), "size"),
    (bad(MINIO_PUT, lambda r: r["s3"]["object"].update(size="12kB")), "size"),
    (bad(MINIO_PUT, lambda r: r.update(eventTime="yesterday")), "eventTime"),
    (bad(MINIO_PUT, lambda r: r.update(userIdentity=None)), "userIdentity"),
    (bad(CEPH_PUT, lambda r: r["s3"]["object"].update(metadata={"a": "b"})), "metadata"),
    ({"Records": [MINIO_PUT["Records"][0]] * 101}, "at most 100"),
])
def test_a_bad_body_is_a_400_in_the_fc_format(notified: PlatformProcess, body: Any,
                                              words: str) -> None:
    answer = post(notified, body, bearer())
    message = assert_fc_error(answer, 400, "InvalidArgument")["ErrorMessage"]
    assert words in message, message


def test_a_body_over_a_megabyte_is_a_413(notified: PlatformProcess) -> None:
    body = with_bucket(MINIO_PUT, "images")
    body["padding"] = "x" * (1024 * 1024)
    assert_fc_error(post(notified, body, bearer()), 413, "EntityTooLarge")


def test_an_open_platform_takes_notifications_without_a_token(
        make_platform: Callable[..., PlatformProcess]) -> None:
    # No keys, no token: loopback only, like the rest of the API there.
    platform = make_platform("--sandbox", "process")
    answer = post(platform, with_bucket(MINIO_PUT, "images"))
    assert answer.status_code == 200, answer.text


def test_with_access_keys_and_no_token_only_signed_requests_are_taken(
        make_platform: Callable[..., PlatformProcess]) -> None:
    platform = make_platform("--sandbox", "process", env={
        "FCOMPUTE_ACCESS_KEY_ID": "ak", "FCOMPUTE_ACCESS_KEY_SECRET": "sk"})
    body = json.dumps(with_bucket(MINIO_PUT, "images")).encode()
    for refused in (post(platform, body), post(platform, body, bearer())):
        assert refused.status_code == 403, refused.text
        assert refused.json()["ErrorCode"] in ("AccessDenied", "SignatureNotMatch")
    headers = {"content-type": "application/json", "date": formatdate(usegmt=True)}
    headers["authorization"] = Auth("ak", "sk").sign_request("POST", NOTIFY, headers)
    answer = post(platform, body, headers)
    assert answer.status_code == 200, answer.text


def test_a_bucket_of_the_embedded_store_is_refused(notified: PlatformProcess,
                                                   watch: Watch) -> None:
    bucket = unique("own")
    service, function = watch(bucket, ["oss:ObjectCreated:*"])
    oss2.Bucket(oss2.Auth("any", "any"), notified.storage_endpoint, bucket).create_bucket()
    answer = post(notified, with_bucket(MINIO_PUT, bucket), bearer())
    message = assert_fc_error(answer, 409, "BucketNotExternal")["ErrorMessage"]
    assert bucket in message
    assert list_records(notified, service, function)["invocations"] == []


def test_with_access_keys_and_a_token_the_token_is_enough(
        make_platform: Callable[..., PlatformProcess]) -> None:
    # MinIO and Ceph cannot sign FC requests: on a platform with keys, the token admits them.
    platform = make_platform("--sandbox", "process", env={
        "FCOMPUTE_ACCESS_KEY_ID": "ak", "FCOMPUTE_ACCESS_KEY_SECRET": "sk",
        "FCOMPUTE_NOTIFICATION_TOKEN": TOKEN})
    body = json.dumps(with_bucket(MINIO_PUT, "images")).encode()
    assert post(platform, body, bearer()).status_code == 200
    refused = post(platform, body, bearer("wrong"))
    assert refused.status_code == 403, refused.text
