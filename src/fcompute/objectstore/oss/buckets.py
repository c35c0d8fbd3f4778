"""The service and its buckets: ListBuckets (GetService), PutBucket, DeleteBucket,
GetBucketInfo, GetBucketLocation, GetBucketAcl.

Every bucket belongs to the platform's one account, so creating a bucket that exists
answers 200 as OSS does for a bucket's owner, and ACLs are not kept: every bucket is
private to the platform's keys (GetBucketAcl says ``private``).
"""

from __future__ import annotations

import contextlib

from fcompute.objectstore import errors, wire
from fcompute.objectstore.engine import BucketInfo, check_bucket_name
from fcompute.objectstore.oss import xml
from fcompute.objectstore.oss.exchange import Exchange
from fcompute.objectstore.oss.request import host_name

OWNER_ID = "fcompute"
_ACLS = ("private", "public-read", "public-read-write")
MAX_KEYS = 1000


def owner() -> xml.Node:
    return ("Owner", [("ID", OWNER_ID), ("DisplayName", OWNER_ID)])


def max_keys(text: str, default: int = 100) -> int:
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_KEYS:
        raise errors.StorageError(f"max-keys must be an integer from 1 to {MAX_KEYS}",
                                  code="InvalidArgument", ArgumentName="max-keys",
                                  ArgumentValue=text[:100])
    return int(text)


def _endpoint(x: Exchange) -> str:
    """The endpoint the client reached the store by (the bucket's label removed)."""
    host = x.request.host
    if x.request.bucket and host_name(host).lower().startswith(x.request.bucket + "."):
        return host[len(x.request.bucket) + 1:]
    return host


def _bucket_fields(x: Exchange, bucket: BucketInfo) -> list[xml.Node]:
    endpoint = _endpoint(x)
    return [("CreationDate", wire.iso_date(bucket.created)), ("ExtranetEndpoint", endpoint),
            ("IntranetEndpoint", endpoint), ("Location", x.location), ("Name", bucket.name),
            ("Region", x.region), ("StorageClass", "Standard")]


async def list_buckets(x: Exchange) -> None:
    prefix = x.request.param("prefix")
    marker = x.request.param("marker")
    limit = max_keys(x.request.param("max-keys"))
    chosen = [bucket for bucket in x.store.buckets()
              if bucket.name.startswith(prefix) and bucket.name > marker]
    page, truncated = chosen[:limit], len(chosen) > limit
    children: list[xml.Node] = [owner()]
    if prefix or marker or x.request.has("max-keys"):
        children += [("Prefix", prefix), ("Marker", marker), ("MaxKeys", limit),
                     ("IsTruncated", truncated)]
        if truncated:
            children.append(("NextMarker", page[-1].name))
    children.append(("Buckets", [("Bucket", _bucket_fields(x, bucket)) for bucket in page]))
    await x.respond_xml(xml.document("ListAllMyBucketsResult", children))


async def put_bucket(x: Exchange) -> None:
    acl = x.request.header("x-oss-acl")
    if acl and acl not in _ACLS:
        raise errors.StorageError(f"x-oss-acl must be one of {', '.join(_ACLS)}",
                                  code="InvalidArgument")
    body = await x.small_body()
    if body.strip():
        xml.parse(body, "CreateBucketConfiguration")  # StorageClass etc.: one class here
    name = check_bucket_name(x.request.bucket)
    with contextlib.suppress(errors.BucketAlreadyExists):  # OSS answers its owner 200
        await x.store.create_bucket(name)
    await x.respond(200, [(b"location", f"/{name}".encode())])


async def delete_bucket(x: Exchange) -> None:
    await x.store.delete_bucket(x.request.bucket)
    await x.respond(204)


async def head_bucket(x: Exchange) -> None:
    x.store.bucket(x.request.bucket)
    await x.respond(200)


async def bucket_info(x: Exchange) -> None:
    bucket = x.store.bucket(x.request.bucket)
    fields = [*_bucket_fields(x, bucket), owner(),
              ("AccessControlList", [("Grant", "private")]),
              ("DataRedundancyType", "LRS")]
    await x.respond_xml(xml.document("BucketInfo", [("Bucket", fields)]))


async def bucket_location(x: Exchange) -> None:
    x.store.bucket(x.request.bucket)
    await x.respond_xml(xml.document("LocationConstraint", x.location))


async def bucket_acl(x: Exchange) -> None:
    x.store.bucket(x.request.bucket)
    await x.respond_xml(acl_document())


def acl_document() -> bytes:
    return xml.document("AccessControlPolicy", [
        owner(), ("AccessControlList", [("Grant", "private")])])
