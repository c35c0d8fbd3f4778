"""Service operations: /services and /services/{service}[.{qualifier}]."""

from __future__ import annotations

from fcompute import validation
from fcompute.api import render
from fcompute.api.common import API_PREFIX, if_match, page_args, split_qualifier, unqualified
from fcompute.api.http import Request, Response, Send, json_response, no_content
from fcompute.api.routing import Router
from fcompute.control.services import ServicesControl

BODY_LIMIT = 1024 * 1024


class ServicesApi:
    def __init__(self, services: ServicesControl) -> None:
        self._services = services

    def register(self, router: Router) -> None:
        router.add("POST", f"{API_PREFIX}/services", self.create)
        router.add("GET", f"{API_PREFIX}/services", self.list)
        router.add("GET", f"{API_PREFIX}/services/{{service}}", self.get)
        router.add("PUT", f"{API_PREFIX}/services/{{service}}", self.update)
        router.add("DELETE", f"{API_PREFIX}/services/{{service}}", self.delete)

    async def create(self, request: Request, _send: Send) -> Response:
        body = validation.require_object(await request.json(BODY_LIMIT))
        service = await self._services.create(*validation.service_create(body))
        return json_response(render.service(service), etag=service.etag)

    async def list(self, request: Request, _send: Send) -> Response:
        prefix, start, limit = page_args(request)
        page = await self._services.list(prefix=prefix, start_key=start, limit=limit)
        data: dict[str, object] = {"services": [render.service(s) for s in page.items]}
        if page.next_token:
            data["nextToken"] = page.next_token
        return json_response(data)

    async def get(self, request: Request, _send: Send) -> Response:
        service = await self._services.get(*split_qualifier(request.params["service"]))
        return json_response(render.service(service), etag=service.etag)

    async def update(self, request: Request, _send: Send) -> Response:
        name = unqualified(request.params["service"])
        body = validation.require_object(await request.json(BODY_LIMIT))
        service = await self._services.update(name, validation.service_patch(body),
                                              if_match(request))
        return json_response(render.service(service), etag=service.etag)

    async def delete(self, request: Request, _send: Send) -> Response:
        await self._services.delete(unqualified(request.params["service"]), if_match(request))
        return no_content()
