"""The S3 REST API of the object store, as boto3 speaks it."""

from __future__ import annotations

from fcompute.objectstore.credentials import StorageKeys
from fcompute.objectstore.engine import ObjectStore
from fcompute.objectstore.server import Receive, Scope, Send


class S3Api:
    def __init__(self, store: ObjectStore, keys: StorageKeys, region: str) -> None:
        self._store = store
        self._keys = keys
        self._region = region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
                b"<Message>the S3 API is being built</Message></Error>")
        await send({"type": "http.response.start", "status": 501,
                    "headers": [(b"content-type", b"application/xml"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
