"""Sending S3 answers: every one with ``x-amz-request-id``; errors as S3's XML (HEAD
errors without a body); long operations kept alive the way S3 keeps them."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fcompute.objectstore import wire
from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.s3 import xmldoc
from fcompute.objectstore.server import Send

log = logging.getLogger(__name__)
Headers = list[tuple[bytes, bytes]]
XML = (b"content-type", b"application/xml")
# A CompleteMultipartUpload or CopyObject that is still working after PATIENCE_S seconds
# gets its 200 and then a space every KEEPALIVE_S seconds until its document is ready,
# so clients' read timeouts do not fire (S3 does the same; clients read an <Error> in
# such a 200 as the error it is).
PATIENCE_S = 1.0
KEEPALIVE_S = 5.0


def error_document(exc: StorageError, resource: str, request_id: str) -> bytes:
    details = [xmldoc.element(name, value) for name, value in exc.details.items()]
    return xmldoc.document("Error", [
        xmldoc.element("Code", exc.code), xmldoc.element("Message", exc.message), *details,
        xmldoc.element("Resource", resource), xmldoc.element("RequestId", request_id),
        xmldoc.element("HostId", host_id(request_id))], namespace=False)


def host_id(request_id: str) -> str:
    return base64.b64encode(request_id.encode() + secrets.token_bytes(12)).decode()


class Responder:
    """``body_pending`` says whether the request's body is still (partly) unread when the
    answer starts: the connection then closes after the answer, since a client that sent
    ``Expect: 100-continue`` and got a final status instead will not send that body, and
    one that did send it should not have it read and thrown away at length."""

    def __init__(self, send: Send, request_id: str, *, head: bool,
                 body_pending: Callable[[], bool] = lambda: False) -> None:
        self._send = send
        self.request_id = request_id
        self.head = head
        self.started = False
        self._body_pending = body_pending

    def _common(self) -> Headers:
        common = [(b"x-amz-request-id", self.request_id.encode()),
                  (b"x-amz-id-2", host_id(self.request_id).encode())]
        if self._body_pending():
            common.append((b"connection", b"close"))
        return common

    async def _start(self, status: int, headers: Headers) -> None:
        self.started = True
        await self._send({"type": "http.response.start", "status": status,
                          "headers": [*self._common(), *headers]})

    async def whole(self, status: int, headers: Headers, body: bytes = b"") -> None:
        self.started = True
        await wire.send_response(self._send, status, [*self._common(), *headers], body,
                                 head=self.head)

    async def xml(self, body: bytes, *, status: int = 200, headers: Headers | None = None
                  ) -> None:
        await self.whole(status, [XML, *(headers or [])], body)

    async def empty(self, status: int = 200, headers: Headers | None = None) -> None:
        await self.whole(status, headers or [])

    async def stream(self, status: int, headers: Headers, length: int,
                     chunks: AsyncIterator[bytes]) -> None:
        self.started = True
        await wire.send_stream(self._send, status, [*self._common(), *headers], length, chunks)

    async def head_only(self, status: int, headers: Headers, length: int) -> None:
        """A HEAD answer: the length of the body a GET would send, no body."""
        await self._start(status, [*headers, (b"content-length", str(length).encode())])
        await self._send({"type": "http.response.body", "body": b""})

    async def error(self, exc: StorageError, resource: str) -> None:
        body = b"" if self.head else error_document(exc, resource, self.request_id)
        await self.whole(exc.status, [XML], body)

    async def xml_when_done(self, work: Coroutine[Any, Any, bytes], resource: str) -> None:
        """The document ``work`` produces; if that takes a while, the 200 goes first."""
        task = asyncio.ensure_future(work)
        await asyncio.wait({task}, timeout=PATIENCE_S)
        if task.done():
            await self.xml(task.result())
            return
        await self._start(200, [XML])
        declaration = xmldoc.DECLARATION.encode()
        await self._send({"type": "http.response.body", "body": declaration,
                          "more_body": True})
        while not task.done():
            await asyncio.wait({task}, timeout=KEEPALIVE_S)
            if not task.done():
                await self._send({"type": "http.response.body", "body": b" ",
                                  "more_body": True})
        try:
            body = task.result()
        except StorageError as exc:
            body = error_document(exc, resource, self.request_id)
        except Exception:
            log.exception("S3 request %s failed after its answer began", self.request_id)
            body = error_document(StorageError("We encountered an internal error. Please "
                                               "try again.", code="InternalError",
                                               status=500), resource, self.request_id)
        await self._send({"type": "http.response.body",
                          "body": body.removeprefix(declaration)})
