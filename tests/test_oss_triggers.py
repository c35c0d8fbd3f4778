"""oss triggers on the embedded object store: config as FC and Serverless Devs send it, the
overlap rule, which writes fire which triggers, the OSS event JSON a real function gets,
qualifiers, one async record per event, durability across kill -9, and a function's own
writes. Objects are written with oss2 (and boto3) against the platform's store.
"""

from __future__ import annotations

import calendar
import itertools
import json
import re
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import fc2
import httpx
import oss2
import pytest
from botocore.config import Config

from fcompute.triggers.oss_config import OSS_EVENTS, OssFilter
from tests.conftest import API, deploy, raises_fc, unique, wait_for, write_code
from tests.platform_process import PlatformProcess
from tests.test_async_api import all_records, wait_record

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # oss2's pools

ACCOUNT = "000000000000"  # the platform's account id (settings.account_id)
# Returns the event it received: the record's returnPayload is what the function saw.
ECHO = {"index.py": "def handler(event, context):\n    return event\n"}
SESSION = oss2.Session()


@pytest.fixture(scope="module", autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    SESSION.session.close()


def arn(bucket: str, region: str = "cn-hangzhou") -> str:
    return f"acs:oss:{region}:{ACCOUNT}:{bucket}"


def store(platform: PlatformProcess, name: str) -> oss2.Bucket:
    """An oss2 client of bucket ``name`` (created) on the platform's store."""
    bucket = oss2.Bucket(oss2.Auth("any-key", "any-secret"), platform.storage_endpoint, name,
                         session=SESSION)
    bucket.create_bucket()
    return bucket


def echo_function(client: fc2.Client) -> str:
    service = unique("osst")
    deploy(client, service, "echo", ECHO)
    return service


def trigger(client: fc2.Client, service: str, bucket: str, config: dict[str, Any], *,
            name: str = "on-object", function: str = "echo", **options: Any) -> dict[str, Any]:
    created: dict[str, Any] = client.create_trigger(service, function, name, "oss", config,
                                                    arn(bucket), None, **options).data
    return created


def records(platform: PlatformProcess, service: str, function: str = "echo",
            count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
    """The function's async records once there are ``count`` of them, oldest first."""
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        found[:] = all_records(platform, service, function, sortOrderByTime="asc")
        return len(found) >= count

    assert wait_for(enough, timeout), found
    return found


def received(platform: PlatformProcess, service: str, invocation_id: str,
             function: str = "echo") -> dict[str, Any]:
    """The event the function got (it returns it), once its invocation succeeded."""
    record = wait_record(platform, service, function, invocation_id)
    assert record["status"] == "Succeeded", record
    full = httpx.get(f"{platform.endpoint}{API}/services/{service}/functions/{function}"
                     f"/stateful-async-invocations/{invocation_id}",
                     params={"includePayload": "true"}, timeout=30).json()
    event: dict[str, Any] = json.loads(full["returnPayload"])
    assert json.loads(full["invocationPayload"]) == event
    return event


def fired_keys(platform: PlatformProcess, service: str, count: int) -> list[tuple[str, str]]:
    """(eventName, key) of each event the function got, in order, once there are
    ``count``; and not one more within a moment."""
    found = records(platform, service, count=count)
    time.sleep(0.3)
    found = all_records(platform, service, "echo", sortOrderByTime="asc")
    assert len(found) == count, [r["invocationId"] for r in found]
    out = []
    for record in found:
        [one] = received(platform, service, record["invocationId"])["events"]
        out.append((one["eventName"], one["oss"]["object"]["key"]))
    return out


# config ---------------------------------------------------------------------------------

def test_serverless_devs_config_is_read_in_any_case_and_echoed_as_sent(
        shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    bucket = unique("sdevs")
    service = echo_function(shared_client)
    # What `s deploy` sends: the s.yaml config verbatim (reference/triggers.md §2.1, §4).
    config = {"bucketName": bucket, "events": ["oss:ObjectCreated:*"],
              "filter": {"Key": {"Prefix": "source/", "Suffix": ".png"}}}
    created = trigger(shared_client, service, bucket, config)
    assert created["triggerConfig"] == config
    assert created["sourceArn"] == arn(bucket)
    assert shared_client.get_trigger(service, "echo", "on-object").data["triggerConfig"] == (
        config)
    listed = shared_client.list_triggers(service, "echo").data["triggers"]
    assert [t["triggerConfig"] for t in listed] == [config]
    objects = store(shared_platform, bucket)
    objects.put_object("source/a.jpg", b"no")
    objects.put_object("other/a.png", b"no")
    objects.put_object("source/a.png", b"yes")
    assert fired_keys(shared_platform, service, 1) == [
        ("ObjectCreated:PutObject", "source/a.png")]

    changed = {"Events": ["oss:ObjectCreated:PutObject"], "Filter": {"KEY": {"prefix": "x/"}}}
    updated = shared_client.update_trigger(service, "echo", "on-object", changed).data
    assert updated["triggerConfig"] == changed
    objects.put_object("x/b.txt", b"yes")
    assert [key for _, key in fired_keys(shared_platform, service, 2)] == [
        "source/a.png", "x/b.txt"]


@pytest.mark.parametrize("config", [
    {"events": ["oss:ObjectCreated:Created"]},  # names no OSS event
    {"events": ["oss:ObjectCreated:*"], "Events": ["oss:ObjectRemoved:*"]},
    {"events": ["oss:ObjectCreated:*"], "filter": {"key": {"prefix": "a", "Prefix": "b"}}},
    {"events": ["oss:ObjectCreated:*"], "filter": {"Key": {"Suffix": 3}}},
    {"events": ["oss:ObjectCreated:*"], "filter": {"key": {"prefix": "p" * 1025}}},
    {"events": []},
    {"bucketName": "b"},
])
def test_bad_oss_configs_are_refused(shared_client: fc2.Client, config: dict[str, Any]) -> None:
    service = echo_function(shared_client)
    with raises_fc(400, "InvalidArgument"):
        trigger(shared_client, service, unique("bad"), config)


def test_wildcards_of_every_kind_are_accepted(shared_client: fc2.Client) -> None:
    service = echo_function(shared_client)
    bucket = unique("wild")
    for index, events in enumerate((["oss:ObjectCreated:*"], ["oss:ObjectRemoved:*"],
                                    ["oss:ObjectModified:*"])):
        trigger(shared_client, service, bucket, {"events": events}, name=f"t{index}")


def test_overlapping_triggers_of_one_bucket_are_refused_across_services(
        shared_client: fc2.Client) -> None:
    bucket = unique("overlap")
    first = echo_function(shared_client)
    trigger(shared_client, first, bucket, {"events": ["oss:ObjectCreated:*"],
                                           "filter": {"key": {"prefix": "in/",
                                                              "suffix": ".png"}}})
    second = echo_function(shared_client)
    overlapping: list[dict[str, Any]] = [
        {"events": ["oss:ObjectCreated:PutObject"]},  # no filter: every key
        {"events": ["oss:ObjectCreated:*"], "filter": {"Key": {"Prefix": "in/photos/"}}},
        {"events": ["oss:ObjectCreated:CopyObject"], "filter": {"key": {"suffix": "b.png"}}},
        {"events": ["oss:ObjectCreated:*"], "filter": {"key": {"prefix": "i",
                                                               "suffix": "png"}}},
    ]
    for index, config in enumerate(overlapping):
        with raises_fc(400, "InvalidArgument") as refused:
            trigger(shared_client, second, bucket, config, name=f"t{index}")
        message = refused.value.message
        assert f"{first}/echo/on-object" in message, message
        assert bucket in message, message
    disjoint: list[dict[str, Any]] = [
        {"events": ["oss:ObjectRemoved:*"]},  # other events
        {"events": ["oss:ObjectCreated:*"], "filter": {"key": {"prefix": "out/"}}},
        {"events": ["oss:ObjectCreated:*"], "filter": {"key": {"prefix": "in/",
                                                               "suffix": ".jpg"}}},
    ]
    for index, config in enumerate(disjoint):
        trigger(shared_client, second, bucket, config, name=f"ok{index}")
    # The same filter on another bucket is another bucket's business.
    trigger(shared_client, second, unique("other"), {"events": ["oss:ObjectCreated:*"]},
            name="elsewhere")
    # An update is held to the same rule; a trigger never overlaps itself.
    with raises_fc(400, "InvalidArgument"):
        shared_client.update_trigger(second, "echo", "ok1", {"events": ["oss:ObjectCreated:*"]})
    narrower = {"events": ["oss:ObjectCreated:*"],
                "filter": {"key": {"prefix": "in/", "suffix": "s.png"}}}
    shared_client.update_trigger(first, "echo", "on-object", narrower)
    # Once the first trigger is gone, its keys are free.
    shared_client.delete_trigger(first, "echo", "on-object")
    trigger(shared_client, second, bucket, {"events": ["oss:ObjectCreated:*"], "filter": {
        "key": {"prefix": "in/", "suffix": ".png"}}}, name="now")


def test_overlap_means_some_event_and_key_would_fire_both() -> None:
    """The rule as written (docs/storage.md) against brute force over small keys."""
    letters = "ab"
    affixes = ["", "a", "b", "ab", "ba", "aa"]
    # Every key up to the longest prefix and suffix together.
    keys = ["".join(chars) for size in range(5)
            for chars in itertools.product(letters, repeat=size)]
    event_sets = [("oss:ObjectCreated:*",), ("oss:ObjectCreated:PutObject",),
                  ("oss:ObjectRemoved:*",)]
    filters = [OssFilter.of(events, prefix, suffix) for events in event_sets
               for prefix in affixes for suffix in affixes]
    names = [name.removeprefix("oss:") for name in OSS_EVENTS]
    for one in filters:
        for other in filters:
            both = any(one.fires_on(name, key) and other.fires_on(name, key)
                       for name in names for key in keys)
            found = one.overlap(other)
            assert (found is not None) == both, (one.describe(), other.describe())
            if found is not None:
                event, key = found
                assert one.fires_on(event.removeprefix("oss:"), key)
                assert other.fires_on(event.removeprefix("oss:"), key)


def test_changes_to_triggers_apply_to_the_next_write(shared_platform: PlatformProcess,
                                                     shared_client: fc2.Client) -> None:
    bucket = unique("change")
    service = echo_function(shared_client)
    trigger(shared_client, service, bucket, {"events": ["oss:ObjectCreated:*"],
                                             "filter": {"key": {"prefix": "a/"}}})
    objects = store(shared_platform, bucket)
    objects.put_object("a/1", b"x")
    shared_client.update_trigger(service, "echo", "on-object", {
        "events": ["oss:ObjectCreated:*"], "filter": {"key": {"prefix": "b/"}}})
    objects.put_object("a/2", b"x")  # no longer matches
    objects.put_object("b/1", b"x")
    shared_client.delete_trigger(service, "echo", "on-object")
    objects.put_object("b/2", b"x")  # no trigger any more
    assert [key for _, key in fired_keys(shared_platform, service, 2)] == ["a/1", "b/1"]


# firing ---------------------------------------------------------------------------------

def test_a_put_delivers_the_oss_event_json(shared_platform: PlatformProcess,
                                           shared_client: fc2.Client) -> None:
    bucket = unique("evt")
    service = echo_function(shared_client)
    trigger(shared_client, service, bucket, {"events": ["oss:ObjectCreated:*"],
                                             "filter": {"key": {"prefix": "source/"}}})
    objects = store(shared_platform, bucket)
    before = time.time()
    put = objects.put_object("source/a b.png", b"x" * 1000, headers={
        "Content-Type": "image/png", "x-oss-meta-last-modified": "20250213"})
    [record] = records(shared_platform, service)
    assert record["qualifier"] == "LATEST"
    event = received(shared_platform, service, record["invocationId"])
    [one] = event["events"]
    when = calendar.timegm(time.strptime(one.pop("eventTime"), "%Y-%m-%dT%H:%M:%S.000Z"))
    assert int(before) - 1 <= when <= time.time() + 1
    rule = one["oss"].pop("ruleId")
    assert re.fullmatch("[0-9a-f]{40}", rule)
    assert one == {
        "eventName": "ObjectCreated:PutObject",
        "eventSource": "acs:oss",
        "eventVersion": "1.0",
        "oss": {
            "bucket": {"arn": arn(bucket), "name": bucket, "ownerIdentity": ACCOUNT,
                       "virtualBucket": ""},
            "object": {"deltaSize": 1000, "eTag": put.etag.upper(), "key": "source/a b.png",
                       "objectMeta": {"mimeType": "image/png",
                                      "userMeta": {"x-oss-meta-last-modified": "20250213"}},
                       "size": 1000},
            "ossSchemaVersion": "1.0",
        },
        "region": "cn-hangzhou",
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"requestId": put.request_id},
        "userIdentity": {"principalId": ACCOUNT},
    }
    assert put.etag == put.etag.upper()  # oss2 hands it back upper-case too
    # An overwrite: deltaSize is the change in size; the rule id is the trigger's.
    objects.put_object("source/a b.png", b"x" * 400)
    second = records(shared_platform, service, count=2)[1]
    [again] = received(shared_platform, service, second["invocationId"])["events"]
    assert (again["oss"]["object"]["size"], again["oss"]["object"]["deltaSize"]) == (400, -600)
    assert again["oss"]["ruleId"] == rule


def test_prefix_suffix_and_wildcards_choose_the_writes_that_fire(
        shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    bucket = unique("match")
    service = echo_function(shared_client)
    trigger(shared_client, service, bucket, {"events": ["oss:ObjectCreated:*"],
                                             "filter": {"key": {"prefix": "in/",
                                                                "suffix": ".png"}}})
    objects = store(shared_platform, bucket)
    objects.put_object("in/a.jpg", b"1")  # wrong suffix
    objects.put_object("out/a.png", b"1")  # wrong prefix
    objects.put_object("IN/a.PNG", b"1")  # keys are case-sensitive
    objects.put_object("in/a.png", b"1")  # PutObject
    objects.copy_object(bucket, "in/a.png", "in/b.png")  # CopyObject
    upload = objects.init_multipart_upload("in/c.png").upload_id
    part = objects.upload_part("in/c.png", upload, 1, b"p")
    objects.complete_multipart_upload("in/c.png", upload, [oss2.models.PartInfo(1, part.etag)])
    objects.delete_object("in/a.png")  # not an ObjectCreated event
    assert fired_keys(shared_platform, service, 3) == [
        ("ObjectCreated:PutObject", "in/a.png"),
        ("ObjectCreated:CopyObject", "in/b.png"),
        ("ObjectCreated:CompleteMultipartUpload", "in/c.png"),
    ]
    last = records(shared_platform, service, count=3)[2]
    [one] = received(shared_platform, service, last["invocationId"])["events"]
    assert re.fullmatch("[0-9A-F]{32}-1", one["oss"]["object"]["eTag"])


def test_boto3_writes_fire_triggers_too(shared_platform: PlatformProcess,
                                        shared_client: fc2.Client) -> None:
    bucket = unique("s3")
    service = echo_function(shared_client)
    trigger(shared_client, service, bucket, {"events": ["oss:ObjectCreated:PutObject"]})
    s3 = boto3.client("s3", endpoint_url=shared_platform.storage_endpoint,
                      aws_access_key_id="any", aws_secret_access_key="any",
                      region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="photo.jpg", Body=b"jpeg", ContentType="image/jpeg",
                  Metadata={"owner": "ann"})
    [record] = records(shared_platform, service)
    [one] = received(shared_platform, service, record["invocationId"])["events"]
    assert one["oss"]["object"]["key"] == "photo.jpg"
    assert one["oss"]["object"]["objectMeta"] == {"mimeType": "image/jpeg",
                                                  "userMeta": {"x-oss-meta-owner": "ann"}}


def test_delete_events(shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    bucket = unique("del")
    service = echo_function(shared_client)
    trigger(shared_client, service, bucket, {"events": ["oss:ObjectRemoved:DeleteObject"]})
    others = echo_function(shared_client)
    trigger(shared_client, others, bucket, {"events": ["oss:ObjectRemoved:DeleteObjects"]})
    objects = store(shared_platform, bucket)
    for key in ("a", "b", "c"):
        objects.put_object(key, b"12345")
    objects.delete_object("a")
    objects.delete_object("missing")  # nothing was removed: no event
    objects.batch_delete_objects(["b", "c"])
    assert fired_keys(shared_platform, service, 1) == [("ObjectRemoved:DeleteObject", "a")]
    [record] = records(shared_platform, service)
    [one] = received(shared_platform, service, record["invocationId"])["events"]
    assert (one["oss"]["object"]["size"], one["oss"]["object"]["deltaSize"]) == (0, -5)
    batch = records(shared_platform, others, count=2)
    keys = sorted(received(shared_platform, others, r["invocationId"])["events"][0]["oss"][
        "object"]["key"] for r in batch)
    assert keys == ["b", "c"]


def test_each_event_is_one_async_invocation_with_its_record(
        shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    bucket = unique("many")
    service = echo_function(shared_client)
    trigger(shared_client, service, bucket, {"events": ["oss:ObjectCreated:*"]})
    other = echo_function(shared_client)
    trigger(shared_client, other, bucket, {"events": ["oss:ObjectRemoved:*"]})
    objects = store(shared_platform, bucket)
    for index in range(5):
        objects.put_object(f"k{index}", b"x")
    found = records(shared_platform, service, count=5)
    assert len({r["invocationId"] for r in found}) == 5
    for record in found:
        wait_record(shared_platform, service, "echo", record["invocationId"])
    assert all_records(shared_platform, other, "echo") == []


def test_the_trigger_qualifier_is_the_version_that_runs(
        shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    bucket = unique("qual")
    service = unique("osst")
    deploy(shared_client, service, "echo",
           {"index.py": "def handler(event, context):\n    return 'one'\n"})
    version = shared_client.publish_version(service).data["versionId"]
    shared_client.create_alias(service, "prod", version)
    with tempfile.TemporaryDirectory() as code:  # LATEST moves on; prod stays
        shared_client.update_function(service, "echo", codeDir=str(write_code(Path(code), {
            "index.py": "def handler(event, context):\n    return 'two'\n"})))
    trigger(shared_client, service, bucket, {"events": ["oss:ObjectCreated:*"]},
            qualifier="prod")
    store(shared_platform, bucket).put_object("k", b"x")
    [record] = records(shared_platform, service)
    done = wait_record(shared_platform, service, "echo", record["invocationId"])
    assert done["status"] == "Succeeded", done
    assert done["qualifier"] == "prod"
    assert done["versionId"] == version
    full = httpx.get(f"{shared_platform.endpoint}{API}/services/{service}/functions/echo"
                     f"/stateful-async-invocations/{record['invocationId']}",
                     params={"includePayload": "true"}, timeout=30).json()
    assert full["returnPayload"] == "one"


def test_an_acknowledged_write_survives_kill_9(
        make_platform: Callable[..., PlatformProcess]) -> None:
    platform = make_platform("--sandbox", "process")
    client = fc2.Client(endpoint=platform.endpoint, accessKeyID="t", accessKeySecret="t")
    service = unique("osst")
    # Slow, so that the kill finds the event queued or running, never finished.
    deploy(client, service, "echo", {"index.py": (
        "import time\n"
        "def handler(event, context):\n"
        "    time.sleep(1)\n"
        "    return event\n")})
    bucket = unique("durable")
    trigger(client, service, bucket, {"events": ["oss:ObjectCreated:*"]})
    objects = store(platform, bucket)
    put = objects.put_object("survives.txt", b"acknowledged")
    assert put.status == 200
    assert platform.proc is not None
    platform.proc.send_signal(signal.SIGKILL)
    platform.proc.wait()
    platform.proc = None
    platform.start()
    [record] = records(platform, service)
    event = received(platform, service, record["invocationId"])
    [one] = event["events"]
    assert one["oss"]["object"]["key"] == "survives.txt"
    assert one["responseElements"] == {"requestId": put.request_id}


# a function's own writes ----------------------------------------------------------------

# Hands back the store credentials it was given (what its own oss2 or boto3 would use).
CREDENTIALS = {"index.py": (
    "import json\n"
    "def handler(event, context):\n"
    "    if event == b'credentials':\n"
    "        c = context.credentials\n"
    "        return json.dumps([c.access_key_id, c.access_key_secret, c.security_token])\n"
    "    return event\n")}


def test_a_function_never_fires_itself_and_says_so_once(
        shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    bucket = unique("loop")
    service = unique("osst")
    deploy(shared_client, service, "echo", CREDENTIALS)
    trigger(shared_client, service, bucket, {"events": ["oss:ObjectCreated:*"],
                                             "filter": {"key": {"prefix": "in/"}}})
    watcher = echo_function(shared_client)
    trigger(shared_client, watcher, bucket, {"events": ["oss:ObjectCreated:*"],
                                             "filter": {"key": {"prefix": "out/"}}})
    objects = store(shared_platform, bucket)
    key_id, secret, token = json.loads(
        shared_client.invoke_function(service, "echo", payload=b"credentials").data)
    assert key_id.startswith("STS.")
    as_function = oss2.Bucket(oss2.StsAuth(key_id, secret, token),
                              shared_platform.storage_endpoint, bucket, session=SESSION)
    # The function writing where it listens: stored, but it does not run again.
    as_function.put_object("in/own-1.txt", b"loop?")
    as_function.put_object("in/own-2.txt", b"loop?")
    # Its writes fire other functions' triggers.
    as_function.put_object("out/result.txt", b"for the watcher")
    # Anyone else's write fires it.
    objects.put_object("in/upload.txt", b"from a user")
    assert fired_keys(shared_platform, service, 1) == [
        ("ObjectCreated:PutObject", "in/upload.txt")]
    assert fired_keys(shared_platform, watcher, 1) == [
        ("ObjectCreated:PutObject", "out/result.txt")]
    assert objects.get_object("in/own-2.txt").read() == b"loop?"
    warnings = [line for line in shared_platform.log_text().splitlines()
                if f"{service}/echo/on-object did NOT fire" in line]
    assert len(warnings) == 1, warnings
    assert "in/own-1.txt" in warnings[0]
