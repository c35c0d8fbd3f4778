"""The resources of the FC 2.0 model: service -> function -> trigger.

Records are immutable; every change produces a new record with a new ETag.
``to_api`` renders the camelCase JSON that FC clients read.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")

JsonDict = dict[str, Any]


def now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def new_etag() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Service:
    name: str
    id: str
    description: str
    role: str
    internet_access: bool
    log_config: JsonDict | None
    vpc_config: JsonDict | None
    nas_config: JsonDict | None
    tracing_config: JsonDict | None
    created: str
    modified: str
    etag: str

    def to_api(self) -> JsonDict:
        return {
            "serviceName": self.name,
            "serviceId": self.id,
            "description": self.description,
            "role": self.role,
            "internetAccess": self.internet_access,
            "logConfig": self.log_config or {"project": "", "logstore": ""},
            "vpcConfig": self.vpc_config or {"vpcId": "", "vSwitchIds": [], "securityGroupId": ""},
            "nasConfig": self.nas_config or {"userId": -1, "groupId": -1, "mountPoints": []},
            "tracingConfig": self.tracing_config or {},
            "createdTime": self.created,
            "lastModifiedTime": self.modified,
        }


@dataclass(frozen=True)
class Function:
    service_name: str
    service_id: str
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
    instance_type: str
    disk_size: int  # MB of private /tmp per instance
    ca_port: int | None
    custom_container_config: JsonDict | None
    code_checksum: str
    code_size: int
    code_digest: str  # sha256 of the zip: the code store's address
    created: str
    modified: str
    etag: str

    def to_api(self) -> JsonDict:
        return {
            "functionId": self.id,
            "functionName": self.name,
            "description": self.description,
            "runtime": self.runtime,
            "handler": self.handler,
            "timeout": self.timeout,
            "initializer": self.initializer,
            "initializationTimeout": self.initialization_timeout,
            "memorySize": self.memory_size,
            "environmentVariables": dict(self.environment),
            "instanceConcurrency": self.instance_concurrency,
            "instanceType": self.instance_type,
            "diskSize": self.disk_size,
            "caPort": self.ca_port,
            "customContainerConfig": self.custom_container_config,
            "codeChecksum": self.code_checksum,
            "codeSize": self.code_size,
            "createdTime": self.created,
            "lastModifiedTime": self.modified,
        }


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

    def to_api(self) -> JsonDict:
        return {
            "triggerName": self.name,
            "triggerId": self.id,
            "description": self.description,
            "triggerType": self.type,
            "triggerConfig": self.config,
            "sourceArn": self.source_arn,
            "invocationRole": self.invocation_role,
            "qualifier": self.qualifier,
            "createdTime": self.created,
            "lastModifiedTime": self.modified,
        }


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None
