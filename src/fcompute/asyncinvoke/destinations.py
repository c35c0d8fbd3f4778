"""Destinations: where the record of a finished async invocation goes.

Two kinds are supported:

- another function, ``acs:fc:{region}:{account}:services/{service}[.{qualifier}]/functions/{name}``,
  invoked asynchronously with the record as its event;
- an HTTP(S) webhook, ``http://...`` or ``https://...``, POSTed the record as JSON.

A delivery is a job of the async queue like an invocation: it is created in the same
transaction that settles the invocation, retried with backoff when it fails, and shown
with its attempts in the invocation's record, so no delivery is ever dropped silently.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from fcompute import errors
from fcompute.asyncinvoke.queue import AsyncQueue, Job, Submission, now_ms
from fcompute.asyncinvoke.records import JsonDict, payload_fields
from fcompute.invoke.catalog import FunctionCatalog, FunctionRef
from fcompute.model import LATEST

_FUNCTION_ARN = re.compile(
    r"^acs:fc:(?P<region>[^:]*):(?P<account>[^:]*):services/(?P<service>[^/.]+)"
    r"(?:\.(?P<qualifier>[^/]+))?/functions/(?P<function>[^/]+)$"
)
WEBHOOK_TIMEOUT_S = 10.0
# Receivers can drop repeated deliveries by this id: delivery is at-least-once.
DELIVERY_ID_HEADER = "x-fc-delivery-id"


@dataclass(frozen=True)
class FunctionTarget:
    service: str
    qualifier: str
    function: str


@dataclass(frozen=True)
class WebhookTarget:
    url: str


Target = FunctionTarget | WebhookTarget


class DestinationParser:
    def __init__(self, region: str, account_id: str) -> None:
        self._region = region
        self._account = account_id

    def function_arn(self, service: str, qualifier: str, function: str) -> str:
        return f"acs:fc:{self._region}:{self._account}:services/{service}.{qualifier}" \
               f"/functions/{function}"

    def parse(self, destination: str) -> Target:
        if destination.startswith(("http://", "https://")):
            try:
                url = httpx.URL(destination)
            except httpx.InvalidURL as exc:
                raise errors.InvalidArgument(f"destination {destination!r}: {exc}") from None
            if not url.host:
                raise errors.InvalidArgument(f"destination {destination!r} names no host")
            return WebhookTarget(destination)
        found = _FUNCTION_ARN.match(destination)
        if found is None:
            raise errors.InvalidArgument(
                f"destination {destination!r} is not supported: use a function "
                f"(acs:fc:{self._region}:{self._account}:services/SERVICE/functions/FUNCTION) "
                "or an http(s):// webhook URL"
            )
        if (found["region"], found["account"]) != (self._region, self._account):
            raise errors.InvalidArgument(
                f"destination {destination!r} is in region {found['region']!r}, account "
                f"{found['account']!r}; this platform is region {self._region!r}, account "
                f"{self._account!r}"
            )
        return FunctionTarget(found["service"], found["qualifier"] or LATEST,
                              found["function"])


def failure_condition(error_type: str, expired: bool, permanent: bool) -> str:
    if expired:
        return "EventAgeExceeded"
    if permanent:
        return "Unretryable"
    return "RetriesExhausted"


def destination_record(
    *, job: Job, function_arn: str, condition: str, result: bytes | None,
    error: JsonDict | None,
) -> bytes:
    """The event a destination receives: the request, its outcome and how many attempts."""
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record: JsonDict = {
        "version": "1.0",
        "timestamp": timestamp,
        "requestContext": {
            "requestId": job.request_id,
            "invocationId": job.invocation_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": job.attempt,
        },
        "responseContext": {
            "statusCode": 200,
            "functionError": (error or {}).get("errorType", ""),
        },
    }
    record.update(payload_fields("requestPayload", job.payload))
    if error is not None:
        record["responsePayload"] = error
    else:
        record.update(payload_fields("responsePayload", result))
    return json.dumps(record).encode()


class Deliverer:
    """Carries out one delivery attempt; returns the error, or None when it was delivered."""

    def __init__(self, parser: DestinationParser, queue: AsyncQueue,
                 catalog: FunctionCatalog) -> None:
        self._parser = parser
        self._queue = queue
        self._catalog = catalog
        self._http: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def deliver(self, job: Job) -> JsonDict | None:
        assert job.destination is not None, "only delivery jobs are delivered"
        try:
            target = self._parser.parse(job.destination)
        except errors.ApiError as exc:
            # The config was valid when stored; the platform's region or account changed.
            return {"errorType": "Destination.Invalid", "errorMessage": exc.message}
        if isinstance(target, WebhookTarget):
            return await self._post(target, job)
        # Same id for every attempt of this delivery: a retry after a crash between the
        # enqueue and the settle finds the first one and does not run the function twice.
        invocation_id = str(uuid.uuid5(uuid.NAMESPACE_URL,
                                       f"fcompute:{job.service}/{job.function}/"
                                       f"{job.invocation_id}"))
        try:
            await self._enqueue(target, invocation_id, job)
        except errors.AlreadyExists:
            return None
        except errors.ApiError as exc:
            return {"errorType": f"Destination.{exc.code}", "errorMessage": exc.message}
        return None

    async def _enqueue(self, target: FunctionTarget, invocation_id: str, job: Job) -> None:
        # A 404 if the function, its version or its alias is gone; the event itself runs
        # on what the qualifier resolves to when it runs.
        resolved = await self._catalog.resolve(
            FunctionRef(target.service, target.qualifier, target.function))
        await self._queue.enqueue(Submission(
            invocation_id=invocation_id, request_id=job.request_id, service=target.service,
            function=target.function, qualifier=target.qualifier, payload=job.payload,
            created_ms=now_ms(), service_id=resolved.service.id,
            function_id=resolved.function.id,
        ))

    async def _post(self, target: WebhookTarget, job: Job) -> JsonDict | None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False)
        try:
            response = await self._http.post(
                target.url, content=job.payload,
                headers={"content-type": "application/json",
                         DELIVERY_ID_HEADER: job.invocation_id},
            )
        except httpx.HTTPError as exc:
            return {"errorType": "Destination.Unreachable",
                    "errorMessage": f"POST {target.url}: {type(exc).__name__}: {exc}"}
        if 200 <= response.status_code < 300:
            return None
        return {"errorType": "Destination.HttpError",
                "errorMessage": f"POST {target.url} answered {response.status_code}: "
                                f"{response.text[:200]}"}
