"""Download links for code packages: presigned, expiring URLs served by the platform."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time

from fcompute import limits, validation
from fcompute.api.common import API_PREFIX
from fcompute.api.http import Request, Response, Send, Sent
from fcompute.api.routing import Router
from fcompute.codestore.base import CodeStore
from fcompute.errors import AccessDenied, InvalidArgument

LINK_SECONDS = 15 * 60
CHUNK = 1024 * 1024
CODE_PATH = f"{API_PREFIX}/code/"


class CodeLinks:
    def __init__(self, secret: bytes, codestore: CodeStore) -> None:
        self._secret = secret
        self._codestore = codestore

    def _signature(self, digest: str, expires: int) -> str:
        return hmac.new(self._secret, f"{digest}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url_for(self, request: Request, digest: str) -> str:
        host = request.header("host") or "127.0.0.1"
        scheme = request.scope.get("scheme", "http")
        expires = int(time.time()) + LINK_SECONDS
        return (f"{scheme}://{host}{CODE_PATH}{digest}.zip?Expires={expires}"
                f"&Signature={self._signature(digest, expires)}")

    def register(self, router: Router) -> None:
        router.add("GET", f"{CODE_PATH}{{package}}", self.download)

    async def download(self, request: Request, send: Send) -> Response:
        digest = request.params["package"].removesuffix(".zip")
        signature = request.query.get("Signature", "")
        try:
            expires = validation.decimal("Expires", request.query.get("Expires", ""), 0,
                                         limits.MAX_EPOCH_S)
        except InvalidArgument:
            raise AccessDenied("the code download link is not valid") from None
        if not signature.isascii() or not hmac.compare_digest(
            self._signature(digest, expires), signature
        ):
            raise AccessDenied("the code download link is not valid")
        if expires < time.time():
            raise AccessDenied("the code download link has expired")
        path = self._codestore.zip_path(digest)
        size = path.stat().st_size
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/zip"),
            (b"content-length", str(size).encode()),
            (b"x-fc-request-id", request.request_id.encode()),
        ]})
        with await asyncio.to_thread(open, path, "rb") as handle:
            while True:
                chunk = await asyncio.to_thread(handle.read, CHUNK)
                more = len(chunk) == CHUNK
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    break
        return Sent()
