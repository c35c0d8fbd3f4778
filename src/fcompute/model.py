"""The resources of the FC 2.0 model: service -> function -> trigger, versions and aliases.

Records are immutable; every change produces a new record with a new ETag. They carry no
wire format: each front door renders them its own way (FC JSON in ``api/render.py``).
A resource's settings (``ServiceConfig``, ``FunctionConfig``) are kept apart from its
identity and timestamps, because a version snapshots exactly the settings and the code.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")

JsonDict = dict[str, Any]

LATEST = "LATEST"


def now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def new_etag() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class ServiceConfig:
    description: str = ""
    role: str = ""
    internet_access: bool = True
    log_config: JsonDict | None = None
    vpc_config: JsonDict | None = None
    nas_config: JsonDict | None = None
    tracing_config: JsonDict | None = None


@dataclass(frozen=True)
class Service:
    name: str
    id: str
    config: ServiceConfig
    created: str
    modified: str
    etag: str


@dataclass(frozen=True)
class FunctionConfig:
    runtime: str
    handler: str
    description: str = ""
    memory_size: int = 128
    timeout: int = 3
    initializer: str = ""
    initialization_timeout: int = 3
    environment: dict[str, str] = field(default_factory=dict)
    instance_concurrency: int = 1
    instance_type: str = "e1"
    disk_size: int = 512  # MB of private /tmp per instance
    ca_port: int | None = None
    custom_container_config: JsonDict | None = None


@dataclass(frozen=True)
class CodeRef:
    """A stored code package: ``digest`` (sha256 of the zip) is the code store's address."""

    checksum: str  # FC's CRC-64 of the zip, as clients compare it
    size: int
    digest: str


@dataclass(frozen=True)
class Function:
    service_name: str
    service_id: str
    name: str
    id: str
    config: FunctionConfig
    code: CodeRef
    created: str
    modified: str
    etag: str


@dataclass(frozen=True)
class Trigger:
    service_name: str
    function_name: str
    function_id: str
    name: str
    id: str
    type: str
    config: JsonDict
    source_arn: str | None
    invocation_role: str
    qualifier: str | None
    description: str
    created: str
    modified: str
    etag: str


@dataclass(frozen=True)
class Version:
    """A published, immutable snapshot of a service: its config and every function's."""

    service_name: str
    service_id: str
    id: str  # "1", "2", ...: never reused within the service
    description: str
    created: str
    modified: str


@dataclass(frozen=True)
class Alias:
    service_name: str
    service_id: str
    name: str
    version_id: str
    # Share of requests each additional version takes (0..1, summing to at most 1); the
    # rest go to ``version_id``.
    weights: dict[str, float]
    description: str
    created: str
    modified: str
    etag: str


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None
