"""HTTP pieces both storage front doors share: streaming request bodies, ranges, dates,
and sending responses over raw ASGI."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import AsyncIterator, Iterable
from urllib.parse import unquote

from fcompute.objectstore import errors
from fcompute.objectstore.server import Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")  # fullmatch; one range only


def header(scope: Scope, name: bytes) -> str:
    """A request header's value ("" when absent); ``name`` in lower case."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def headers_with_prefix(scope: Scope, prefix: bytes) -> dict[str, str]:
    """Request headers whose lower-case name starts with ``prefix``, the prefix removed."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key.startswith(prefix):
            found[key[len(prefix):].decode("latin-1")] = value.decode("utf-8", "replace")
    return found


def raw_path(scope: Scope) -> str:
    """The path as sent (percent-encoded), which signatures are computed over."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope["path"])


def split_bucket_key(path: str) -> tuple[str, str]:
    """``/bucket/key...`` (percent-encoded) into the bucket and the decoded key."""
    bucket, _, key = path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key)


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as the server hands it over, chunk by chunk (never whole)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise errors.IncompleteBody("the client closed the connection mid-body")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def read_small_body(receive: Receive, limit: int = 1024 * 1024) -> bytes:
    """A whole body that must be small (XML of a delete or a multipart completion)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in body_chunks(receive):
        size += len(chunk)
        if size > limit:
            raise errors.StorageError(f"the request body is larger than {limit} bytes",
                                      code="MalformedXML")
        parts.append(chunk)
    return b"".join(parts)


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A ``Range`` header as (start, end exclusive) within ``size``; None when it should
    be ignored (absent, malformed or several ranges: the whole object is sent, as S3
    and OSS do); ``InvalidRange`` when it lies wholly past the end."""
    if not value:
        return None
    found = _RANGE.fullmatch(value.strip())
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        count = int(last)
        if count == 0:
            raise errors.InvalidRange("the requested range is empty", RangeRequested=value)
        return max(0, size - count), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    if last and int(last) < start:
        return None
    if start >= size:
        raise errors.InvalidRange(f"the range starts past the object's end ({size} bytes)",
                                  RangeRequested=value, ActualObjectSize=str(size))
    return start, end


def http_date(timestamp: float) -> str:
    """RFC 1123, as Last-Modified needs it (two-digit day, GMT)."""
    return email.utils.formatdate(int(timestamp), usegmt=True)


def iso_date(timestamp: float) -> str:
    """ISO 8601 with literal ``.000Z``: oss2 insists on it and S3 clients accept it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(int(timestamp)))


async def send_response(send: Send, status: int, headers: Headers, body: bytes = b"",
                        *, head: bool = False) -> None:
    """A whole response; ``head`` sends the headers (Content-Length included) only."""
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_stream(send: Send, status: int, headers: Headers, length: int,
                      chunks: AsyncIterator[bytes] | Iterable[bytes]) -> None:
    """A response of ``length`` bytes from ``chunks``, sent as they come."""
    headers = [*headers, (b"content-length", str(length).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if isinstance(chunks, AsyncIterator):
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    else:
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
