"""ListObjects (v1) and ListObjectsV2: prefix, delimiter, pages, ``encoding-type=url``.

boto3 asks for ``encoding-type=url`` on every listing it was not told otherwise about,
and URL-decodes the elements S3 encodes: v1 Delimiter, Marker, NextMarker, keys and
common prefixes; v2 Delimiter, Prefix, StartAfter, keys and common prefixes. v1's Prefix
is written as it was asked for, not encoded, since botocore does not decode it there.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fcompute.objectstore import wire
from fcompute.objectstore.engine import Listing, ObjectInfo
from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.s3 import checksums, xmldoc
from fcompute.objectstore.s3.call import Call, decode_token, encode_token, owner
from fcompute.objectstore.s3.headers import quoted_etag

Encode = Callable[[str], str]


def encoder(call: Call) -> Encode:
    encoding = call.request.query.get("encoding-type")
    if not encoding:
        return lambda text: text
    if encoding.lower() != "url":
        raise StorageError("Invalid Encoding Method specified in Request",
                           code="InvalidArgument", ArgumentName="encoding-type",
                           ArgumentValue=encoding[:100])
    return lambda text: quote(text, safe="/")


def _entry(info: ObjectInfo, encode: Encode, with_owner: bool) -> str:
    kept = [algorithm for algorithm in checksums.ALGORITHMS if info.checksums.get(algorithm)]
    return xmldoc.element("Contents", [
        *xmldoc.elements(("Key", encode(info.key)),
                         ("LastModified", wire.iso_date(info.last_modified)),
                         ("ETag", quoted_etag(info.etag))),
        *[xmldoc.element("ChecksumAlgorithm", checksums.NAMES[name]) for name in kept],
        xmldoc.element("ChecksumType", ("COMPOSITE" if info.multipart else "FULL_OBJECT")
                       if kept else None),
        xmldoc.element("Size", info.size),
        xmldoc.element("Owner", owner()) if with_owner else "",
        xmldoc.element("StorageClass", "STANDARD")])


def _page(call: Call, start_after: str, max_keys: int) -> Listing:
    query = call.request.query
    if max_keys == 0:
        call.store.bucket(call.request.bucket)
        return Listing([], [], False, "")
    return call.store.list_objects(call.request.bucket, prefix=query.get("prefix", ""),
                                   delimiter=query.get("delimiter", ""),
                                   start_after=start_after, max_keys=max_keys)


def _body(listing: Listing, encode: Encode, with_owner: bool) -> list[str]:
    return [*(_entry(info, encode, with_owner) for info in listing.objects),
            *(xmldoc.element("CommonPrefixes", [xmldoc.element("Prefix", encode(prefix))])
              for prefix in listing.prefixes)]


async def list_objects_v1(call: Call) -> None:
    query = call.request.query
    encode = encoder(call)
    max_keys = call.int_param("max-keys", 1000)
    marker = query.get("marker", "")
    listing = _page(call, marker, max_keys)
    delimiter = query.get("delimiter", "")
    await call.respond.xml(xmldoc.document("ListBucketResult", [
        *xmldoc.elements(
            ("Name", call.request.bucket), ("Prefix", query.get("prefix", "")),
            ("Marker", encode(marker)),
            ("NextMarker", encode(listing.next_marker) if listing.truncated else None),
            ("MaxKeys", max_keys), ("Delimiter", encode(delimiter) if delimiter else None),
            ("IsTruncated", listing.truncated),
            ("EncodingType", "url" if query.get("encoding-type") else None)),
        *_body(listing, encode, with_owner=True)]))


async def list_objects_v2(call: Call) -> None:
    query = call.request.query
    encode = encoder(call)
    max_keys = call.int_param("max-keys", 1000)
    token = query.get("continuation-token")
    start_after = query.get("start-after", "")
    listing = _page(call, decode_token(token) if token else start_after, max_keys)
    delimiter = query.get("delimiter", "")
    prefix = query.get("prefix", "")
    await call.respond.xml(xmldoc.document("ListBucketResult", [
        *xmldoc.elements(
            ("Name", call.request.bucket), ("Prefix", encode(prefix)),
            ("ContinuationToken", token),
            ("NextContinuationToken",
             encode_token(listing.next_marker) if listing.truncated else None),
            ("KeyCount", len(listing.objects) + len(listing.prefixes)),
            ("MaxKeys", max_keys), ("Delimiter", encode(delimiter) if delimiter else None),
            ("IsTruncated", listing.truncated),
            ("StartAfter", encode(start_after) if start_after else None),
            ("EncodingType", "url" if query.get("encoding-type") else None)),
        *_body(listing, encode, with_owner=query.get("fetch-owner") == "true")]))
