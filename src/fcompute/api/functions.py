"""Function operations: /services/{service}/functions[/{function}[/code]]."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fcompute import limits, validation
from fcompute.api.code import CodeLinks
from fcompute.api.common import API_PREFIX, if_match, page_args, require_latest, unqualified
from fcompute.api.http import Request, Response, Send, json_response, no_content
from fcompute.api.routing import Router
from fcompute.codestore.collector import CodeCollector
from fcompute.errors import EntityTooLarge, InvalidArgument
from fcompute.invoke.catalog import FunctionCatalog
from fcompute.pool.pool import InstancePool
from fcompute.store.base import Store

BASE = f"{API_PREFIX}/services/{{service}}/functions"


def decode_zip(encoded: str) -> bytes:
    if len(encoded) > limits.MAX_CODE_ZIP_BYTES * 4 // 3 + 4:
        raise EntityTooLarge("code package is larger than 100 MB")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("code.zipFile is not valid base64") from None


class FunctionsApi:
    def __init__(
        self, store: Store, packages: CodeCollector, catalog: FunctionCatalog, pool: InstancePool,
        links: CodeLinks,
    ) -> None:
        self._store = store
        self._packages = packages
        self._catalog = catalog
        self._pool = pool
        self._links = links

    def register(self, router: Router) -> None:
        router.add("POST", BASE, self.create)
        router.add("GET", BASE, self.list)
        router.add("GET", f"{BASE}/{{function}}", self.get)
        router.add("PUT", f"{BASE}/{{function}}", self.update)
        router.add("DELETE", f"{BASE}/{{function}}", self.delete)
        router.add("GET", f"{BASE}/{{function}}/code", self.code)

    @asynccontextmanager
    async def _storing_code(self, fields: dict[str, Any]) -> AsyncIterator[None]:
        """Stores the request's code package (if any) for the block that writes the row:
        until the block ends, the package is safe from removal."""
        encoded = fields.pop("code", None)
        if encoded is None:
            yield
            return
        async with self._packages.upload(lambda: decode_zip(encoded)) as info:
            fields.update(code_checksum=info.checksum, code_size=info.size,
                          code_digest=info.digest)
            yield

    async def create(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        body = validation.require_object(await request.json(limits.MAX_MANAGEMENT_BODY_BYTES))
        fields = validation.parse_function(body, creating=True)
        await self._store.get_service(service)  # a clear ServiceNotFound before storing code
        async with self._storing_code(fields):
            function = await self._store.create_function(service, fields)
        return json_response(function.to_api(), etag=function.etag)

    async def list(self, request: Request, _send: Send) -> Response:
        service = require_latest(request.params["service"])
        prefix, start, limit = page_args(request)
        page = await self._store.list_functions(
            service, prefix=prefix, start_key=start, limit=limit
        )
        data: dict[str, object] = {"functions": [f.to_api() for f in page.items]}
        if page.next_token:
            data["nextToken"] = page.next_token
        return json_response(data)

    async def get(self, request: Request, _send: Send) -> Response:
        service = require_latest(request.params["service"])
        function = await self._store.get_function(service, request.params["function"])
        return json_response(function.to_api(), etag=function.etag)

    async def update(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        name = request.params["function"]
        body = validation.require_object(await request.json(limits.MAX_MANAGEMENT_BODY_BYTES))
        fields = validation.parse_function(body, creating=False)
        current = await self._store.get_function(service, name)
        async with self._storing_code(fields):
            function = await self._store.update_function(service, name, fields,
                                                         if_match(request))
        self._catalog.invalidate(service, name)
        if function.etag != current.etag:
            self._pool.forget(function.id)
        if function.code_digest != current.code_digest:
            self._packages.dropped(current.code_digest)
        return json_response(function.to_api(), etag=function.etag)

    async def delete(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        name = request.params["function"]
        function = await self._store.get_function(service, name)
        await self._store.delete_function(service, name, if_match(request))
        self._catalog.invalidate(service, name)
        self._pool.forget(function.id)
        self._packages.dropped(function.code_digest)
        return no_content()

    async def code(self, request: Request, _send: Send) -> Response:
        service = require_latest(request.params["service"])
        function = await self._store.get_function(service, request.params["function"])
        return json_response({
            "checksum": function.code_checksum,
            "url": self._links.url_for(request, function.code_digest),
        })
