"""Typed views of the API's JSON resources and invocation results.

Each resource keeps the complete JSON it was built from in ``raw``, so fields
this module does not name (``vpcConfig``, ``caPort``, ...) stay reachable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
JsonDict = dict[str, Any]


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

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")
