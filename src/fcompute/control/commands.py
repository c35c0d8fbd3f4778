"""Typed commands of the control services: what a front door asks to create or change.

A ``*Patch`` names only what changes; ``None`` leaves a field as it is. The one field
that can also be cleared (a trigger's qualifier) uses :data:`KEEP` for "unchanged".
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from fcompute.model import FunctionConfig, JsonDict, ServiceConfig

C = TypeVar("C")

# Produces the bytes of a zip; runs in a worker thread (decoding may be slow) and may
# raise an ApiError (a bad encoding, a package too large).
CodeSource = Callable[[], bytes]


class Keep(enum.Enum):
    KEEP = "keep"


KEEP = Keep.KEEP


def _apply(patch: object, config: C) -> C:
    changes: dict[str, Any] = {
        f.name: getattr(patch, f.name) for f in fields(patch)  # type: ignore[arg-type]
        if getattr(patch, f.name) is not None
    }
    return replace(config, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class ServicePatch:
    description: str | None = None
    role: str | None = None
    internet_access: bool | None = None
    log_config: JsonDict | None = None
    vpc_config: JsonDict | None = None
    nas_config: JsonDict | None = None
    tracing_config: JsonDict | None = None

    def apply(self, config: ServiceConfig) -> ServiceConfig:
        return _apply(self, config)


@dataclass(frozen=True)
class FunctionPatch:
    runtime: str | None = None
    handler: str | None = None
    description: str | None = None
    memory_size: int | None = None
    timeout: int | None = None
    initializer: str | None = None
    initialization_timeout: int | None = None
    environment: dict[str, str] | None = None
    instance_concurrency: int | None = None
    instance_type: str | None = None
    disk_size: int | None = None
    ca_port: int | None = None
    custom_container_config: JsonDict | None = None

    def apply(self, config: FunctionConfig) -> FunctionConfig:
        return _apply(self, config)


@dataclass(frozen=True)
class CreateFunction:
    name: str
    config: FunctionConfig
    code: CodeSource


@dataclass(frozen=True)
class UpdateFunction:
    patch: FunctionPatch
    code: CodeSource | None = None


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    type: str
    config: JsonDict
    source_arn: str | None = None
    invocation_role: str = ""
    qualifier: str | None = None
    description: str = ""


@dataclass(frozen=True)
class TriggerPatch:
    config: JsonDict | None = None
    invocation_role: str | None = None
    description: str | None = None
    qualifier: str | Keep | None = KEEP


@dataclass(frozen=True)
class AliasSpec:
    name: str
    version_id: str
    weights: dict[str, float]
    description: str = ""


@dataclass(frozen=True)
class AliasPatch:
    version_id: str | None = None
    weights: dict[str, float] | None = None
    description: str | None = None
