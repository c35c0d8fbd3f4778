"""async-invoke-config: PUT/GET/DELETE .../services/{s}[.{q}]/functions/{f}/async-invoke-config.

Also ``GET .../services/{s}/functions/{f}/async-invoke-configs`` (every qualifier).
"""

from __future__ import annotations

from fcompute import limits
from fcompute.api import render_async
from fcompute.api.common import API_PREFIX, split_qualifier, unqualified
from fcompute.api.http import Request, Response, Send, json_response, no_content
from fcompute.api.routing import Router
from fcompute.asyncinvoke.config import parse_config
from fcompute.asyncinvoke.destinations import DestinationParser
from fcompute.control.async_configs import AsyncConfigsControl
from fcompute.errors import function_not_found, service_not_found

FUNCTION = f"{API_PREFIX}/services/{{service}}/functions/{{function}}"


class AsyncConfigApi:
    def __init__(self, configs: AsyncConfigsControl, parser: DestinationParser) -> None:
        self._configs = configs
        self._parser = parser

    def register(self, router: Router) -> None:
        path = f"{FUNCTION}/async-invoke-config"
        router.add("PUT", path, self.put)
        router.add("GET", path, self.get)
        router.add("DELETE", path, self.delete)
        router.add("GET", f"{FUNCTION}/async-invoke-configs", self.list)

    @staticmethod
    def _names(service: str, function: str) -> tuple[str, str]:
        # PostgreSQL refuses NUL in text; no name holds one, so there is nothing to look up.
        if "\x00" in service:
            raise service_not_found(service)
        if "\x00" in function:
            raise function_not_found(service, function)
        return service, function

    def _target(self, request: Request) -> tuple[str, str, str]:
        name, qualifier = split_qualifier(request.params["service"])
        return (*self._names(name, request.params["function"]), qualifier)

    async def put(self, request: Request, _send: Send) -> Response:
        service, function, qualifier = self._target(request)
        config = parse_config(await request.json(limits.MAX_ENV_BYTES * 4), self._parser)
        stored = await self._configs.put(service, function, qualifier, config)
        return json_response(render_async.async_config(stored, service, function, qualifier))

    async def get(self, request: Request, _send: Send) -> Response:
        service, function, qualifier = self._target(request)
        config = await self._configs.get(service, function, qualifier)
        return json_response(render_async.async_config(config, service, function, qualifier))

    async def delete(self, request: Request, _send: Send) -> Response:
        service, function, qualifier = self._target(request)
        await self._configs.delete(service, function, qualifier)
        return no_content()

    async def list(self, request: Request, _send: Send) -> Response:
        service, function = self._names(unqualified(request.params["service"]),
                                        request.params["function"])
        configs = await self._configs.list(service, function)
        return json_response({
            "configs": [render_async.async_config(c, service, function, q) for q, c in configs],
            "nextToken": None,
        })
