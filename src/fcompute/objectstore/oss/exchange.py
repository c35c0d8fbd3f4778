"""What an operation handler gets: the store, the request, its body, and the ways to
answer (every answer carries ``x-oss-request-id``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from fcompute.objectstore import wire
from fcompute.objectstore.engine import ObjectStore
from fcompute.objectstore.oss.request import OssRequest
from fcompute.objectstore.server import Receive, Send

Headers = list[tuple[bytes, bytes]]


@dataclass
class Exchange:
    store: ObjectStore
    request: OssRequest
    receive: Receive
    send: Send
    region: str
    actor: str = ""  # whose temporary credentials signed the request (events name it)
    started: bool = False  # the response has begun: an error can no longer be sent

    @property
    def location(self) -> str:
        """The bucket location OSS reports, ``oss-<region>``."""
        return f"oss-{self.region}"

    def _headers(self, headers: Headers) -> Headers:
        return [(b"x-oss-request-id", self.request.request_id.encode()), *headers]

    def body(self) -> AsyncIterator[bytes]:
        return wire.body_chunks(self.receive)

    async def small_body(self) -> bytes:
        return await wire.read_small_body(self.receive)

    async def respond(self, status: int, headers: Headers | None = None,
                      body: bytes = b"") -> None:
        self.started = True
        await wire.send_response(self.send, status, self._headers(headers or []), body,
                                 head=self.request.method == "HEAD")

    async def respond_xml(self, document: bytes, headers: Headers | None = None,
                          status: int = 200) -> None:
        await self.respond(status, [(b"content-type", b"application/xml"), *(headers or [])],
                           document)

    async def respond_head(self, status: int, headers: Headers, length: int) -> None:
        """Headers only, with the Content-Length the GET would have."""
        self.started = True
        await self.send({"type": "http.response.start", "status": status,
                         "headers": [*self._headers(headers),
                                     (b"content-length", str(length).encode())]})
        await self.send({"type": "http.response.body", "body": b""})

    async def respond_stream(self, status: int, headers: Headers, length: int,
                             chunks: AsyncIterator[bytes]) -> None:
        self.started = True
        await wire.send_stream(self.send, status, self._headers(headers), length, chunks)
