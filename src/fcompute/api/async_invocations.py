"""Async invocations over HTTP: accepting them, and the stateful-async-invocation records.

    POST .../functions/{f}/invocations  (x-fc-invocation-type: Async)  202, durable
    GET  .../functions/{f}/stateful-async-invocations                  list
    GET  .../functions/{f}/stateful-async-invocations/{id}             one record
    PUT  .../functions/{f}/stateful-async-invocations/{id}             stop it
    POST .../functions/{f}/stateful-async-invocations/{id}/replay      run it again
"""

from __future__ import annotations

import re

from fcompute import limits, validation
from fcompute.api import render_async
from fcompute.api.common import API_PREFIX, list_limit, split_qualifier
from fcompute.api.http import Request, Response, Send, json_response
from fcompute.api.routing import Router
from fcompute.asyncinvoke.queue import ListQuery
from fcompute.asyncinvoke.records import Status
from fcompute.asyncinvoke.service import AsyncInvocations, ReplayTarget
from fcompute.errors import EntityTooLarge, InvalidArgument
from fcompute.invoke.catalog import Resolved

# FC's limit for an async invocation's event.
ASYNC_PAYLOAD_LIMIT = 128 * 1024
INVOCATION_ID_HEADER = "x-fc-stateful-async-invocation-id"
_INVOCATION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # fullmatch
# Pages are keyed by (acceptance time in ms, queue sequence number): "<ms>.<seq>".
_MAX_SEQUENCE = 2**63 - 1
BASE = f"{API_PREFIX}/services/{{service}}/functions/{{function}}/stateful-async-invocations"


def _millis(request: Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    if not raw:
        return None
    # Bounded: SQLite integers are 64-bit, and 20 digits overflow them.
    return validation.decimal(f"{name} (milliseconds since the epoch)", raw, 0,
                              limits.MAX_EPOCH_MS)


def _next_token(request: Request) -> str:
    """The ``nextToken`` of a listing, checked to be one this API could have handed out
    before it reaches the queue."""
    token = request.query.get("nextToken", "")
    if token:
        created, dot, sequence = token.partition(".")
        if not dot or not (validation.DECIMAL.fullmatch(created)
                           and validation.DECIMAL.fullmatch(sequence)
                           and int(created) <= limits.MAX_EPOCH_MS
                           and int(sequence) <= _MAX_SEQUENCE):
            raise InvalidArgument(
                f"nextToken {validation.shown(token)} is not one this API handed out"
            )
    return token


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query.get(name, "").lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise InvalidArgument(f"{name} must be true or false")
    return raw == "true"


class AsyncInvocationsApi:
    def __init__(self, invocations: AsyncInvocations) -> None:
        self._invocations = invocations

    def register(self, router: Router) -> None:
        router.add("GET", BASE, self.list)
        router.add("GET", f"{BASE}/{{invocation_id}}", self.get)
        router.add("PUT", f"{BASE}/{{invocation_id}}", self.stop)
        router.add("POST", f"{BASE}/{{invocation_id}}/replay", self.replay)

    async def accept(self, request: Request, resolved: Resolved) -> Response:
        """The Async branch of the invoke API: 202 once the event is durably queued."""
        try:
            event = await request.body(ASYNC_PAYLOAD_LIMIT)
        except EntityTooLarge:
            raise InvalidArgument(
                f"an async invocation's payload may be at most {ASYNC_PAYLOAD_LIMIT} bytes "
                f"(128 KB); this one is larger. Invoke synchronously (up to "
                f"{limits.MAX_SYNC_PAYLOAD_BYTES // (1024 * 1024)} MB) or pass a reference "
                "to the data instead",
                code="PayloadTooLarge",
            ) from None
        wanted = request.header(INVOCATION_ID_HEADER)
        if wanted and not _INVOCATION_ID.fullmatch(wanted):
            raise InvalidArgument(
                f"{INVOCATION_ID_HEADER} must be 1 to 128 letters, digits, '_' or '-'"
            )
        invocation_id = await self._invocations.submit(
            target=resolved, payload=event,
            request_id=request.request_id, invocation_id=wanted or None,
        )
        return Response(status=202, body=b"", headers=[(INVOCATION_ID_HEADER, invocation_id)])

    @staticmethod
    def _target(request: Request) -> tuple[str, str]:
        # Records outlive their function (they stay listed under its name until retention
        # removes them), so a listing of a name that has no function is not a 404; a name
        # that no function could ever have is a 400.
        # The records of every qualifier are listed by function (each names its own).
        service = validation.service_name(split_qualifier(request.params["service"])[0])
        return service, validation.function_name(request.params["function"])

    async def list(self, request: Request, _send: Send) -> Response:
        service, function = self._target(request)
        query = request.query
        limit = list_limit(request)
        order = query.get("sortOrderByTime", "desc").lower()
        if order not in ("asc", "desc"):
            raise InvalidArgument("sortOrderByTime must be asc or desc")
        status = query.get("status", "")
        page = await self._invocations.list(ListQuery(
            service=service, function=function,
            status=Status.parse(status) if status else None,
            started_from_ms=_millis(request, "startedTimeBegin"),
            started_to_ms=_millis(request, "startedTimeEnd"),
            id_prefix=query.get("invocationIdPrefix", ""),
            limit=limit, next_token=_next_token(request), newest_first=order == "desc",
        ))
        include_payload = _flag(request, "includePayload", False)
        data: dict[str, object] = {
            "invocations": [render_async.invocation(r, include_payload) for r in page.items],
        }
        if page.next_token:
            data["nextToken"] = page.next_token
        return json_response(data)

    async def get(self, request: Request, _send: Send) -> Response:
        service, function = self._target(request)
        record = await self._invocations.get(service, function, request.params["invocation_id"])
        include_payload = _flag(request, "includePayload", True)
        return json_response(render_async.invocation(record, include_payload))

    async def stop(self, request: Request, _send: Send) -> Response:
        service, function = self._target(request)
        record = await self._invocations.stop(service, function,
                                              request.params["invocation_id"])
        return json_response(render_async.invocation(record, include_payload=False))

    async def replay(self, request: Request, _send: Send) -> Response:
        service, function = self._target(request)
        body = await request.json(64 * 1024)
        raw_target = body.get("target", ReplayTarget.LATEST.value)
        try:
            target = ReplayTarget(raw_target)
        except ValueError:
            raise InvalidArgument(
                f'target must be "original" or "latest", not {validation.shown(raw_target)}'
            ) from None
        record = await self._invocations.replay(
            service, function, request.params["invocation_id"], target, request.request_id
        )
        response = json_response(render_async.invocation(record, include_payload=False), status=202)
        response.headers.append((INVOCATION_ID_HEADER, record.invocation_id))
        return response
