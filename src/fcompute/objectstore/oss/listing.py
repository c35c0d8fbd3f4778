"""ListObjects (v1, ``marker``) and ListObjectsV2 (``list-type=2``, continuation tokens).

oss2 always asks for ``encoding-type=url`` and URL-decodes Key, Prefix, NextMarker and
NextContinuationToken only when the answer says ``<EncodingType>url</EncodingType>``.
LastModified must end in a literal ``.000Z``. A continuation token is the key (or common
prefix) the page ended at, base64url-encoded: opaque to clients, as OSS's are.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

from fcompute.objectstore import errors, wire
from fcompute.objectstore.engine import Listing, ObjectInfo
from fcompute.objectstore.oss import xml
from fcompute.objectstore.oss.buckets import max_keys, owner
from fcompute.objectstore.oss.exchange import Exchange
from fcompute.objectstore.oss.metadata import etag, object_type


def url_encoded(encoding_type: str) -> bool:
    """Whether keys are to be URL-encoded in the answer (``encoding-type=url``)."""
    if encoding_type not in ("", "url"):
        raise errors.StorageError("encoding-type must be 'url' when given",
                                  code="InvalidArgument", ArgumentName="encoding-type")
    return encoding_type == "url"


def encode_key(text: str, url: bool) -> str:
    return quote(text, safe="/") if url else text


def encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogatepass")).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8", "surrogatepass")
    except (ValueError, binascii.Error, UnicodeError):
        raise errors.StorageError("the continuation-token is not one this store handed out",
                                  code="InvalidArgument",
                                  ArgumentName="continuation-token") from None


def _contents(info: ObjectInfo, url: bool, with_owner: bool) -> xml.Node:
    fields: list[xml.Node] = [
        ("Key", encode_key(info.key, url)), ("LastModified", wire.iso_date(info.last_modified)),
        ("ETag", etag(info.etag)), ("Type", object_type(info)), ("Size", info.size),
        ("StorageClass", "Standard")]
    if with_owner:
        fields.append(owner())
    return ("Contents", fields)


def _entries(listing: Listing, url: bool, with_owner: bool) -> list[xml.Node]:
    nodes = [_contents(info, url, with_owner) for info in listing.objects]
    nodes += [("CommonPrefixes", [("Prefix", encode_key(prefix, url))])
              for prefix in listing.prefixes]
    return nodes


async def list_objects(x: Exchange) -> None:
    if x.request.param("list-type") == "2":
        await _list_v2(x)
        return
    request = x.request
    url = url_encoded(request.param("encoding-type"))
    prefix, delimiter = request.param("prefix"), request.param("delimiter")
    marker = request.param("marker")
    limit = max_keys(request.param("max-keys"))
    listing = x.store.list_objects(request.bucket, prefix=prefix, delimiter=delimiter,
                                   start_after=marker, max_keys=limit)
    children: list[xml.Node] = [
        ("Name", request.bucket), ("Prefix", encode_key(prefix, url)),
        ("Marker", encode_key(marker, url)), ("MaxKeys", limit),
        ("Delimiter", encode_key(delimiter, url))]
    if url:
        children.append(("EncodingType", "url"))
    children.append(("IsTruncated", listing.truncated))
    if listing.truncated:
        children.append(("NextMarker", encode_key(listing.next_marker, url)))
    children += _entries(listing, url, with_owner=True)
    await x.respond_xml(xml.document("ListBucketResult", children))


async def _list_v2(x: Exchange) -> None:
    request = x.request
    url = url_encoded(request.param("encoding-type"))
    prefix, delimiter = request.param("prefix"), request.param("delimiter")
    token = request.param("continuation-token")
    start_after = request.param("start-after")
    limit = max_keys(request.param("max-keys"))
    after = max(decode_token(token), start_after) if token else start_after
    listing = x.store.list_objects(request.bucket, prefix=prefix, delimiter=delimiter,
                                   start_after=after, max_keys=limit)
    children: list[xml.Node] = [
        ("Name", request.bucket), ("Prefix", encode_key(prefix, url)), ("MaxKeys", limit),
        ("Delimiter", encode_key(delimiter, url))]
    if start_after:
        children.append(("StartAfter", encode_key(start_after, url)))
    if token:
        children.append(("ContinuationToken", token))
    if url:
        children.append(("EncodingType", "url"))
    children.append(("IsTruncated", listing.truncated))
    if listing.truncated:
        children.append(("NextContinuationToken", encode_token(listing.next_marker)))
    children.append(("KeyCount", len(listing.objects) + len(listing.prefixes)))
    children += _entries(listing, url, with_owner=request.param("fetch-owner") == "true")
    await x.respond_xml(xml.document("ListBucketResult", children))
