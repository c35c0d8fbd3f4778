"""Bucket notifications of external S3-compatible servers, read as object events.

Both MinIO's webhook and Ceph RGW's HTTP endpoint POST S3's event structure,
``{"Records": [...]}`` (MinIO adds ``EventName`` and ``Key`` at the top, which are not
needed). Each record becomes an :class:`ObjectEvent` named the OSS way:

    S3 / MinIO / Ceph eventName               OSS event
    ObjectCreated:Put                          ObjectCreated:PutObject
    ObjectCreated:Post                         ObjectCreated:PostObject
    ObjectCreated:Copy                         ObjectCreated:CopyObject
    ObjectCreated:CompleteMultipartUpload      ObjectCreated:CompleteMultipartUpload
    ObjectRemoved:Delete                       ObjectRemoved:DeleteObject
    ObjectRemoved:DeleteMarkerCreated          ObjectRemoved:DeleteObject

with or without the ``s3:`` prefix (current Ceph leaves it out, MinIO and older Ceph write
it). Other events (reads, tagging, retention, replication, lifecycle, ...) have no OSS
counterpart: they are counted as ignored, not refused, since a server configured with
``--event put,delete`` may still send them.

Fields: the object key is URL-decoded for MinIO and AWS-style senders (they escape it as
a query value: ``+`` for a space); Ceph's is taken as it comes. ``size`` may be a number or
a decimal string (Ceph's documentation shows a string). ``deltaSize`` is the size for a
created object (the sender does not say what it replaced) and minus the size, when given,
for a removed one. User metadata (MinIO ``userMetadata``, Ceph ``metadata``) keeps its
``x-amz-meta-*`` entries, renamed ``x-oss-meta-*``. The event's id for repeated deliveries
is the request id with the ``sequencer``.

A body that is not of that shape is refused with a 400 naming the record and field.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from fcompute.errors import InvalidArgument
from fcompute.objectstore.events import ObjectEvent
from fcompute.triggers.oss_event import Origin

S3_TO_OSS = {
    "ObjectCreated:Put": "ObjectCreated:PutObject",
    "ObjectCreated:Post": "ObjectCreated:PostObject",
    "ObjectCreated:Copy": "ObjectCreated:CopyObject",
    "ObjectCreated:CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
    "ObjectRemoved:Delete": "ObjectRemoved:DeleteObject",
    "ObjectRemoved:DeleteMarkerCreated": "ObjectRemoved:DeleteObject",
}
# Senders that escape the key as a URL query value.
ESCAPED_KEYS = frozenset({"minio:s3", "aws:s3"})
MAX_RECORDS = 100
MAX_KEY_CHARS = 1024
MAX_USER_META_BYTES = 8 * 1024  # OSS's limit on an object's user metadata
USER_META = "x-amz-meta-"
DECIMAL = re.compile(r"[0-9]{1,20}")
# 2019-11-22T13:47:35.124724Z, 2018-10-31T09:31:11.000Z, 2019-10-22T09:27:27Z
EVENT_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]{1,9})?(?:Z|[+-]00:?00)")


@dataclass(frozen=True)
class Notification:
    event: ObjectEvent
    origin: Origin


@dataclass(frozen=True)
class Notifications:
    records: int
    events: list[Notification]  # the records that are OSS events, in order

    @property
    def ignored(self) -> int:
        return self.records - len(self.events)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be an object")
    return value


def _optional(parent: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    """``parent[name]``, an object when present (null is not an object)."""
    return _object(parent[name], f"{where}.{name}") if name in parent else {}


def _text(parent: dict[str, Any], name: str, where: str, required: bool = False) -> str:
    value = parent.get(name)
    if value is None and name not in parent and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidArgument(f"{where}.{name} must be a{' non-empty' if required else ''} "
                              "string")
    return value


def _size(parent: dict[str, Any], where: str) -> int:
    value = parent.get("size", 0)
    if isinstance(value, str) and DECIMAL.fullmatch(value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{where}.size must be a whole number of bytes (or its digits)")
    return value


def _time(text: str, where: str) -> float:
    if not text:
        return time.time()
    match = EVENT_TIME.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        return float(calendar.timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        raise InvalidArgument(
            f"{where}.eventTime {text[:40]!r} is not an ISO 8601 UTC time such as "
            "'2019-11-22T13:47:35.124724Z'"
        ) from None


def _user_meta(obj: dict[str, Any], where: str) -> dict[str, str]:
    """``x-amz-meta-*`` entries of MinIO's ``userMetadata`` map or Ceph's ``metadata`` list,
    by name in lower case without the prefix."""
    pairs: list[tuple[Any, Any]] = []
    if "userMetadata" in obj:
        pairs += list(_object(obj["userMetadata"], f"{where}.userMetadata").items())
    if "metadata" in obj:
        entries = obj["metadata"]
        if not isinstance(entries, list):
            raise InvalidArgument(f"{where}.metadata must be a list of {{key, value}}")
        for index, entry in enumerate(entries):
            item = _object(entry, f"{where}.metadata[{index}]")
            pairs.append((_text(item, "key", f"{where}.metadata[{index}]"),
                          _text(item, "value", f"{where}.metadata[{index}]")))
    meta: dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(value, str):
            raise InvalidArgument(f"{where}.userMetadata[{name!r}] must be a string")
        if name.lower().startswith(USER_META) and len(name) > len(USER_META):
            meta[name[len(USER_META):].lower()] = value
    if sum(len(k) + len(v) for k, v in meta.items()) > MAX_USER_META_BYTES:
        raise InvalidArgument(f"{where}: user metadata over {MAX_USER_META_BYTES} bytes")
    return meta


def _record(record: Any, where: str) -> Notification | None:
    item = _object(record, where)
    name = _text(item, "eventName", where, required=True)
    source = _text(item, "eventSource", where)
    s3 = _object(item.get("s3"), f"{where}.s3")
    bucket = _object(s3.get("bucket"), f"{where}.s3.bucket")
    obj = _object(s3.get("object"), f"{where}.s3.object")
    bucket_name = _text(bucket, "name", f"{where}.s3.bucket", required=True)
    key = _text(obj, "key", f"{where}.s3.object", required=True)
    if source in ESCAPED_KEYS:
        key = unquote_plus(key)
    if len(key) > MAX_KEY_CHARS:
        raise InvalidArgument(f"{where}.s3.object.key is over {MAX_KEY_CHARS} characters")
    size = _size(obj, f"{where}.s3.object")
    etag = _text(obj, "eTag", f"{where}.s3.object").strip('"')
    sequencer = _text(obj, "sequencer", f"{where}.s3.object")
    content_type = _text(obj, "contentType", f"{where}.s3.object")
    meta = _user_meta(obj, f"{where}.s3.object")
    identity = _optional(item, "userIdentity", where)
    parameters = _optional(item, "requestParameters", where)
    response = _optional(item, "responseElements", where)
    request_id = _text(response, "x-amz-request-id", f"{where}.responseElements")
    moment = _time(_text(item, "eventTime", where), where)
    oss_name = S3_TO_OSS.get(name.removeprefix("s3:"))
    if oss_name is None:
        return None
    created = oss_name.startswith("ObjectCreated:")
    event = ObjectEvent(
        name=oss_name, bucket=bucket_name, key=key, size=size if created else 0, etag=etag,
        delta_size=size if created else -size, content_type=content_type, metadata=meta,
        time=moment, source_ip=_text(parameters, "sourceIPAddress",
                                     f"{where}.requestParameters"),
        request_id=request_id,
    )
    event_id = f"{source}\0{request_id}\0{sequencer}" if request_id or sequencer else ""
    return Notification(event, Origin(_text(identity, "principalId", f"{where}.userIdentity"),
                                      event_id))


def parse(body: Any) -> Notifications:
    """The OSS events of a notification body; InvalidArgument when it is not one."""
    top = _object(body, "the notification body")
    records = top.get("Records")
    if not isinstance(records, list):
        raise InvalidArgument(
            "a bucket notification is {\"Records\": [...]} as MinIO and Ceph RGW send it; "
            "this body has no Records list"
        )
    if len(records) > MAX_RECORDS:
        raise InvalidArgument(f"at most {MAX_RECORDS} records per notification, got "
                              f"{len(records)}")
    found = [_record(record, f"Records[{index}]") for index, record in enumerate(records)]
    return Notifications(len(records), [n for n in found if n is not None])
