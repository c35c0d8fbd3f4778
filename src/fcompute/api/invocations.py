"""POST /services/{service}/functions/{function}/invocations: the invoke hot path."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable

from fcompute import limits
from fcompute.api.common import API_PREFIX
from fcompute.api.http import Request, Response, Send
from fcompute.api.routing import Router
from fcompute.invoke.catalog import FunctionCatalog, FunctionRef, Resolved
from fcompute.invoke.invoker import Invoker
from fcompute.invoke.result import InvocationResult

# Takes an async invocation: answers 202 once the event is durably queued.
AcceptAsync = Callable[[Request, Resolved], Awaitable[Response]]


class InvocationsApi:
    def __init__(
        self, catalog: FunctionCatalog, invoker: Invoker, accept_async: AcceptAsync
    ) -> None:
        self._catalog = catalog
        self._invoker = invoker
        self._accept_async = accept_async

    def register(self, router: Router) -> None:
        router.add(
            "POST", f"{API_PREFIX}/services/{{service}}/functions/{{function}}/invocations",
            self.invoke,
        )

    async def invoke(self, request: Request, _send: Send) -> Response:
        params = request.params
        resolved = await self._catalog.resolve(
            FunctionRef.parse(params["service"], params["function"]))
        invocation_type = log_type = ""
        for name, value in request.scope["headers"]:
            if name == b"x-fc-invocation-type":
                invocation_type = value.decode("latin-1")
            elif name == b"x-fc-log-type":
                log_type = value.decode("latin-1")
        if invocation_type.lower() == "async":
            return await self._accept_async(request, resolved)
        event = await request.body(limits.MAX_SYNC_PAYLOAD_BYTES)
        result = await self._invoker.invoke(
            resolved, event, request_id=request.request_id, log_tail=log_type.lower() == "tail"
        )
        return render(result, resolved)


def render(result: InvocationResult, resolved: Resolved) -> Response:
    timings = result.timings
    headers = [
        ("x-fc-code-checksum", resolved.function.code.checksum),
        ("x-fc-invocation-service-version", resolved.version),
        ("x-fc-cold-start", "true" if timings.cold else "false"),
        ("server-timing", timings.server_timing()),
    ]
    if result.log_tail is not None:
        tail = result.log_tail.encode("utf-8", "replace")[-limits.LOG_TAIL_BYTES:]
        headers.append(("x-fc-log-result", base64.b64encode(tail).decode()))
    if result.error is not None:
        headers.append(("x-fc-error-type", "UnhandledInvocationError"))
        return Response(status=200, body=json.dumps(result.error).encode(), headers=headers)
    return Response(status=200, body=result.body, headers=headers,
                    content_type="application/octet-stream")
