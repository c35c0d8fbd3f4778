"""HTTP triggers: any method on /proxy/{service}/{function}/{path...} runs a WSGI handler."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fcompute import limits
from fcompute.api import auth
from fcompute.api.common import API_PREFIX, split_qualifier
from fcompute.api.http import Request, Response, Send, Sent
from fcompute.api.routing import Router
from fcompute.errors import MethodNotAllowed, NotFound
from fcompute.invoke.catalog import FunctionCatalog, FunctionRef
from fcompute.invoke.invoker import Invoker
from fcompute.invoke.result import Timings
from fcompute.model import LATEST
from fcompute.pool import replies
from fcompute.pool.connection import Frame
from fcompute.pool.instance import InstanceFailure
from fcompute.runtime import errors as runtime_errors
from fcompute.runtime.protocol import Kind

log = logging.getLogger(__name__)

PREFIX = f"{API_PREFIX}/proxy/"
# Connection-level headers belong to the platform's own connection with the client. A
# Content-Length from the function passes through (the server checks the body against it).
HOP_BY_HOP = frozenset({"transfer-encoding", "connection", "keep-alive"})


class ProxyApi:
    def __init__(
        self, catalog: FunctionCatalog, invoker: Invoker, access_keys: dict[str, str]
    ) -> None:
        self._catalog = catalog
        self._invoker = invoker
        self._keys = access_keys

    def _verify(self, request: Request) -> None:
        if self._keys:
            auth.verify(self._keys, request.method, request.raw_path, request.query_string,
                        request.headers)

    def register(self, router: Router) -> None:
        router.add("*", f"{PREFIX}{{service}}/{{function}}", self.handle)
        router.add("*", f"{PREFIX}{{service}}/{{function}}/{{path*}}", self.handle)

    async def handle(self, request: Request, send: Send) -> Response:
        service, qualifier = split_qualifier(request.params["service"])
        explicit = "." in request.params["service"]
        function = request.params["function"]
        try:
            trigger = await self._catalog.http_trigger(service, function)
            if trigger is None:
                raise NotFound(f"function '{service}/{function}' has no HTTP trigger",
                               code="TriggerNotFound")
            # A path without a qualifier runs what the trigger names (LATEST by default).
            if not explicit:
                qualifier = trigger.qualifier or LATEST
            resolved = await self._catalog.resolve(FunctionRef(service, qualifier, function))
        except NotFound:
            # Only anonymous triggers answer unsigned callers: what does not exist is
            # not told apart from what needs a signature.
            self._verify(request)
            raise
        if trigger.config.get("authType") != "anonymous":
            self._verify(request)
        methods = [m.upper() for m in trigger.config.get("methods", [])]
        if request.method not in methods:
            raise MethodNotAllowed(
                f"the HTTP trigger of '{service}/{function}' accepts {', '.join(methods)}"
            )
        body = await request.body(limits.MAX_SYNC_PAYLOAD_BYTES)
        meta = self._request_meta(request)
        timings = Timings()
        # aclosing: leaving the loop early must release the instance now, not at GC time.
        async with contextlib.aclosing(
            self._invoker.http(resolved, meta, body, timings)
        ) as frames:
            return await _forward(frames, send, request.request_id, timings, resolved.version)

    @staticmethod
    def _request_meta(request: Request) -> dict[str, Any]:
        scope = request.scope
        path = "/" + request.params.get("path", "")
        client = scope.get("client") or ("", 0)
        server = scope.get("server") or ("", 0)
        raw_path = scope.get("raw_path") or request.path.encode()
        query = request.query_string
        return {
            "requestId": request.request_id,
            "method": request.method,
            "path": path,
            "query": query,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "clientIp": client[0],
            "host": server[0],
            "port": server[1],
            "scheme": scope.get("scheme", "http"),
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
            "requestUri": raw_path.decode("latin-1") + (f"?{query}" if query else ""),
        }


def response_head(meta: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The function's status and headers, refusing what would corrupt the HTTP framing.

    The agent validates headers too, but user code shares the instance with it and could
    send any frame: this check is the one that protects the platform's own responses.
    """
    status = meta.get("status", 200)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"invalid response status {status!r}")
    headers: list[tuple[bytes, bytes]] = []
    pairs = meta.get("headers", [])
    if not isinstance(pairs, list):
        raise ValueError("response headers must be a list of [name, value] pairs")
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError("malformed response header")
        name, value = (str(pair[0]).lower(), str(pair[1]))
        if name in HOP_BY_HOP:
            continue
        try:
            raw_name, raw_value = name.encode("latin-1"), value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"response header {name!r} is not latin-1") from None
        if not raw_name or any(c in raw_name for c in b" :\r\n\0") or any(
            c in raw_value for c in b"\r\n\0"
        ):
            raise ValueError(f"response header {name!r} contains forbidden characters")
        headers.append((raw_name, raw_value))
    return status, headers


def function_error(status: int, error: dict[str, Any]) -> Response:
    return Response(
        status=status, body=json.dumps(error).encode(),
        headers=[("x-fc-error-type", "UnhandledInvocationError")],
    )


async def _forward(
    frames: AsyncIterator[Frame], send: Send, request_id: str, timings: Timings, version: str
) -> Response:
    """Relays the instance's response frames to the client as they arrive.

    The whole response must be out by the function's timeout: a client that stops reading
    holds the instance (it blocks writing once the platform stops reading from it), so at
    the deadline the response is cut off and the instance stopped. A response whose status
    already went out and that cannot be completed (the instance failed, timed out or
    reported an error mid-stream) ends with the connection closed before the body's end,
    so that the client sees it broken rather than a clean, truncated 200.
    """
    started = False
    try:
        async with asyncio.timeout(None) as budget:
            async for kind, frame_meta, payload in frames:
                if budget.when() is None and timings.deadline is not None:
                    budget.reschedule(timings.deadline)
                if kind is Kind.HTTP_START:
                    try:
                        status, headers = response_head(frame_meta)
                    except ValueError as exc:
                        return function_error(502, {
                            "errorType": runtime_errors.WSGI_ERROR, "errorMessage": str(exc),
                            "stackTrace": [],
                        })
                    headers.append((b"x-fc-request-id", request_id.encode()))
                    headers.append((b"x-fc-invocation-service-version", version.encode()))
                    await send({"type": "http.response.start", "status": status,
                                "headers": headers})
                    started = True
                elif kind is Kind.HTTP_BODY:
                    await send({"type": "http.response.body", "body": payload,
                                "more_body": True})
                elif kind is Kind.HTTP_END:
                    await send({"type": "http.response.body", "body": b""})
                elif not started:  # Kind.ERROR before the head
                    return function_error(502, replies.error_of(frame_meta))
                else:
                    return _cut_off(request_id, "the function failed mid-response")
    except InstanceFailure as failure:
        if started:
            return _cut_off(request_id, failure.error["errorMessage"])
        timed_out = failure.error["errorType"] == runtime_errors.TIMEOUT
        return function_error(504 if timed_out else 502, failure.error)
    except TimeoutError:
        # The client did not take the response in time.
        if started:
            return _cut_off(request_id, "the client did not read the response within the "
                                        "function's timeout")
        return function_error(504, {
            "errorType": runtime_errors.TIMEOUT, "stackTrace": [],
            "errorMessage": "the response was not delivered within the function's timeout",
        })
    return Sent()


def _cut_off(request_id: str, reason: str) -> Response:
    """Ends a started response without its end: the server closes the connection."""
    log.info("HTTP trigger response %s cut off: %s", request_id, reason)
    return Sent()
