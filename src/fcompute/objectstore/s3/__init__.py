"""The S3 REST API of the object store, as boto3 speaks it.

A request goes: addressing (``request.py``), authentication (``auth.py``, ``sigv4.py``),
the operation (``routes.py`` to ``buckets``/``objects``/``listing``/``multipart``), and
back as S3 answers (``responses.py``, ``xmldoc.py``). Bodies stream through
``payload.py`` (digests, checksums) and ``chunked.py`` (aws-chunked framing).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping, Sequence
from typing import Any

from fcompute.objectstore.credentials import StorageKeys
from fcompute.objectstore.engine import ObjectStore
from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.s3.auth import authenticate
from fcompute.objectstore.s3.call import Call
from fcompute.objectstore.s3.request import DEFAULT_DOMAINS, S3Request, new_request_id
from fcompute.objectstore.s3.responses import Responder
from fcompute.objectstore.s3.routes import operation
from fcompute.objectstore.server import Receive, Scope, Send

log = logging.getLogger(__name__)

__all__ = ["S3Api"]


class _BodyWatch:
    """The ASGI ``receive`` of one request, noting whether its body has been read to the
    end."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._receive = receive
        self.pending = any(
            (name == b"content-length" and value.strip() not in (b"", b"0"))
            or (name == b"transfer-encoding" and b"chunked" in value.lower())
            for name, value in scope["headers"])

    async def __call__(self) -> MutableMapping[str, Any]:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.pending = False
        return message


class S3Api:
    """``domains``: host names under which ``<bucket>.<domain>`` always is virtual-host
    addressing, whether or not the bucket exists (request.py)."""

    def __init__(self, store: ObjectStore, keys: StorageKeys, region: str, *,
                 domains: Sequence[str] = DEFAULT_DOMAINS) -> None:
        self._store = store
        self._keys = keys
        self._region = region
        self._domains = tuple(domains)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        receive = watch = _BodyWatch(scope, receive)
        respond = Responder(send, request_id, head=scope.get("method") == "HEAD",
                            body_pending=lambda: watch.pending)
        resource = "/"
        try:
            request = S3Request.from_scope(scope, receive, request_id, self._store.has_bucket,
                                           self._domains)
            resource = request.resource
            auth = authenticate(request, self._keys)
            run = operation(request)
            await run(Call(request, auth, self._store, respond, self._region))
        except StorageError as exc:
            if respond.started:
                log.warning("S3 request %s failed after its answer began: %s %s",
                            request_id, exc.code, exc.message)
                return
            await respond.error(exc, resource)
        except Exception:
            log.exception("S3 request %s failed", request_id)
            if not respond.started:
                await respond.error(StorageError(
                    "We encountered an internal error. Please try again.",
                    code="InternalError", status=500), resource)
