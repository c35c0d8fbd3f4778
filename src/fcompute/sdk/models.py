"""Typed views of the API's JSON resources and invocation results.

Each resource keeps the complete JSON it was built from in ``raw``, so fields
this module does not name (``vpcConfig``, ``caPort``, ...) stay reachable.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
JsonDict = dict[str, Any]
# Which version of the service ran an invocation or answered an HTTP-trigger request.
SERVICE_VERSION_HEADER = "x-fc-invocation-service-version"


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class Service:
    name: str
    id: str
    description: str
    role: str
    internet_access: bool
    created_time: str
    last_modified_time: str
    etag: str = ""
    raw: JsonDict = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: JsonDict, etag: str = "") -> Service:
        return cls(
            name=_str(data, "serviceName"),
            id=_str(data, "serviceId"),
            description=_str(data, "description"),
            role=_str(data, "role"),
            internet_access=bool(data.get("internetAccess", True)),
            created_time=_str(data, "createdTime"),
            last_modified_time=_str(data, "lastModifiedTime"),
            etag=etag,
            raw=data,
        )


@dataclass(frozen=True)
class Function:
    name: str
    id: str
    description: str
    runtime: str
    handler: str
    memory_size: int
    timeout: int
    initializer: str
    initialization_timeout: int
    environment: dict[str, str]
    instance_concurrency: int
    code_checksum: str
    code_size: int
    created_time: str
    last_modified_time: str
    etag: str = ""
    raw: JsonDict = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: JsonDict, etag: str = "") -> Function:
        env = data.get("environmentVariables") or {}
        return cls(
            name=_str(data, "functionName"),
            id=_str(data, "functionId"),
            description=_str(data, "description"),
            runtime=_str(data, "runtime"),
            handler=_str(data, "handler"),
            memory_size=_int(data, "memorySize"),
            timeout=_int(data, "timeout"),
            initializer=_str(data, "initializer"),
            initialization_timeout=_int(data, "initializationTimeout"),
            environment={str(k): str(v) for k, v in env.items()},
            instance_concurrency=_int(data, "instanceConcurrency"),
            code_checksum=_str(data, "codeChecksum"),
            code_size=_int(data, "codeSize"),
            created_time=_str(data, "createdTime"),
            last_modified_time=_str(data, "lastModifiedTime"),
            etag=etag,
            raw=data,
        )


@dataclass(frozen=True)
class Trigger:
    name: str
    id: str
    type: str
    config: JsonDict
    source_arn: str | None
    invocation_role: str
    qualifier: str | None
    description: str
    created_time: str
    last_modified_time: str
    etag: str = ""
    raw: JsonDict = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: JsonDict, etag: str = "") -> Trigger:
        return cls(
            name=_str(data, "triggerName"),
            id=_str(data, "triggerId"),
            type=_str(data, "triggerType"),
            config=dict(data.get("triggerConfig") or {}),
            source_arn=data.get("sourceArn"),
            invocation_role=_str(data, "invocationRole"),
            qualifier=data.get("qualifier"),
            description=_str(data, "description"),
            created_time=_str(data, "createdTime"),
            last_modified_time=_str(data, "lastModifiedTime"),
            etag=etag,
            raw=data,
        )


@dataclass(frozen=True)
class Version:
    """A published version: a snapshot of the service and of every function's config and code.

    Version ids are decimal strings ("1", "2", ...) that are never reused.
    """

    version_id: str
    description: str
    created_time: str
    last_modified_time: str
    raw: JsonDict = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: JsonDict) -> Version:
        return cls(
            version_id=_str(data, "versionId"),
            description=_str(data, "description"),
            created_time=_str(data, "createdTime"),
            last_modified_time=_str(data, "lastModifiedTime"),
            raw=data,
        )


def _weights(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


@dataclass(frozen=True)
class Alias:
    """A name for a version; ``additional_version_weight`` sends that share of the requests
    (0..1 per version) to other versions, the rest to ``version_id``."""

    name: str
    version_id: str
    description: str
    additional_version_weight: dict[str, float]
    created_time: str
    last_modified_time: str
    etag: str = ""
    raw: JsonDict = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: JsonDict, etag: str = "") -> Alias:
        return cls(
            name=_str(data, "aliasName"),
            version_id=_str(data, "versionId"),
            description=_str(data, "description"),
            additional_version_weight=_weights(data.get("additionalVersionWeight")),
            created_time=_str(data, "createdTime"),
            last_modified_time=_str(data, "lastModifiedTime"),
            etag=etag,
            raw=data,
        )


@dataclass(frozen=True)
class FunctionCode:
    """Where to download a function's code package, and its CRC64 checksum."""

    checksum: str
    url: str


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_token`` back to get the next one."""

    items: list[T]
    next_token: str | None


@dataclass(frozen=True)
class FunctionError:
    """Why a function failed: its exception type, message and stack (user frames only)."""

    type: str
    message: str
    stack_trace: list[str] = field(default_factory=list)

    @classmethod
    def from_body(cls, body: bytes, error_header: str) -> FunctionError:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            # Not the documented shape: keep whatever text came back so nothing is lost.
            return cls(error_header, body.decode("utf-8", "replace"))
        stack = data.get("stackTrace") or []
        return cls(
            type=_str(data, "errorType") or error_header,
            message=_str(data, "errorMessage"),
            stack_trace=[str(line) for line in stack] if isinstance(stack, list) else [str(stack)],
        )


@dataclass(frozen=True)
class InvocationResult:
    """A synchronous invocation: the handler's return value or its error, plus metadata."""

    request_id: str
    body: bytes
    headers: dict[str, str]
    log_tail: str | None = None
    error: FunctionError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code_checksum(self) -> str:
        return self.headers.get("x-fc-code-checksum", "")

    @property
    def cold_start(self) -> bool:
        return self.headers.get("x-fc-cold-start", "") == "true"

    @property
    def service_version(self) -> str:
        """The version that ran: "LATEST", or a version id (an alias resolves to one)."""
        return self.headers.get(SERVICE_VERSION_HEADER, "")

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class HttpResponse:
    """What a function behind an HTTP trigger answered."""

    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    # Every header as sent, in order: the only faithful view of repeated ones (set-cookie).
    header_list: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @property
    def request_id(self) -> str:
        return self.headers.get("x-fc-request-id", "")

    @property
    def service_version(self) -> str:
        """The version that answered: "LATEST" or a version id."""
        return self.headers.get(SERVICE_VERSION_HEADER, "")

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error(value: Any) -> FunctionError | None:
    """An async record's ``error`` object: a function's exception or a platform error."""
    if not isinstance(value, dict):
        return None
    stack = value.get("stackTrace") or []
    return FunctionError(
        type=_str(value, "errorType"),
        message=_str(value, "errorMessage"),
        stack_trace=[str(line) for line in stack] if isinstance(stack, list) else [str(stack)],
    )


def _payload(data: Mapping[str, Any], key: str) -> bytes | None:
    """A record's payload as bytes: the API sends text, or base64 when it is not UTF-8."""
    value = data.get(key)
    if value is None:
        return None
    text = str(value)
    if data.get(f"{key}Encoding") == "base64":
        return base64.b64decode(text)
    return text.encode("utf-8")


@dataclass(frozen=True)
class AsyncCodeVersion:
    """The code an async invocation ran: qualifier, code checksum and digest, function ETag,
    and the version id when it ran a published version."""

    qualifier: str
    code_checksum: str
    code_digest: str
    function_etag: str
    version_id: str = ""  # the published version that ran; "" for LATEST

    @classmethod
    def from_api(cls, data: Any) -> AsyncCodeVersion | None:
        if not isinstance(data, dict):
            return None
        return cls(_str(data, "qualifier"), _str(data, "codeChecksum"),
                   _str(data, "codeDigest"), _str(data, "functionEtag"),
                   _str(data, "versionId"))


@dataclass(frozen=True)
class AsyncAttempt:
    """One run of an async invocation (or one try of a destination delivery).

    Times are milliseconds since the epoch; ``end_time`` is None while it runs.
    """

    attempt: int
    request_id: str
    status: str
    started_time: int | None
    end_time: int | None
    error: FunctionError | None
    version: AsyncCodeVersion | None

    @classmethod
    def from_api(cls, data: JsonDict) -> AsyncAttempt:
        return cls(
            attempt=_int(data, "attempt"),
            request_id=_str(data, "requestId"),
            status=_str(data, "status"),
            started_time=_opt_int(data, "startedTime"),
            end_time=_opt_int(data, "endTime"),
            error=_error(data.get("error")),
            version=AsyncCodeVersion.from_api(data.get("version")),
        )


@dataclass(frozen=True)
class AsyncDelivery:
    """Where the outcome of an async invocation went: one destination and its attempts."""

    delivery_id: str
    condition: str
    destination: str
    status: str
    created_time: int | None
    end_time: int | None
    attempts: list[AsyncAttempt]
    last_error: FunctionError | None

    @classmethod
    def from_api(cls, data: JsonDict) -> AsyncDelivery:
        return cls(
            delivery_id=_str(data, "deliveryId"),
            condition=_str(data, "condition"),
            destination=_str(data, "destination"),
            status=_str(data, "status"),
            created_time=_opt_int(data, "createdTime"),
            end_time=_opt_int(data, "endTime"),
            attempts=[AsyncAttempt.from_api(a) for a in data.get("attempts") or []],
            last_error=_error(data.get("lastError")),
        )


@dataclass(frozen=True)
class AsyncInvocation:
    """The record of one async invocation (docs/async.md, "Records").

    ``status`` is one of Enqueued, Running, Retrying, Succeeded, Failed, Expired, Stopped.
    ``started_time`` is when the platform accepted it (FC's name), in ms since the epoch.
    The payloads are None when the answer left them out (listings, unless asked for).
    """

    invocation_id: str
    request_id: str
    service_name: str
    function_name: str
    qualifier: str
    version_id: str  # the version the first attempt ran; "" for LATEST
    status: str
    started_time: int | None
    end_time: int | None
    already_retried_times: int
    function_errors: int
    system_errors: int
    error: FunctionError | None
    version: AsyncCodeVersion | None
    replay_of: str | None
    replayed_by: list[str]
    attempts: list[AsyncAttempt]
    destination_status: str
    destinations: list[AsyncDelivery]
    invocation_payload: bytes | None
    return_payload: bytes | None
    raw: JsonDict = field(default_factory=dict, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in ("Succeeded", "Failed", "Expired", "Stopped")

    @classmethod
    def from_api(cls, data: JsonDict) -> AsyncInvocation:
        replay_of = data.get("replayOf")
        return cls(
            invocation_id=_str(data, "invocationId"),
            request_id=_str(data, "requestId"),
            service_name=_str(data, "serviceName"),
            function_name=_str(data, "functionName"),
            qualifier=_str(data, "qualifier"),
            version_id=_str(data, "versionId"),
            status=_str(data, "status"),
            started_time=_opt_int(data, "startedTime"),
            end_time=_opt_int(data, "endTime"),
            already_retried_times=_int(data, "alreadyRetriedTimes"),
            function_errors=_int(data, "functionErrors"),
            system_errors=_int(data, "systemErrors"),
            error=_error(data.get("error")),
            version=AsyncCodeVersion.from_api(data.get("version")),
            replay_of=str(replay_of) if replay_of else None,
            replayed_by=[str(i) for i in data.get("replayedBy") or []],
            attempts=[AsyncAttempt.from_api(a) for a in data.get("attempts") or []],
            destination_status=_str(data, "destinationStatus"),
            destinations=[AsyncDelivery.from_api(d) for d in data.get("destinations") or []],
            invocation_payload=_payload(data, "invocationPayload"),
            return_payload=_payload(data, "returnPayload"),
            raw=data,
        )


def _destination(config: Mapping[str, Any], condition: str) -> str | None:
    target = config.get(condition)
    if isinstance(target, dict) and target.get("destination"):
        return str(target["destination"])
    return None


@dataclass(frozen=True)
class AsyncInvokeConfig:
    """How a function's async invocations are retried and where their outcomes go."""

    service: str
    function: str
    qualifier: str
    max_async_retry_attempts: int
    max_async_event_age_in_seconds: int
    on_success: str | None
    on_failure: str | None
    stateful_invocation: bool
    created_time: str
    last_modified_time: str
    raw: JsonDict = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: JsonDict) -> AsyncInvokeConfig:
        destinations = data.get("destinationConfig")
        if not isinstance(destinations, dict):
            destinations = {}
        return cls(
            service=_str(data, "service"),
            function=_str(data, "function"),
            qualifier=_str(data, "qualifier"),
            max_async_retry_attempts=_int(data, "maxAsyncRetryAttempts"),
            max_async_event_age_in_seconds=_int(data, "maxAsyncEventAgeInSeconds"),
            on_success=_destination(destinations, "onSuccess"),
            on_failure=_destination(destinations, "onFailure"),
            stateful_invocation=bool(data.get("statefulInvocation", True)),
            created_time=_str(data, "createdTime"),
            last_modified_time=_str(data, "lastModifiedTime"),
            raw=data,
        )
