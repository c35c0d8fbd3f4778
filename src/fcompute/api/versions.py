"""Versions and aliases: /services/{service}/versions[/{version}] and
/services/{service}/aliases[/{alias}]."""

from __future__ import annotations

from fcompute import limits, validation
from fcompute.api import render
from fcompute.api.common import API_PREFIX, if_match, list_limit, page_args, unqualified
from fcompute.api.http import Request, Response, Send, json_response, no_content
from fcompute.api.routing import Router
from fcompute.control.aliases import AliasesControl
from fcompute.control.versions import VersionsControl
from fcompute.errors import InvalidArgument

SERVICE = f"{API_PREFIX}/services/{{service}}"
BODY_LIMIT = 64 * 1024


class VersionsApi:
    def __init__(self, versions: VersionsControl, aliases: AliasesControl) -> None:
        self._versions = versions
        self._aliases = aliases

    def register(self, router: Router) -> None:
        router.add("POST", f"{SERVICE}/versions", self.publish)
        router.add("GET", f"{SERVICE}/versions", self.list)
        router.add("DELETE", f"{SERVICE}/versions/{{version}}", self.delete)
        router.add("POST", f"{SERVICE}/aliases", self.create_alias)
        router.add("GET", f"{SERVICE}/aliases", self.list_aliases)
        router.add("GET", f"{SERVICE}/aliases/{{alias}}", self.get_alias)
        router.add("PUT", f"{SERVICE}/aliases/{{alias}}", self.update_alias)
        router.add("DELETE", f"{SERVICE}/aliases/{{alias}}", self.delete_alias)

    # versions ------------------------------------------------------------

    async def publish(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        body = await request.json(BODY_LIMIT)
        description = body.get("description")
        if description is None:
            description = ""
        if not isinstance(description, str) or len(description) > limits.MAX_DESCRIPTION_CHARS:
            raise InvalidArgument(
                f"description must be a string of at most {limits.MAX_DESCRIPTION_CHARS} "
                "characters"
            )
        version = await self._versions.publish(service, description)
        return json_response(render.version(version))

    async def list(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        query = request.query
        direction = (query.get("direction") or "BACKWARD").upper()
        if direction not in ("BACKWARD", "FORWARD"):
            raise InvalidArgument("direction must be BACKWARD (newest first) or FORWARD")
        start = query.get("nextToken") or query.get("startKey") or ""
        page = await self._versions.list(service, start=start, limit=list_limit(request),
                                         newest_first=direction == "BACKWARD")
        data: dict[str, object] = {"versions": [render.version(v) for v in page.items],
                                   "direction": direction}
        if page.next_token:
            data["nextToken"] = page.next_token
        return json_response(data)

    async def delete(self, request: Request, _send: Send) -> Response:
        await self._versions.delete(unqualified(request.params["service"]),
                                    request.params["version"])
        return no_content()

    # aliases -------------------------------------------------------------

    async def create_alias(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        body = validation.require_object(await request.json(BODY_LIMIT))
        alias = await self._aliases.create(service, validation.alias_spec(body))
        return json_response(render.alias(alias), etag=alias.etag)

    async def list_aliases(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        prefix, start, limit = page_args(request)
        page = await self._aliases.list(service, prefix=prefix, start_key=start, limit=limit)
        data: dict[str, object] = {"aliases": [render.alias(a) for a in page.items]}
        if page.next_token:
            data["nextToken"] = page.next_token
        return json_response(data)

    async def get_alias(self, request: Request, _send: Send) -> Response:
        alias = await self._aliases.get(unqualified(request.params["service"]),
                                        request.params["alias"])
        return json_response(render.alias(alias), etag=alias.etag)

    async def update_alias(self, request: Request, _send: Send) -> Response:
        service = unqualified(request.params["service"])
        body = validation.require_object(await request.json(BODY_LIMIT))
        alias = await self._aliases.update(service, request.params["alias"],
                                           validation.alias_patch(body), if_match(request))
        return json_response(render.alias(alias), etag=alias.etag)

    async def delete_alias(self, request: Request, _send: Send) -> Response:
        await self._aliases.delete(unqualified(request.params["service"]),
                                   request.params["alias"], if_match(request))
        return no_content()
