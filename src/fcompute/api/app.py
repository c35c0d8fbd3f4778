"""The ASGI application: routing, signatures, request ids and the FC error format."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fcompute.api import auth
from fcompute.api.code import CODE_PATH
from fcompute.api.http import Receive, Request, Response, Scope, Send, Sent, error_body
from fcompute.api.notifications import PATH as NOTIFICATIONS_PATH
from fcompute.api.openapi import OPENAPI_PATH
from fcompute.api.proxy import PREFIX as PROXY_PREFIX
from fcompute.api.routing import Router
from fcompute.errors import ApiError
from fcompute.invoke.invoker import new_request_id

log = logging.getLogger(__name__)


class FcApp:
    """Answers every error with ``{"ErrorCode", "ErrorMessage"}`` and an ``x-fc-request-id``."""

    def __init__(
        self,
        router: Router,
        access_keys: dict[str, str],
        on_startup: Callable[[], Awaitable[None]],
        on_shutdown: Callable[[], Awaitable[None]],
        storage: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
        storage_port: int = 0,
    ) -> None:
        self._router = router
        # The object store shares the process and the server: its requests arrive on its
        # own port, or on its Unix socket.
        self._storage = storage
        self._storage_port = storage_port
        self._keys = access_keys
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            if self._storage is not None and server and server[1] == self._storage_port:
                await self._storage(scope, receive, send)
            elif self._storage is not None and server and server[1] is None:
                # A Unix socket (uvicorn names its path, with no port): only the store
                # listens on one, for functions without internet access. They addressed it
                # as 127.0.0.1:<storage port> inside their instance, and the front doors
                # see it so.
                scope["server"] = ("127.0.0.1", self._storage_port)
                scope["client"] = ("127.0.0.1", 0)
                await self._storage(scope, receive, send)
            else:
                await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._on_startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _needs_signature(self, path: str) -> bool:
        # HTTP triggers follow their own authType; code links carry their own signature;
        # bucket notifications check their token (or this signature) themselves.
        return bool(self._keys) and not (
            path.startswith(PROXY_PREFIX) or path.startswith(CODE_PATH)
            or path in (OPENAPI_PATH, NOTIFICATIONS_PATH)
        )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        request = Request(scope, receive, request_id)
        try:
            handler, request.params = self._router.match(scope["method"], scope["path"])
            if self._needs_signature(request.path):
                auth.verify(self._keys, request.method, request.raw_path, request.query_string,
                            request.headers)
            response = await handler(request, send)
        except ApiError as exc:
            response = Response(status=exc.status, body=error_body(exc.code, exc.message))
        except Exception:
            log.exception("request %s %s failed", scope["method"], scope["path"])
            response = Response(
                status=500,
                body=error_body("InternalError", f"internal error; request id {request_id}"),
            )
        if not isinstance(response, Sent):
            await response.send(send, request_id)
