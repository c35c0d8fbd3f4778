"""Objects: PutObject, GetObject, HeadObject, GetObjectMeta, DeleteObject, CopyObject
(and update_object_meta, a copy onto itself), GetObjectAcl.

Bodies stream both ways. Every write and read answers ``x-oss-hash-crc64ecma`` (the
CRC-64 of the whole object, decimal), which oss2 compares with its own.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from fcompute.objectstore import errors, wire
from fcompute.objectstore.engine import ObjectInfo
from fcompute.objectstore.oss import xml
from fcompute.objectstore.oss.buckets import acl_document
from fcompute.objectstore.oss.errors import NotImplementedFeature, NotModified
from fcompute.objectstore.oss.exchange import Exchange, Headers
from fcompute.objectstore.oss.metadata import (
    check_conditions,
    content_md5_check,
    content_range,
    etag,
    new_object,
    object_headers,
    object_range,
    with_overrides,
)

COPY_SOURCE = "x-oss-copy-source"


def written_headers(info: ObjectInfo) -> Headers:
    return [(b"etag", etag(info.etag).encode()),
            (b"x-oss-hash-crc64ecma", str(info.crc64).encode())]


async def put_object(x: Exchange) -> None:
    request = x.request
    x.store.bucket(request.bucket)  # before the body is read
    info = await x.store.put_object(
        request.bucket, request.key, x.body(), new_object(request),
        verify=content_md5_check(request), source_ip=request.source_ip,
        request_id=request.request_id, actor=x.actor)
    await x.respond(200, written_headers(info))


async def _not_modified(x: Exchange, info: ObjectInfo) -> None:
    await x.respond(304, [(b"etag", etag(info.etag).encode()),
                          (b"last-modified", wire.http_date(info.last_modified).encode())])


async def get_object(x: Exchange) -> None:
    request = x.request
    reader = await x.store.open_object(request.bucket, request.key)
    info = reader.info
    try:
        try:
            check_conditions(request, info)
        except NotModified:
            await _not_modified(x, info)
            return
        span = object_range(request, info.size)
        headers = with_overrides(object_headers(info), request)
        status, (start, end) = (200, (0, info.size)) if span is None else (206, span)
        if span is not None:
            headers.append((b"content-range", content_range(start, end, info.size)))
        await x.respond_stream(status, headers, end - start, reader.chunks(start, end))
    finally:
        reader.close()  # also when the client went away mid-body


async def head_object(x: Exchange) -> None:
    info = x.store.head_object(x.request.bucket, x.request.key)
    try:
        check_conditions(x.request, info)
    except NotModified:
        await _not_modified(x, info)
        return
    await x.respond_head(200, object_headers(info), info.size)


async def object_meta(x: Exchange) -> None:
    """``HEAD ?objectMeta``: the few headers oss2's get_object_meta and object_exists read."""
    info = x.store.head_object(x.request.bucket, x.request.key)
    await x.respond_head(200, [
        (b"etag", etag(info.etag).encode()),
        (b"last-modified", wire.http_date(info.last_modified).encode()),
        (b"x-oss-hash-crc64ecma", str(info.crc64).encode())], info.size)


async def delete_object(x: Exchange) -> None:
    request = x.request
    await x.store.delete_object(request.bucket, request.key, source_ip=request.source_ip,
                                request_id=request.request_id, actor=x.actor)
    await x.respond(204)


async def object_acl(x: Exchange) -> None:
    x.store.head_object(x.request.bucket, x.request.key)
    await x.respond_xml(acl_document())


def copy_source(value: str) -> tuple[str, str]:
    """``x-oss-copy-source: /<bucket>/<urlquoted key>`` as (bucket, key)."""
    path, _, query = value.partition("?")
    if query:
        raise NotImplementedFeature("object versions are not kept here: x-oss-copy-source "
                                    "takes no versionId")
    bucket, _, key = path.lstrip("/").partition("/")
    try:
        decoded = unquote_to_bytes(key).decode("utf-8")
    except UnicodeDecodeError:
        decoded = ""
    if not bucket or not decoded:
        raise errors.StorageError("x-oss-copy-source must be /<bucket>/<key>, the key "
                                  "URL-encoded as UTF-8", code="InvalidArgument",
                                  ArgumentName=COPY_SOURCE)
    return unquote_to_bytes(bucket).decode("utf-8", "replace"), decoded


async def copy_object(x: Exchange) -> None:
    """Copies the source's bytes; its description too under ``x-oss-metadata-directive:
    COPY`` (the default), the request's under REPLACE. A copy onto itself always takes
    the request's description, as OSS does: that is how metadata is changed."""
    request = x.request
    source_bucket, source_key = copy_source(request.header(COPY_SOURCE))
    x.store.bucket(request.bucket)
    source = x.store.head_object(source_bucket, source_key)
    check_conditions(request, source, prefix="x-oss-copy-source-")
    directive = (request.header("x-oss-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.StorageError("x-oss-metadata-directive must be COPY or REPLACE",
                                  code="InvalidArgument",
                                  ArgumentName="x-oss-metadata-directive")
    same = (source_bucket, source_key) == (request.bucket, request.key)
    new = new_object(request) if directive == "REPLACE" or same else None
    info = await x.store.copy_object(source_bucket, source_key, request.bucket, request.key,
                                     new, source_ip=request.source_ip,
                                     request_id=request.request_id, actor=x.actor)
    await x.respond_xml(xml.document("CopyObjectResult", [
        ("ETag", etag(info.etag)), ("LastModified", wire.iso_date(info.last_modified))]),
        written_headers(info))
