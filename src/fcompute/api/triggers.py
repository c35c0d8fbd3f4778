"""Trigger operations: /services/{service}/functions/{function}/triggers[/{trigger}]."""

from __future__ import annotations

from fcompute import validation
from fcompute.api import render
from fcompute.api.common import API_PREFIX, if_match, page_args, unqualified
from fcompute.api.http import Request, Response, Send, json_response, no_content
from fcompute.api.routing import Router
from fcompute.control.triggers import TriggersControl

BASE = f"{API_PREFIX}/services/{{service}}/functions/{{function}}/triggers"
BODY_LIMIT = 1024 * 1024


class TriggersApi:
    def __init__(self, triggers: TriggersControl) -> None:
        self._triggers = triggers

    def register(self, router: Router) -> None:
        router.add("POST", BASE, self.create)
        router.add("GET", BASE, self.list)
        router.add("GET", f"{BASE}/{{trigger}}", self.get)
        router.add("PUT", f"{BASE}/{{trigger}}", self.update)
        router.add("DELETE", f"{BASE}/{{trigger}}", self.delete)

    async def create(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        body = validation.require_object(await request.json(BODY_LIMIT))
        trigger = await self._triggers.create(service, request.params["function"],
                                              validation.trigger_spec(body))
        return json_response(render.trigger(trigger), etag=trigger.etag)

    async def list(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        prefix, start, limit = page_args(request)
        page = await self._triggers.list(
            service, request.params["function"], prefix=prefix, start_key=start, limit=limit
        )
        data: dict[str, object] = {"triggers": [render.trigger(t) for t in page.items]}
        if page.next_token:
            data["nextToken"] = page.next_token
        return json_response(data)

    async def get(self, request: Request, _send: Send) -> Response:
        trigger = await self._triggers.get(
            unqualified(request.params["service"]), request.params["function"],
            request.params["trigger"],
        )
        return json_response(render.trigger(trigger), etag=trigger.etag)

    async def update(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        function, name = request.params["function"], request.params["trigger"]
        current = await self._triggers.get(service, function, name)
        body = validation.require_object(await request.json(BODY_LIMIT))
        trigger = await self._triggers.update(
            service, function, name, validation.trigger_patch(body, current.type),
            if_match(request),
        )
        return json_response(render.trigger(trigger), etag=trigger.etag)

    async def delete(self, request: Request, _send: Send) -> Response:
        await self._triggers.delete(
            unqualified(request.params["service"]), request.params["function"],
            request.params["trigger"], if_match(request),
        )
        return no_content()
