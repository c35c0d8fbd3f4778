"""Service operations: /services and /services/{service}."""

from __future__ import annotations

from fcompute import validation
from fcompute.api.common import API_PREFIX, if_match, page_args, require_latest, unqualified
from fcompute.api.http import Request, Response, Send, json_response, no_content
from fcompute.api.routing import Router
from fcompute.invoke.catalog import FunctionCatalog
from fcompute.store.base import Store

BODY_LIMIT = 1024 * 1024


class ServicesApi:
    def __init__(self, store: Store, catalog: FunctionCatalog) -> None:
        self._store = store
        self._catalog = catalog

    def register(self, router: Router) -> None:
        router.add("POST", f"{API_PREFIX}/services", self.create)
        router.add("GET", f"{API_PREFIX}/services", self.list)
        router.add("GET", f"{API_PREFIX}/services/{{service}}", self.get)
        router.add("PUT", f"{API_PREFIX}/services/{{service}}", self.update)
        router.add("DELETE", f"{API_PREFIX}/services/{{service}}", self.delete)

    async def create(self, request: Request, _send: Send) -> Response:
        body = validation.require_object(await request.json(BODY_LIMIT))
        service = await self._store.create_service(validation.parse_service(body, creating=True))
        return json_response(service.to_api(), etag=service.etag)

    async def list(self, request: Request, _send: Send) -> Response:
        prefix, start, limit = page_args(request)
        page = await self._store.list_services(prefix=prefix, start_key=start, limit=limit)
        data: dict[str, object] = {"services": [s.to_api() for s in page.items]}
        if page.next_token:
            data["nextToken"] = page.next_token
        return json_response(data)

    async def get(self, request: Request, _send: Send) -> Response:
        service = await self._store.get_service(require_latest(request.params["service"]))
        return json_response(service.to_api(), etag=service.etag)

    async def update(self, request: Request, _send: Send) -> Response:
        name = unqualified(request.params["service"])
        body = validation.require_object(await request.json(BODY_LIMIT))
        fields = validation.parse_service(body, creating=False)
        service = await self._store.update_service(name, fields, if_match(request))
        self._catalog.invalidate_service(name)
        return json_response(service.to_api(), etag=service.etag)

    async def delete(self, request: Request, _send: Send) -> Response:
        name = unqualified(request.params["service"])
        await self._store.delete_service(name, if_match(request))
        self._catalog.invalidate_service(name)
        return no_content()
