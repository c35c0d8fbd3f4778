"""Minimal request/response plumbing over raw ASGI.

The invoke path is the platform's hot path, so this layer does only what the FC API
needs: headers, query, a size-capped body, JSON bodies and error bodies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from fcompute import validation
from fcompute.api import jsonio
from fcompute.api.auth import check_content_md5
from fcompute.errors import EntityTooLarge, InvalidArgument

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]
LARGE_BODY = 256 * 1024


class Request:
    __slots__ = ("_body", "_headers", "_query", "params", "path", "receive", "request_id",
                 "scope")

    def __init__(self, scope: Scope, receive: Receive, request_id: str) -> None:
        self.scope = scope
        self.receive = receive
        self.request_id = request_id
        self.path: str = scope["path"]
        self.params: dict[str, str] = {}
        self._headers: dict[str, str] | None = None
        self._query: dict[str, str] | None = None
        self._body: bytes | None = None

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def headers(self) -> dict[str, str]:
        """Lower-case names; repeated headers are joined with ','."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for raw_name, raw_value in self.scope["headers"]:
                name = raw_name.decode("latin-1")
                value = raw_value.decode("latin-1")
                headers[name] = f"{headers[name]},{value}" if name in headers else value
            self._headers = headers
        return self._headers

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def _body_headers(self) -> tuple[str, str]:
        """Content-Length and Content-MD5 as ``headers`` has them, in one pass over the raw
        headers and without decoding the others (the invoke path needs only these)."""
        if self._headers is not None:
            return self._headers.get("content-length", ""), self._headers.get("content-md5", "")
        length: list[bytes] = []
        md5: list[bytes] = []
        for key, value in self.scope["headers"]:
            if key == b"content-length":
                length.append(value)
            elif key == b"content-md5":
                md5.append(value)
        return b",".join(length).decode("latin-1"), b",".join(md5).decode("latin-1")

    @property
    def query_string(self) -> str:
        return bytes(self.scope.get("query_string", b"")).decode("latin-1")

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            self._query = dict(parse_qsl(self.query_string, keep_blank_values=True))
        return self._query

    @property
    def raw_path(self) -> str:
        raw = self.scope.get("raw_path")
        return unquote(raw.decode("latin-1")) if raw else self.path

    async def body(self, limit: int) -> bytes:
        """The whole body, at most ``limit`` bytes (else 413), checked against its
        ``Content-MD5`` when it has one (else 400)."""
        if self._body is not None:
            return self._body
        declared, content_md5 = self._body_headers()
        # The HTTP server has already checked the header; a stray one is left to it.
        if declared and validation.DECIMAL.fullmatch(declared) and int(declared) > limit:
            raise EntityTooLarge(f"request body is {declared} bytes, at most {limit} allowed")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise EntityTooLarge(f"request body exceeds {limit} bytes")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks) if len(chunks) != 1 else chunks[0]
        if content_md5:
            # Signatures cover Content-MD5 but not the body: this binds the two.
            check_content_md5(content_md5, body)
        self._body = body
        return body

    async def json(self, limit: int) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when empty); see :func:`jsonio.loads`."""
        raw = await self.body(limit)
        if not raw.strip():
            return {}
        # Code uploads make bodies of up to ~134 MB: parse those off the event loop.
        value = jsonio.loads(raw) if len(raw) < LARGE_BODY else await asyncio.to_thread(
            jsonio.loads, raw
        )
        if not isinstance(value, dict):
            raise InvalidArgument("request body must be a JSON object")
        return value


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"

    async def send(self, send: Send, request_id: str) -> None:
        raw: RawHeaders = [(b"x-fc-request-id", request_id.encode())]
        if self.status != 204:
            raw.append((b"content-type", self.content_type.encode()))
            raw.append((b"content-length", b"%d" % len(self.body)))
        for name, value in self.headers:
            raw.append((name.encode("latin-1"), value.encode("latin-1")))
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


class Sent(Response):
    """Returned by handlers that already sent their own (streamed) response."""


def json_response(data: Any, status: int = 200, etag: str | None = None) -> Response:
    headers = [("etag", etag)] if etag else []
    return Response(status=status, body=jsonio.dumps(data), headers=headers)


def no_content() -> Response:
    return Response(status=204, body=b"", content_type="application/json")


def error_body(code: str, message: str) -> bytes:
    return jsonio.dumps({"ErrorCode": code, "ErrorMessage": message})
