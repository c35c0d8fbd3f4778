"""Object headers both ways: what a write keeps (content type, user metadata, standard
headers), what a read returns, and the conditional headers (If-Match and friends)."""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime

from fcompute.objectstore import errors as store_errors
from fcompute.objectstore import wire
from fcompute.objectstore.engine import NewObject, ObjectInfo
from fcompute.objectstore.s3 import checksums, errors
from fcompute.objectstore.s3.request import S3Request

Headers = list[tuple[bytes, bytes]]
DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 stores when a PUT names none
KEPT_HEADERS = ("cache-control", "content-disposition", "content-encoding",
                "content-language", "expires")
# ``response-*`` query parameters of GetObject and the headers they override.
OVERRIDES = {f"response-{name}": name for name in ("content-type", *KEPT_HEADERS)}


def _without_aws_chunked(encoding: str) -> str:
    """Content-Encoding minus the ``aws-chunked`` framing S3 removes before storing."""
    kept = [part.strip() for part in encoding.split(",")
            if part.strip() and part.strip().lower() != "aws-chunked"]
    return ",".join(kept)


def new_object(request: S3Request, kept_checksums: dict[str, str] | None = None) -> NewObject:
    """What a PUT, a multipart initiation or a copy with REPLACE says about the object."""
    headers: dict[str, str] = {}
    for name in KEPT_HEADERS:
        if request.has(name):
            value = request.header(name)
            if name == "content-encoding":
                value = _without_aws_chunked(value)
            if value:
                headers[name] = value
    return NewObject(
        content_type=request.header("content-type") or DEFAULT_CONTENT_TYPE,
        metadata=wire.headers_with_prefix(request.scope, b"x-amz-meta-"),
        headers=headers,
        checksums=kept_checksums if kept_checksums is not None else {})


def quoted_etag(etag: str) -> str:
    return f'"{etag}"'


def checksum_headers(stored: dict[str, str], *, multipart: bool = False) -> Headers:
    found: Headers = []
    for algorithm in checksums.ALGORITHMS:
        value = stored.get(algorithm)
        if value:
            found.append(((checksums.HEADER_PREFIX + algorithm).encode(), value.encode()))
    if found:
        kind = b"COMPOSITE" if multipart else b"FULL_OBJECT"
        found.append((b"x-amz-checksum-type", kind))
    return found


def object_headers(info: ObjectInfo, *, with_checksums: bool) -> Headers:
    """The headers of a GET or HEAD answer (Content-Length and Range aside)."""
    headers: Headers = [
        (b"content-type", info.content_type.encode("latin-1", "replace")),
        (b"etag", quoted_etag(info.etag).encode()),
        (b"last-modified", wire.http_date(info.last_modified).encode()),
        (b"accept-ranges", b"bytes"),
    ]
    for name, value in sorted(info.headers.items()):
        headers.append((name.encode("latin-1"), value.encode("latin-1", "replace")))
    for name, value in sorted(info.metadata.items()):
        headers.append((b"x-amz-meta-" + name.encode("latin-1"), value.encode("utf-8")))
    if with_checksums:
        headers.extend(checksum_headers(info.checksums, multipart=info.multipart))
    return headers


def apply_overrides(headers: Headers, query: dict[str, str]) -> Headers:
    """GetObject's ``response-content-type=...`` and the like replace stored headers."""
    overrides = {OVERRIDES[name].encode(): value.encode("latin-1", "replace")
                 for name, value in query.items() if name in OVERRIDES}
    if not overrides:
        return headers
    kept = [(name, value) for name, value in headers if name not in overrides]
    return kept + list(overrides.items())


def _http_time(value: str) -> float | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _etag_matches(header_value: str, etag: str) -> bool:
    for candidate in header_value.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.removeprefix("W/").strip('"') == etag:
            return True
    return False


def check_conditions(request: S3Request, info: ObjectInfo, *, prefix: str = "") -> None:
    """RFC 7232's order, as S3 applies it. ``prefix`` ``x-amz-copy-source-`` checks a
    copy's source, where what would be 304 is a 412."""
    def get(name: str) -> str:
        return request.header(prefix + name).strip()

    modified = int(info.last_modified)
    if_match, if_none_match = get("if-match"), get("if-none-match")
    if if_match:
        if not _etag_matches(if_match, info.etag):
            raise errors.PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition=f"{prefix or ''}If-Match")
    else:
        since = _http_time(get("if-unmodified-since"))
        if since is not None and modified > since:
            raise errors.PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition=f"{prefix}If-Unmodified-Since")
    not_modified = False
    if if_none_match:
        not_modified = _etag_matches(if_none_match, info.etag)
    else:
        since = _http_time(get("if-modified-since"))
        not_modified = since is not None and modified <= since
    if not_modified:
        if prefix:
            raise errors.PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition=f"{prefix}If-None-Match" if if_none_match
                else f"{prefix}If-Modified-Since")
        raise errors.NotModified(quoted_etag(info.etag), wire.http_date(info.last_modified))


def check_write_conditions(request: S3Request, current: ObjectInfo | None) -> None:
    """PutObject's and CompleteMultipartUpload's ``If-None-Match: *`` and ``If-Match``,
    checked against the object as it is when the request arrives."""
    if_none_match = request.header("if-none-match").strip()
    if if_none_match and current is not None and _etag_matches(if_none_match, current.etag):
        raise errors.PreconditionFailed(
            "At least one of the pre-conditions you specified did not hold",
            Condition="If-None-Match")
    if_match = request.header("if-match").strip()
    if if_match:
        if current is None:
            raise store_errors.NoSuchKey("The specified key does not exist.", Key=request.key)
        if not _etag_matches(if_match, current.etag):
            raise errors.PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition="If-Match")
