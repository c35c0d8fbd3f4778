"""Running functions: synchronous and asynchronous invocations, HTTP-trigger requests."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import httpx

from fcompute.sdk.base import ClientBase, function_path
from fcompute.sdk.errors import FcApiError
from fcompute.sdk.models import FunctionError, HttpResponse, InvocationResult
from fcompute.sdk.transport import Params

# Names an async invocation, both ways: the caller's choice, and the platform's answer.
INVOCATION_ID_HEADER = "x-fc-stateful-async-invocation-id"

# bytes and str go out as they are; anything else is sent as its JSON text.
Event = bytes | str | dict[str, Any] | list[Any] | None


def event_bytes(event: Event) -> bytes:
    if event is None:
        return b""
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode("utf-8")
    return json.dumps(event).encode("utf-8")


def lower_headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items()}


def decode_log_tail(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        # The tail is cut at a byte count, so its first character may be a partial one.
        return base64.b64decode(value).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return value


class InvocationMixin(ClientBase):
    def invoke(
        self,
        service: str,
        function: str,
        event: Event = None,
        *,
        qualifier: str | None = None,
        log_tail: bool = False,
        trace_id: str | None = None,
        timeout: float | None = None,
    ) -> InvocationResult:
        """Runs the function and waits for it.

        A failing function is not an exception: the result's ``error`` says what went wrong.
        ``log_tail`` asks for the last 4 KB of the invocation's log in ``result.log_tail``.
        """
        headers = {"x-fc-invocation-type": "Sync",
                   "x-fc-log-type": "Tail" if log_tail else "None"}
        if trace_id:
            headers["x-fc-trace-id"] = trace_id
        response = self._transport.send(
            "POST", f"{function_path(service, function, qualifier)}/invocations",
            body=event_bytes(event), headers=headers, timeout=timeout,
        )
        found = lower_headers(response)
        error_type = found.get("x-fc-error-type")
        return InvocationResult(
            request_id=found.get("x-fc-request-id", ""),
            body=response.content,
            headers=found,
            log_tail=decode_log_tail(found.get("x-fc-log-result")),
            error=FunctionError.from_body(response.content, error_type) if error_type else None,
        )

    def invoke_async(
        self,
        service: str,
        function: str,
        event: Event = None,
        *,
        qualifier: str | None = None,
        trace_id: str | None = None,
        invocation_id: str | None = None,
    ) -> str:
        """Queues an invocation and returns its invocation id without waiting for it to run.

        ``invocation_id`` (1-128 of ``A-Z a-z 0-9 _ -``) names the invocation so that a
        repeated submission is refused (FcApiError 409 ``InvocationAlreadyExists``) instead
        of running twice. Without it the platform names the invocation by its request id.
        """
        headers = {"x-fc-invocation-type": "Async"}
        if trace_id:
            headers["x-fc-trace-id"] = trace_id
        if invocation_id:
            headers[INVOCATION_ID_HEADER] = invocation_id
        response = self._transport.send(
            "POST", f"{function_path(service, function, qualifier)}/invocations",
            body=event_bytes(event), headers=headers,
        )
        request_id = str(response.headers.get("x-fc-request-id", ""))
        if response.status_code != 202:
            raise FcApiError(response.status_code, "InvalidResponse",
                             "expected 202 Accepted for an asynchronous invocation", request_id)
        # An endpoint that keeps no records sends no id: the request id names the invocation.
        return str(response.headers.get(INVOCATION_ID_HEADER) or request_id)

    def http_request(
        self,
        method: str,
        service: str,
        function: str,
        path: str = "/",
        *,
        query: Params = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        qualifier: str | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Calls the function's HTTP trigger; signed when the client has keys.

        Every status comes back as data: the function chooses it, and 4xx/5xx are
        ordinary answers of a web application.
        """
        target = f"{service}.{qualifier}" if qualifier else service
        relative = path if path.startswith("/") else "/" + path
        response = self._transport.send(
            method.upper(), f"/proxy/{target}/{function}{relative}", params=query,
            body=body.encode("utf-8") if isinstance(body, str) else body,
            headers=headers, timeout=timeout, check=False,
            # The caller's body, the caller's content type: no JSON default here.
            json_default=False,
        )
        return HttpResponse(
            status=response.status_code,
            headers=lower_headers(response),
            body=response.content,
            header_list=[(k.lower(), v) for k, v in response.headers.multi_items()],
        )
