"""Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy, ListParts,
CompleteMultipartUpload (the S3 ETag ``md5(part md5s)-<parts>``), AbortMultipartUpload.

An upload created with ``x-amz-checksum-algorithm`` (s3transfer asks for CRC32) keeps
that algorithm for its parts: each part's checksum is checked (or computed when the part
came without one) and listed, and the completion answers the composite checksum, the
checksum of the parts' checksums, as ``<b64>-<parts>``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fcompute.objectstore import wire
from fcompute.objectstore.engine import PartInfo, Upload
from fcompute.objectstore.errors import InvalidPart, InvalidPartOrder, StorageError
from fcompute.objectstore.files import Digests
from fcompute.objectstore.s3 import checksums, errors, xmldoc
from fcompute.objectstore.s3.call import Call, owner
from fcompute.objectstore.s3.headers import (
    check_conditions,
    check_write_conditions,
    checksum_headers,
    new_object,
    quoted_etag,
)
from fcompute.objectstore.s3.listing import encoder
from fcompute.objectstore.s3.objects import copy_source, current_object

ALGORITHM_KEY = "algorithm"  # where an upload's checksum algorithm is kept
# S3's smallest part but the last, kept so that an upload that works here works there.
MIN_PART_SIZE = 5 * 1024 * 1024
_COPY_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def _algorithm(upload: Upload) -> str | None:
    return upload.new.checksums.get(ALGORITHM_KEY) or None


def _part_number(call: Call) -> int:
    value = call.request.query.get("partNumber", "")
    if not value.isdigit():
        raise StorageError("Part number must be an integer between 1 and 10000, inclusive",
                           code="InvalidArgument", ArgumentName="partNumber",
                           ArgumentValue=value[:20])
    return int(value)


def _checksum_elements(stored: dict[str, str]) -> list[str]:
    return [xmldoc.element(f"Checksum{checksums.NAMES[name]}", stored[name])
            for name in checksums.ALGORITHMS if stored.get(name)]


async def create_upload(call: Call) -> None:
    request = call.request
    named = request.header("x-amz-checksum-algorithm")
    algorithm = checksums.algorithm_named(named) if named else None
    kind = request.header("x-amz-checksum-type").strip().upper()
    if kind == "FULL_OBJECT":
        raise errors.NotImplementedHere("full-object checksums of multipart uploads are not "
                                        "supported; use the COMPOSITE checksum type")
    if kind not in ("", "COMPOSITE"):
        raise errors.InvalidRequest(f"x-amz-checksum-type {kind!r} is not COMPOSITE")
    upload = await call.store.initiate_upload(
        request.bucket, request.key,
        new_object(request, {ALGORITHM_KEY: algorithm} if algorithm else {}))
    headers = []
    if algorithm:
        headers = [(b"x-amz-checksum-algorithm", checksums.NAMES[algorithm].encode()),
                   (b"x-amz-checksum-type", b"COMPOSITE")]
    await call.respond.xml(xmldoc.document("InitiateMultipartUploadResult", xmldoc.elements(
        ("Bucket", request.bucket), ("Key", request.key), ("UploadId", upload.upload_id))),
        headers=headers)


async def upload_part(call: Call) -> None:
    request = call.request
    number = _part_number(call)
    upload = await call.store.upload(request.bucket, request.key,
                                     request.query.get("uploadId", ""))
    algorithm = _algorithm(upload)
    if request.has("x-amz-copy-source"):
        await _upload_part_copy(call, upload, number, algorithm)
        return
    body = call.body(default_algorithm=algorithm)
    if algorithm and body.algorithm != algorithm:
        raise errors.InvalidRequest(
            f"Checksum Type mismatch occurred, expected checksum Type: {algorithm}, actual "
            f"checksum Type: {body.algorithm}")
    part = await call.store.upload_part(
        request.bucket, request.key, upload.upload_id, number, body.stream(),
        verify=body.verify, want_sha256=body.want_sha256, checksums=body.checksums)
    headers = [(b"etag", quoted_etag(part.etag).encode()),
               *checksum_headers(part.checksums)]
    await call.respond.empty(200, [h for h in headers if h[0] != b"x-amz-checksum-type"])


def _copy_range(value: str, size: int) -> tuple[int, int]:
    if not value:
        return 0, size
    found = _COPY_RANGE.fullmatch(value.strip())
    if found is None or int(found[1]) > int(found[2]) or int(found[2]) >= size:
        raise StorageError(f"Range specified is not valid for source object of size: {size}",
                           code="InvalidArgument", ArgumentName="x-amz-copy-source-range",
                           ArgumentValue=value[:100])
    return int(found[1]), int(found[2]) + 1


async def _upload_part_copy(call: Call, upload: Upload, number: int,
                            algorithm: str | None) -> None:
    request = call.request
    source_bucket, source_key = copy_source(request.header("x-amz-copy-source"))
    reader = await call.store.open_object(source_bucket, source_key)
    try:
        check_conditions(request, reader.info, prefix="x-amz-copy-source-")
        start, end = _copy_range(request.header("x-amz-copy-source-range"), reader.info.size)
        extra = checksums.ExtraDigests({algorithm} if algorithm else set())
        kept: dict[str, str] = {}

        def keep_checksum(digests: Digests) -> None:
            value = extra.value(algorithm, digests) if algorithm else None
            if algorithm and value:
                kept[algorithm] = value

        async def copy() -> bytes:
            part = await call.store.upload_part(
                request.bucket, request.key, upload.upload_id, number,
                extra.passing(reader.chunks(start, end)), verify=keep_checksum,
                want_sha256=algorithm == "sha256", checksums=kept)
            return xmldoc.document("CopyPartResult", [*xmldoc.elements(
                ("ETag", quoted_etag(part.etag)),
                ("LastModified", wire.iso_date(part.last_modified))),
                *_checksum_elements(part.checksums)])

        await call.respond.xml_when_done(copy(), request.resource)
    finally:
        reader.close()


async def list_parts(call: Call) -> None:
    request = call.request
    upload = await call.store.upload(request.bucket, request.key,
                                     request.query.get("uploadId", ""))
    parts = await call.store.list_parts(request.bucket, request.key, upload.upload_id)
    marker = call.int_param("part-number-marker", 0, high=10_000)
    limit = call.int_param("max-parts", 1000, low=1)
    after = [part for part in parts if part.number > marker]
    page, truncated = after[:limit], len(after) > limit
    algorithm = _algorithm(upload)
    entries = [xmldoc.element("Part", [*xmldoc.elements(
        ("PartNumber", part.number), ("LastModified", wire.iso_date(part.last_modified)),
        ("ETag", quoted_etag(part.etag)), ("Size", part.size)),
        *_checksum_elements(part.checksums)]) for part in page]
    await call.respond.xml(xmldoc.document("ListPartsResult", [
        *xmldoc.elements(
            ("Bucket", request.bucket), ("Key", request.key), ("UploadId", upload.upload_id),
            ("PartNumberMarker", marker),
            ("NextPartNumberMarker", page[-1].number if page else marker),
            ("MaxParts", limit), ("IsTruncated", truncated)),
        *entries,
        xmldoc.element("Initiator", owner()), xmldoc.element("Owner", owner()),
        xmldoc.element("StorageClass", "STANDARD"),
        xmldoc.element("ChecksumAlgorithm", checksums.NAMES[algorithm] if algorithm else None),
        xmldoc.element("ChecksumType", "COMPOSITE" if algorithm else None)]))


def _chosen_parts(document: bytes) -> list[tuple[int, str, dict[str, str]]]:
    root = xmldoc.parse(document, "CompleteMultipartUpload")
    chosen = []
    for part in xmldoc.children(root, "Part"):
        number, etag = xmldoc.text(part, "PartNumber"), xmldoc.text(part, "ETag")
        if number is None or not number.strip().isdigit() or not etag:
            raise errors.MalformedXML("each Part names its PartNumber and ETag")
        sent = {name: value.strip() for name in checksums.ALGORITHMS
                if (value := xmldoc.text(part, f"Checksum{checksums.NAMES[name]}"))}
        chosen.append((int(number), etag.strip(), sent))
    if not chosen:
        raise errors.MalformedXML("The XML you provided was not well-formed or did not "
                                  "validate against our published schema")
    return chosen


def _check_parts(chosen: list[tuple[int, str, dict[str, str]]],
                 stored: dict[int, PartInfo]) -> list[PartInfo]:
    """The store checks these too; checking first lets the errors come with a 4xx."""
    numbers = [number for number, _, _ in chosen]
    if numbers != sorted(set(numbers)):
        raise InvalidPartOrder("The list of parts was not in ascending order. Parts must be "
                               "ordered by part number.")
    parts = []
    for number, etag, sent in chosen:
        part = stored.get(number)
        if part is None or part.etag != etag.strip('"').lower():
            raise InvalidPart("One or more of the specified parts could not be found. The "
                              "part may not have been uploaded, or the specified entity tag "
                              "may not match the part's entity tag.", PartNumber=str(number),
                              ETag=etag)
        for name, value in sent.items():
            if part.checksums.get(name) not in (None, value):
                raise InvalidPart(f"The {checksums.NAMES[name]} of part {number} does not "
                                  "match the part uploaded", PartNumber=str(number))
        parts.append(part)
    for part in parts[:-1]:
        if part.size < MIN_PART_SIZE:
            raise StorageError("Your proposed upload is smaller than the minimum allowed "
                               "size", code="EntityTooSmall", ProposedSize=str(part.size),
                               MinSizeAllowed=str(MIN_PART_SIZE), PartNumber=str(part.number),
                               ETag=quoted_etag(part.etag))
    return parts


async def complete_upload(call: Call) -> None:
    request = call.request
    upload = await call.store.upload(request.bucket, request.key,
                                     request.query.get("uploadId", ""))
    chosen = _chosen_parts(await call.body(default_algorithm=None).read_small(4 << 20))
    stored = {part.number: part for part in await call.store.list_parts(
        request.bucket, request.key, upload.upload_id)}
    parts = _check_parts(chosen, stored)
    check_write_conditions(request, current_object(call))
    algorithm = _algorithm(upload)
    whole = None
    if algorithm and all(part.checksums.get(algorithm) for part in parts):
        whole = checksums.composite(algorithm, [part.checksums[algorithm] for part in parts])
    location = f"http://{request.header('host')}/{request.bucket}/{quote(request.key)}"

    async def complete() -> bytes:
        info = await call.store.complete_upload(
            request.bucket, request.key, upload.upload_id,
            [(number, etag) for number, etag, _ in chosen], source_ip=request.source_ip,
            request_id=request.request_id, actor=call.auth.actor)
        return xmldoc.document("CompleteMultipartUploadResult", [
            *xmldoc.elements(("Location", location), ("Bucket", request.bucket),
                             ("Key", request.key), ("ETag", quoted_etag(info.etag))),
            xmldoc.element(f"Checksum{checksums.NAMES[algorithm]}", whole)
            if algorithm and whole else "",
            xmldoc.element("ChecksumType", "COMPOSITE" if whole else None)])

    await call.respond.xml_when_done(complete(), request.resource)


async def abort_upload(call: Call) -> None:
    request = call.request
    await call.store.abort_upload(request.bucket, request.key,
                                  request.query.get("uploadId", ""))
    await call.respond.empty(204)


async def list_uploads(call: Call) -> None:
    """ListMultipartUploads: by key, then upload id, after ``key-marker`` (and
    ``upload-id-marker`` within that key); a delimiter rolls keys up into prefixes."""
    request, query = call.request, call.request.query
    encode = encoder(call)
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    key_marker = query.get("key-marker", "")
    id_marker = query.get("upload-id-marker", "") if key_marker else ""
    limit = call.int_param("max-uploads", 1000)
    listing = await call.store.list_uploads(
        request.bucket, prefix=prefix, delimiter=delimiter, key_marker=key_marker,
        upload_id_marker=id_marker, max_uploads=limit)
    entries: list[str] = []
    for upload in listing.uploads:
        algorithm = _algorithm(upload)
        entries.append(xmldoc.element("Upload", [
            *xmldoc.elements(("Key", encode(upload.key)), ("UploadId", upload.upload_id)),
            xmldoc.element("Initiator", owner()), xmldoc.element("Owner", owner()),
            *xmldoc.elements(("StorageClass", "STANDARD"),
                             ("Initiated", wire.iso_date(upload.initiated)),
                             ("ChecksumAlgorithm",
                              checksums.NAMES[algorithm] if algorithm else None))]))
    truncated, prefixes = listing.truncated, listing.prefixes
    next_key, next_id = listing.next_key, listing.next_upload_id
    await call.respond.xml(xmldoc.document("ListMultipartUploadsResult", [
        *xmldoc.elements(
            ("Bucket", request.bucket), ("KeyMarker", encode(key_marker)),
            ("UploadIdMarker", id_marker),
            ("NextKeyMarker", encode(next_key) if truncated else None),
            ("NextUploadIdMarker", next_id if truncated else None),
            ("Delimiter", encode(delimiter) if delimiter else None),
            ("Prefix", encode(prefix)), ("MaxUploads", limit),
            ("IsTruncated", truncated),
            ("EncodingType", "url" if query.get("encoding-type") else None)),
        *entries,
        *(xmldoc.element("CommonPrefixes", [xmldoc.element("Prefix", encode(common))])
          for common in prefixes)]))
