"""Function operations: /services/{service}[.{qualifier}]/functions[/{function}[/code]]."""

from __future__ import annotations

import base64
import binascii

from fcompute import limits, validation
from fcompute.api import render
from fcompute.api.code import CodeLinks
from fcompute.api.common import API_PREFIX, if_match, page_args, split_qualifier, unqualified
from fcompute.api.http import Request, Response, Send, json_response, no_content
from fcompute.api.routing import Router
from fcompute.control.functions import FunctionsControl
from fcompute.errors import EntityTooLarge, InvalidArgument

BASE = f"{API_PREFIX}/services/{{service}}/functions"


def decode_zip(encoded: str) -> bytes:
    if len(encoded) > limits.MAX_CODE_ZIP_BYTES * 4 // 3 + 4:
        raise EntityTooLarge("code package is larger than 100 MB")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("code.zipFile is not valid base64") from None


class FunctionsApi:
    def __init__(self, functions: FunctionsControl, links: CodeLinks) -> None:
        self._functions = functions
        self._links = links

    def register(self, router: Router) -> None:
        router.add("POST", BASE, self.create)
        router.add("GET", BASE, self.list)
        router.add("GET", f"{BASE}/{{function}}", self.get)
        router.add("PUT", f"{BASE}/{{function}}", self.update)
        router.add("DELETE", f"{BASE}/{{function}}", self.delete)
        router.add("GET", f"{BASE}/{{function}}/code", self.code)

    async def create(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        body = validation.require_object(await request.json(limits.MAX_MANAGEMENT_BODY_BYTES))
        function = await self._functions.create(
            service, validation.function_create(body, decode_zip))
        return json_response(render.function(function), etag=function.etag)

    async def list(self, request: Request, _send: Send) -> Response:
        service, qualifier = split_qualifier(request.params["service"])
        prefix, start, limit = page_args(request)
        page = await self._functions.list(
            service, qualifier=qualifier, prefix=prefix, start_key=start, limit=limit
        )
        data: dict[str, object] = {"functions": [render.function(f) for f in page.items]}
        if page.next_token:
            data["nextToken"] = page.next_token
        return json_response(data)

    async def get(self, request: Request, _send: Send) -> Response:
        service, qualifier = split_qualifier(request.params["service"])
        function = await self._functions.get(service, request.params["function"], qualifier)
        return json_response(render.function(function), etag=function.etag)

    async def update(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        body = validation.require_object(await request.json(limits.MAX_MANAGEMENT_BODY_BYTES))
        function = await self._functions.update(
            service, request.params["function"], validation.function_update(body, decode_zip),
            if_match(request),
        )
        return json_response(render.function(function), etag=function.etag)

    async def delete(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        await self._functions.delete(service, request.params["function"], if_match(request))
        return no_content()

    async def code(self, request: Request, _send: Send) -> Response:
        service, qualifier = split_qualifier(request.params["service"])
        function = await self._functions.get(service, request.params["function"], qualifier)
        return json_response({
            "checksum": function.code.checksum,
            "url": self._links.url_for(request, function.code.digest),
        })
