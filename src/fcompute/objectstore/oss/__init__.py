"""The OSS REST API of the object store, as the oss2 SDK speaks it.

A request is parsed (``request``), its signature checked (``auth`` with ``signing_v1`` and
``signing_v4``), its operation chosen (``routes``) and run by a handler over the engine
(``buckets``, ``listing``, ``objects``, ``deletes``, ``multipart``); any error becomes
OSS's error XML (``errors``), in ``x-oss-err`` for a HEAD.
"""

from __future__ import annotations

import logging
import secrets

from fcompute.objectstore.credentials import StorageKeys
from fcompute.objectstore.engine import ObjectStore
from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.oss import routes
from fcompute.objectstore.oss.auth import Authenticator
from fcompute.objectstore.oss.errors import (
    NotModified,
    error_document,
    head_error_header,
)
from fcompute.objectstore.oss.exchange import Exchange
from fcompute.objectstore.oss.request import parse_request
from fcompute.objectstore.server import Receive, Scope, Send
from fcompute.objectstore.wire import header

log = logging.getLogger(__name__)


def new_request_id() -> str:
    """24 upper-case hex digits, the shape of OSS's request ids."""
    return secrets.token_hex(12).upper()


class OssApi:
    def __init__(self, store: ObjectStore, keys: StorageKeys, region: str) -> None:
        self._store = store
        self._auth = Authenticator(keys)
        self._region = region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        exchange: Exchange | None = None
        try:
            request = parse_request(scope, request_id, self._store.has_bucket)
            actor = self._auth.check(request)
            handler = routes.choose(request)
            exchange = Exchange(self._store, request, receive, send, self._region, actor)
            await handler(exchange)
        except StorageError as error:
            if exchange is not None and exchange.started:
                raise
            await _send_error(send, scope, request_id, error)
        except Exception:
            if exchange is not None and exchange.started:
                raise
            log.exception("OSS request %s failed", request_id)
            await _send_error(send, scope, request_id, StorageError(
                "the store failed to handle this request; see the platform's log",
                code="InternalError", status=500))


async def _send_error(send: Send, scope: Scope, request_id: str, error: StorageError) -> None:
    headers = [(b"x-oss-request-id", request_id.encode())]
    if isinstance(error, NotModified):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    document = error_document(error, request_id, header(scope, b"host"))
    head = scope["method"] == "HEAD"
    if head:
        headers.append((b"x-oss-err", head_error_header(document)))
    headers += [(b"content-type", b"application/xml"),
                (b"content-length", str(0 if head else len(document)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else document})
