"""The storage port: one ASGI application answering S3 clients and OSS clients.

Both APIs address the same buckets and objects. Which one a request speaks is read from
its signature (``Authorization: OSS ...``/``OSS4-HMAC-SHA256`` or ``AWS4-HMAC-SHA256``,
or their presigned-URL query parameters) and, for unsigned requests, from ``x-oss-*``
headers or an OSS SDK's User-Agent; anything else is S3, the more common client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

_OSS_QUERY = (b"OSSAccessKeyId=", b"x-oss-signature=", b"x-oss-credential=")


def speaks_oss(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    if any(marker in query for marker in _OSS_QUERY):
        return True
    oss_header = False
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bool(value.startswith((b"OSS ", b"OSS4-HMAC-SHA256", b"OSS2 ")))
        # oss2's anonymous requests carry no x-oss-* header: its User-Agent says who it is.
        if name.startswith(b"x-oss-") or (name == b"user-agent"
                                          and value.startswith(b"aliyun-sdk-")):
            oss_header = True
    return oss_header


class StorageApp:
    def __init__(self, s3: Asgi, oss: Asgi) -> None:
        self._s3 = s3
        self._oss = oss

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._oss if speaks_oss(scope) else self._s3
        await app(scope, receive, send)
