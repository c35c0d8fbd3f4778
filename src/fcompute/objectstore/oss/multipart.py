"""Multipart upload: InitiateMultipartUpload, UploadPart, UploadPartCopy,
CompleteMultipartUpload, AbortMultipartUpload, ListParts.

oss2 reads a completion's ETag and CRC from the response headers, not the body, so both
are sent; the CRC is the whole object's, which ``resumable_upload`` compares with the
CRC it combined from its parts. Every part but the last must be at least 100 KB, as on
OSS, so code that works here works there.
"""

from __future__ import annotations

from fcompute.objectstore import errors, wire
from fcompute.objectstore.engine import PartInfo
from fcompute.objectstore.oss import xml
from fcompute.objectstore.oss.exchange import Exchange
from fcompute.objectstore.oss.listing import encode_key, url_encoded
from fcompute.objectstore.oss.metadata import (
    check_conditions,
    content_md5_check,
    etag,
    new_object,
)
from fcompute.objectstore.oss.objects import COPY_SOURCE, copy_source, written_headers

MIN_PART_SIZE = 100 * 1024
MAX_PARTS_LISTED = 1000


async def initiate(x: Exchange) -> None:
    request = x.request
    url = url_encoded(request.param("encoding-type"))
    upload = await x.store.initiate_upload(request.bucket, request.key, new_object(request))
    children: list[xml.Node] = [("Bucket", request.bucket),
                                ("Key", encode_key(request.key, url)),
                                ("UploadId", upload.upload_id)]
    if url:
        children.append(("EncodingType", "url"))
    await x.respond_xml(xml.document("InitiateMultipartUploadResult", children))


def _part_number(text: str) -> int:
    if not text.isdigit():
        raise errors.StorageError("partNumber must be an integer from 1 to 10000",
                                  code="InvalidArgument", ArgumentName="partNumber")
    return int(text)


def _part_headers(part: PartInfo) -> list[tuple[bytes, bytes]]:
    return [(b"etag", etag(part.etag).encode()),
            (b"x-oss-hash-crc64ecma", str(part.crc64).encode())]


async def upload_part(x: Exchange) -> None:
    if x.request.header(COPY_SOURCE):
        await _upload_part_copy(x)
        return
    request = x.request
    number = _part_number(request.param("partNumber"))
    await x.store.upload(request.bucket, request.key, request.param("uploadId"))
    part = await x.store.upload_part(request.bucket, request.key, request.param("uploadId"),
                                     number, x.body(), verify=content_md5_check(request))
    await x.respond(200, _part_headers(part))


async def _upload_part_copy(x: Exchange) -> None:
    """A part's bytes from (a range of) another object: ``x-oss-copy-source`` and
    ``x-oss-copy-source-range: bytes=a-b``."""
    request = x.request
    number = _part_number(request.param("partNumber"))
    source_bucket, source_key = copy_source(request.header(COPY_SOURCE))
    await x.store.upload(request.bucket, request.key, request.param("uploadId"))
    reader = await x.store.open_object(source_bucket, source_key)
    try:
        check_conditions(request, reader.info, prefix="x-oss-copy-source-")
        wanted = request.header("x-oss-copy-source-range")
        span = wire.parse_range(wanted, reader.info.size) if wanted else None
        start, end = span if span is not None else (0, reader.info.size)
        part = await x.store.upload_part(request.bucket, request.key,
                                         request.param("uploadId"), number,
                                         reader.chunks(start, end))
    finally:
        reader.close()
    await x.respond_xml(xml.document("CopyPartResult", [
        ("LastModified", wire.iso_date(part.last_modified)), ("ETag", etag(part.etag))]),
        _part_headers(part))


def _chosen_parts(body: bytes) -> list[tuple[int, str]]:
    root = xml.parse(body, "CompleteMultipartUpload")
    chosen = []
    for node in root.findall("Part"):
        number, tag = xml.text_of(node, "PartNumber"), xml.text_of(node, "ETag")
        if number is None or tag is None or not number.strip().isdigit():
            raise errors.StorageError("each <Part> needs a <PartNumber> and an <ETag>",
                                      code="MalformedXML")
        chosen.append((int(number), tag.strip()))
    return chosen


async def complete(x: Exchange) -> None:
    request = x.request
    bucket, key, upload_id = request.bucket, request.key, request.param("uploadId")
    url = url_encoded(request.param("encoding-type"))
    await x.store.upload(bucket, key, upload_id)
    body = await x.small_body()
    stored = await x.store.list_parts(bucket, key, upload_id)
    if request.header("x-oss-complete-all").lower() == "yes":
        if body.strip():
            raise errors.StorageError("x-oss-complete-all: yes takes no body",
                                      code="InvalidArgument")
        chosen = [(part.number, part.etag) for part in stored]
    else:
        chosen = _chosen_parts(body)
    sizes = {part.number: part.size for part in stored}
    for number, _ in chosen[:-1]:
        if sizes.get(number, MIN_PART_SIZE) < MIN_PART_SIZE:
            raise errors.StorageError(
                f"part {number} is {sizes[number]} bytes; every part but the last must be "
                f"at least {MIN_PART_SIZE} bytes", code="EntityTooSmall",
                PartNumber=str(number))
    info = await x.store.complete_upload(bucket, key, upload_id, chosen,
                                         source_ip=request.source_ip,
                                         request_id=request.request_id, actor=x.actor)
    children: list[xml.Node] = []
    if url:
        children.append(("EncodingType", "url"))
    children += [("Location", f"http://{request.host}/{bucket}/{encode_key(key, True)}"),
                 ("Bucket", bucket), ("Key", encode_key(key, url)), ("ETag", etag(info.etag))]
    await x.respond_xml(xml.document("CompleteMultipartUploadResult", children),
                        written_headers(info))


async def abort(x: Exchange) -> None:
    request = x.request
    await x.store.abort_upload(request.bucket, request.key, request.param("uploadId"))
    await x.respond(204)


async def list_parts(x: Exchange) -> None:
    request = x.request
    upload_id = request.param("uploadId")
    marker_text = request.param("part-number-marker")
    limit_text = request.param("max-parts")
    if (marker_text and not marker_text.isdigit()) or (
            limit_text and not (limit_text.isdigit() and 1 <= int(limit_text) <= 1000)):
        raise errors.StorageError("part-number-marker is a part number and max-parts an "
                                  f"integer from 1 to {MAX_PARTS_LISTED}",
                                  code="InvalidArgument")
    marker = int(marker_text or 0)
    limit = int(limit_text or MAX_PARTS_LISTED)
    parts = [part for part in await x.store.list_parts(request.bucket, request.key, upload_id)
             if part.number > marker]
    page, truncated = parts[:limit], len(parts) > limit
    children: list[xml.Node] = [
        ("Bucket", request.bucket), ("Key", request.key), ("UploadId", upload_id),
        ("PartNumberMarker", marker),
        ("NextPartNumberMarker", page[-1].number if page else marker),
        ("MaxParts", limit), ("IsTruncated", truncated)]
    children += [("Part", [("PartNumber", part.number),
                           ("LastModified", wire.iso_date(part.last_modified)),
                           ("ETag", etag(part.etag)), ("HashCrc64ecma", str(part.crc64)),
                           ("Size", part.size)]) for part in page]
    await x.respond_xml(xml.document("ListPartsResult", children))


async def list_uploads(x: Exchange) -> None:
    """ListMultipartUploads (the engine pages and rolls up, as for S3)."""
    request = x.request
    url = url_encoded(request.param("encoding-type"))
    prefix, delimiter = request.param("prefix"), request.param("delimiter")
    key_marker, id_marker = request.param("key-marker"), request.param("upload-id-marker")
    limit_text = request.param("max-uploads")
    if limit_text and not (limit_text.isdigit() and 1 <= int(limit_text) <= 1000):
        raise errors.StorageError("max-uploads must be an integer from 1 to 1000",
                                  code="InvalidArgument", ArgumentName="max-uploads")
    limit = int(limit_text or 1000)
    listing = await x.store.list_uploads(
        request.bucket, prefix=prefix, delimiter=delimiter, key_marker=key_marker,
        upload_id_marker=id_marker, max_uploads=limit)
    entries: list[xml.Node] = [("Upload", [("Key", encode_key(upload.key, url)),
                                           ("UploadId", upload.upload_id),
                                           ("Initiated", wire.iso_date(upload.initiated))])
                               for upload in listing.uploads]
    children: list[xml.Node] = [
        ("Bucket", request.bucket), ("KeyMarker", encode_key(key_marker, url)),
        ("UploadIdMarker", id_marker), ("NextKeyMarker", encode_key(listing.next_key, url)),
        ("NextUploadIdMarker", listing.next_upload_id),
        ("Delimiter", encode_key(delimiter, url)), ("Prefix", encode_key(prefix, url)),
        ("MaxUploads", limit)]
    if url:
        children.append(("EncodingType", "url"))
    children.append(("IsTruncated", listing.truncated))
    children += entries
    children += [("CommonPrefixes", [("Prefix", encode_key(p, url))]) for p in listing.prefixes]
    await x.respond_xml(xml.document("ListMultipartUploadsResult", children))
