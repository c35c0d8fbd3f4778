"""Trigger operations: /services/{service}/functions/{function}/triggers[/{trigger}]."""

from __future__ import annotations

from fcompute import validation
from fcompute.api.common import API_PREFIX, if_match, page_args, unqualified
from fcompute.api.http import Request, Response, Send, json_response, no_content
from fcompute.api.routing import Router
from fcompute.invoke.catalog import FunctionCatalog
from fcompute.store.base import Store

BASE = f"{API_PREFIX}/services/{{service}}/functions/{{function}}/triggers"
BODY_LIMIT = 1024 * 1024


class TriggersApi:
    def __init__(self, store: Store, catalog: FunctionCatalog) -> None:
        self._store = store
        self._catalog = catalog

    def register(self, router: Router) -> None:
        router.add("POST", BASE, self.create)
        router.add("GET", BASE, self.list)
        router.add("GET", f"{BASE}/{{trigger}}", self.get)
        router.add("PUT", f"{BASE}/{{trigger}}", self.update)
        router.add("DELETE", f"{BASE}/{{trigger}}", self.delete)

    async def create(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        body = validation.require_object(await request.json(BODY_LIMIT))
        fields = validation.parse_trigger(body, creating=True)
        trigger = await self._store.create_trigger(service, request.params["function"], fields)
        self._catalog.invalidate(service, request.params["function"])
        return json_response(trigger.to_api(), etag=trigger.etag)

    async def list(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        prefix, start, limit = page_args(request)
        page = await self._store.list_triggers(
            service, request.params["function"], prefix=prefix, start_key=start, limit=limit
        )
        data: dict[str, object] = {"triggers": [t.to_api() for t in page.items]}
        if page.next_token:
            data["nextToken"] = page.next_token
        return json_response(data)

    async def get(self, request: Request, _send: Send) -> Response:
        trigger = await self._store.get_trigger(
            unqualified(request.params["service"]), request.params["function"],
            request.params["trigger"],
        )
        return json_response(trigger.to_api(), etag=trigger.etag)

    async def update(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        function, name = request.params["function"], request.params["trigger"]
        current = await self._store.get_trigger(service, function, name)
        body = validation.require_object(await request.json(BODY_LIMIT))
        fields = validation.parse_trigger(body, creating=False, trigger_type=current.type)
        trigger = await self._store.update_trigger(
            service, function, name, fields, if_match(request)
        )
        self._catalog.invalidate(service, function)
        return json_response(trigger.to_api(), etag=trigger.etag)

    async def delete(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        function = request.params["function"]
        await self._store.delete_trigger(
            service, function, request.params["trigger"], if_match(request)
        )
        self._catalog.invalidate(service, function)
        return no_content()
