"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects,
CopyObject. Bodies stream both ways."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

from fcompute.objectstore import wire
from fcompute.objectstore.engine import ObjectInfo, ObjectReader
from fcompute.objectstore.errors import NoSuchKey, StorageError
from fcompute.objectstore.s3 import checksums, errors, xmldoc
from fcompute.objectstore.s3.call import Call
from fcompute.objectstore.s3.headers import (
    apply_overrides,
    check_conditions,
    check_write_conditions,
    checksum_headers,
    new_object,
    object_headers,
    quoted_etag,
)

MAX_DELETE_KEYS = 1000


def check_version(call: Call) -> None:
    """Buckets are never versioned: only the current ("null") version exists."""
    version = call.request.query.get("versionId")
    if version is not None and version != "null":
        raise StorageError("Invalid version id specified", code="InvalidArgument",
                           ArgumentName="versionId", ArgumentValue=version[:100])


async def put_object(call: Call) -> None:
    request = call.request
    if request.has("if-none-match") or request.has("if-match"):
        call.store.bucket(request.bucket)
        check_write_conditions(request, current_object(call))
    body = call.body()
    info = await call.store.put_object(
        request.bucket, request.key, body.stream(), new_object(request, body.checksums),
        verify=body.verify, want_sha256=body.want_sha256, source_ip=request.source_ip,
        request_id=request.request_id, actor=call.auth.actor)
    await call.respond.empty(200, [(b"etag", quoted_etag(info.etag).encode()),
                                   *checksum_headers(info.checksums)])


def current_object(call: Call) -> ObjectInfo | None:
    try:
        return call.store.head_object(call.request.bucket, call.request.key)
    except NoSuchKey:
        return None


async def get_object(call: Call) -> None:
    await _read(call, head=False)


async def head_object(call: Call) -> None:
    await _read(call, head=True)


async def _read(call: Call, *, head: bool) -> None:
    request = call.request
    check_version(call)
    reader: ObjectReader | None = None
    if head:
        info = call.store.head_object(request.bucket, request.key)
    else:
        reader = await call.store.open_object(request.bucket, request.key)
        info = reader.info
    try:
        try:
            check_conditions(request, info)
        except errors.NotModified as unchanged:
            await call.respond.empty(304, [(b"etag", unchanged.etag.encode()),
                                           (b"last-modified", unchanged.last_modified.encode())])
            return
        _check_part_number(call, info)
        span = wire.parse_range(request.header("range"), info.size)
        # A range's bytes do not have the whole object's checksum: S3 sends it for whole
        # objects only (clients check it when present).
        with_checksums = (span is None and
                          request.header("x-amz-checksum-mode").upper() == "ENABLED")
        headers = apply_overrides(object_headers(info, with_checksums=with_checksums),
                                  request.query)
        start, end, status = 0, info.size, 200
        if span is not None:
            start, end = span
            status = 206
            headers.append((b"content-range",
                            f"bytes {start}-{end - 1}/{info.size}".encode()))
        if reader is None:
            await call.respond.head_only(status, headers, end - start)
        else:
            await call.respond.stream(status, headers, end - start, reader.chunks(start, end))
    finally:
        if reader is not None:
            reader.close()


def _check_part_number(call: Call, info: ObjectInfo) -> None:
    """``?partNumber=N`` reads: an object PUT in one piece is its own part 1; the parts of
    a multipart object are not kept apart once it is complete."""
    number = call.request.query.get("partNumber")
    if number is None:
        return
    if info.multipart:
        raise errors.NotImplementedHere("reading one part of a multipart object is not "
                                        "supported; read a Range instead")
    if number != "1":
        raise StorageError("The requested partnumber is not satisfiable",
                           code="InvalidPartNumber", status=416, PartNumberRequested=number,
                           ActualPartCount="1")


async def delete_object(call: Call) -> None:
    check_version(call)
    await call.store.delete_object(call.request.bucket, call.request.key,
                                   source_ip=call.request.source_ip,
                                   request_id=call.request.request_id, actor=call.auth.actor)
    await call.respond.empty(204)


async def delete_objects(call: Call) -> None:
    request = call.request
    call.store.bucket(request.bucket)
    document = xmldoc.parse(await call.body(default_algorithm=None).read_small(4 << 20),
                            "Delete")
    quiet = (xmldoc.text(document, "Quiet") or "").strip().lower() == "true"
    wanted = xmldoc.children(document, "Object")
    if not wanted or len(wanted) > MAX_DELETE_KEYS:
        raise errors.MalformedXML(f"a Delete request names 1 to {MAX_DELETE_KEYS} objects")
    results: list[str] = []
    for entry in wanted:
        key = xmldoc.text(entry, "Key")
        if not key:
            raise StorageError("The key must be specified", code="UserKeyMustBeSpecified")
        version = xmldoc.text(entry, "VersionId")
        try:
            if version and version != "null":
                raise StorageError("The specified version does not exist.",
                                   code="NoSuchVersion", status=404)
            await call.store.delete_object(request.bucket, key,
                                           event="ObjectRemoved:DeleteObjects",
                                           source_ip=request.source_ip,
                                           request_id=request.request_id,
                                           actor=call.auth.actor)
        except StorageError as exc:
            results.append(xmldoc.element("Error", xmldoc.elements(
                ("Key", key), ("Code", exc.code), ("Message", exc.message))))
            continue
        if not quiet:
            results.append(xmldoc.element("Deleted", [xmldoc.element("Key", key)]))
    await call.respond.xml(xmldoc.document("DeleteResult", results))


def copy_source(value: str) -> tuple[str, str]:
    """``x-amz-copy-source``: ``[/]bucket/key[?versionId=...]``, the key URL-encoded."""
    path, _, version_query = value.strip().partition("?")
    versions = parse_qs(version_query).get("versionId")
    if versions and versions[0] != "null":
        raise StorageError("Invalid version id specified", code="InvalidArgument",
                           ArgumentName="x-amz-copy-source")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise StorageError("Copy Source must mention the source bucket and key: "
                           "sourcebucket/sourcekey", code="InvalidArgument",
                           ArgumentName="x-amz-copy-source", ArgumentValue=value[:200])
    return bucket, key


async def copy_object(call: Call) -> None:
    request = call.request
    source_bucket, source_key = copy_source(request.header("x-amz-copy-source"))
    directive = (request.header("x-amz-metadata-directive").strip().upper() or "COPY")
    if directive not in ("COPY", "REPLACE"):
        raise StorageError("Unknown metadata directive.", code="InvalidArgument",
                           ArgumentName="x-amz-metadata-directive", ArgumentValue=directive)
    call.store.bucket(request.bucket)
    source = call.store.head_object(source_bucket, source_key)
    check_conditions(request, source, prefix="x-amz-copy-source-")
    if (source_bucket, source_key) == (request.bucket, request.key) and directive == "COPY":
        raise errors.InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes.")
    # REPLACE changes the description, not the bytes: their checksums stay true.
    new = new_object(request, dict(source.checksums)) if directive == "REPLACE" else None

    async def copy() -> bytes:
        info = await call.store.copy_object(source_bucket, source_key, request.bucket,
                                            request.key, new, source_ip=request.source_ip,
                                            request_id=request.request_id,
                                            actor=call.auth.actor)
        kept = [xmldoc.element(f"Checksum{checksums.NAMES[name]}", info.checksums[name])
                for name in checksums.ALGORITHMS if info.checksums.get(name)]
        return xmldoc.document("CopyObjectResult", [
            *xmldoc.elements(("ETag", quoted_etag(info.etag)),
                             ("LastModified", wire.iso_date(info.last_modified))), *kept])

    await call.respond.xml_when_done(copy(), request.resource)
