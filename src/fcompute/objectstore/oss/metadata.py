"""An object's description on the wire: what a write says about the object (Content-Type,
``x-oss-meta-*``, the standard headers kept), the headers a read answers with, the
conditional headers, and OSS's two readings of ``Range``."""

from __future__ import annotations

import base64
import binascii
import email.utils
import re

from fcompute.objectstore import wire
from fcompute.objectstore.engine import NewObject, ObjectInfo, Verify
from fcompute.objectstore.files import Digests
from fcompute.objectstore.oss.errors import InvalidDigest, NotModified, PreconditionFailed
from fcompute.objectstore.oss.request import OssRequest

Headers = list[tuple[bytes, bytes]]
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Standard headers an object keeps and returns, as OSS does.
KEPT_HEADERS = ("cache-control", "content-disposition", "content-encoding",
                "content-language", "expires")
# GetObject's response-* parameters and the header each overrides.
_OVERRIDES = {
    "response-content-type": b"content-type",
    "response-content-language": b"content-language",
    "response-expires": b"expires",
    "response-cache-control": b"cache-control",
    "response-content-disposition": b"content-disposition",
    "response-content-encoding": b"content-encoding",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def new_object(request: OssRequest) -> NewObject:
    kept = {name: value for name in KEPT_HEADERS if (value := request.header(name))}
    return NewObject(content_type=request.header("content-type") or DEFAULT_CONTENT_TYPE,
                     metadata=wire.headers_with_prefix(request.scope, b"x-oss-meta-"),
                     headers=kept)


def etag(value: str) -> str:
    """OSS's ETag: quoted, upper-case hex (``"<HEX>-<parts>"`` for multipart)."""
    return f'"{value.upper()}"'


def object_type(info: ObjectInfo) -> str:
    return "Multipart" if info.multipart else "Normal"


def object_headers(info: ObjectInfo) -> Headers:
    headers: Headers = [
        (b"content-type", (info.content_type or DEFAULT_CONTENT_TYPE).encode("latin-1",
                                                                              "replace")),
        (b"etag", etag(info.etag).encode()),
        (b"last-modified", wire.http_date(info.last_modified).encode()),
        (b"accept-ranges", b"bytes"),
        (b"x-oss-object-type", object_type(info).encode()),
        (b"x-oss-storage-class", b"Standard"),
        (b"x-oss-hash-crc64ecma", str(info.crc64).encode()),
    ]
    if not info.multipart and "-" not in info.etag:
        headers.append((b"content-md5", base64.b64encode(bytes.fromhex(info.etag))))
    for name, value in info.headers.items():
        headers.append((name.encode("latin-1"), value.encode("latin-1", "replace")))
    for name, value in sorted(info.metadata.items()):
        headers.append((b"x-oss-meta-" + name.encode("latin-1"), value.encode("utf-8")))
    return headers


def with_overrides(headers: Headers, request: OssRequest) -> Headers:
    """GetObject's ``response-content-type`` and friends replace the stored headers."""
    replaced = {_OVERRIDES[name]: value for name, value in request.query
                if name in _OVERRIDES}
    if not replaced:
        return headers
    kept = [(name, value) for name, value in headers if name not in replaced]
    return kept + [(name, value.encode("latin-1", "replace"))
                   for name, value in replaced.items()]


# conditions -----------------------------------------------------------------

def _etags(value: str) -> list[str]:
    return [tag.strip().removeprefix("W/").strip('"').lower() for tag in value.split(",")]


def _matches(value: str, info: ObjectInfo) -> bool:
    tags = _etags(value)
    return "*" in tags or info.etag.lower() in tags


def _date(value: str) -> float | None:
    parsed = email.utils.parsedate_tz(value) if value else None
    return float(email.utils.mktime_tz(parsed)) if parsed else None


def check_conditions(request: OssRequest, info: ObjectInfo, prefix: str = "") -> None:
    """If-Match / If-None-Match / If-(Un)Modified-Since (``prefix`` selects the
    ``x-oss-copy-source-`` forms): 412 PreconditionFailed, or 304 when the reader already
    has the object."""
    modified = int(info.last_modified)
    if_match = request.header(prefix + "if-match")
    if if_match and not _matches(if_match, info):
        raise PreconditionFailed("If-Match does not match the object's ETag",
                                 Condition=prefix + "If-Match")
    unmodified_since = _date(request.header(prefix + "if-unmodified-since"))
    if not if_match and unmodified_since is not None and modified > unmodified_since:
        raise PreconditionFailed("the object was modified since If-Unmodified-Since",
                                 Condition=prefix + "If-Unmodified-Since")
    if_none_match = request.header(prefix + "if-none-match")
    if if_none_match and _matches(if_none_match, info):
        raise NotModified("the object matches If-None-Match")
    modified_since = _date(request.header(prefix + "if-modified-since"))
    if not if_none_match and modified_since is not None and modified <= modified_since:
        raise NotModified("the object was not modified since If-Modified-Since")


# ranges ---------------------------------------------------------------------

def object_range(request: OssRequest, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) to send, or None for the whole object.

    OSS has two behaviours. By default a range it cannot satisfy whole is ignored: the
    whole object comes back with 200 (``bytes=0-1000`` of a 1000-byte object included).
    With ``x-oss-range-behavior: standard`` an end past the object is cut to it and a
    start past it is 416 InvalidRange, as in S3."""
    value = request.header("range")
    if request.header("x-oss-range-behavior").lower() == "standard":
        return wire.parse_range(value, size)
    found = _RANGE.fullmatch(value.strip()) if value else None
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:
        count = int(last)
        return (size - count, size) if 0 < count <= size else None
    start = int(first)
    end = int(last) + 1 if last else size
    if start >= size or end > size or end <= start:
        return None
    return start, end


def content_range(start: int, end: int, size: int) -> bytes:
    return f"bytes {start}-{end - 1}/{size}".encode()


# digests --------------------------------------------------------------------

def content_md5_check(request: OssRequest) -> Verify | None:
    """Refuses a body whose MD5 is not the Content-MD5 sent (before it becomes visible)."""
    sent = request.header("content-md5")
    if not sent:
        return None
    try:
        expected = base64.b64decode(sent, validate=True)
    except binascii.Error:
        expected = b""
    if len(expected) != 16:
        raise InvalidDigest("Content-MD5 must be the base64 of a 16-byte MD5 digest",
                            ContentMD5=sent[:64])

    def verify(digests: Digests) -> None:
        if digests.md5 != expected:
            raise InvalidDigest("the Content-MD5 you specified does not match the body",
                                CalculatedMD5=base64.b64encode(digests.md5).decode(),
                                ContentMD5=sent)
    return verify
