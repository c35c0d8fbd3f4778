"""How a version keeps the settings it snapshots: explicit JSON of each config, and a
fingerprint of the whole snapshot (publishing with nothing changed is refused)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from fcompute.model import CodeRef, FunctionConfig, JsonDict, ServiceConfig


def service_config_json(config: ServiceConfig) -> JsonDict:
    return asdict(config)


def service_config_from(data: JsonDict) -> ServiceConfig:
    return ServiceConfig(
        description=str(data.get("description", "")), role=str(data.get("role", "")),
        internet_access=bool(data.get("internet_access", True)),
        log_config=data.get("log_config"), vpc_config=data.get("vpc_config"),
        nas_config=data.get("nas_config"), tracing_config=data.get("tracing_config"),
    )


def function_config_json(config: FunctionConfig) -> JsonDict:
    return asdict(config)


def function_config_from(data: JsonDict) -> FunctionConfig:
    return FunctionConfig(
        runtime=str(data["runtime"]), handler=str(data["handler"]),
        description=str(data.get("description", "")),
        memory_size=int(data["memory_size"]), timeout=int(data["timeout"]),
        initializer=str(data.get("initializer", "")),
        initialization_timeout=int(data["initialization_timeout"]),
        environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
        instance_concurrency=int(data.get("instance_concurrency", 1)),
        instance_type=str(data.get("instance_type", "e1")),
        disk_size=int(data.get("disk_size", 512)),
        ca_port=data.get("ca_port"),
        custom_container_config=data.get("custom_container_config"),
    )


def fingerprint(service: ServiceConfig,
                functions: list[tuple[str, str, FunctionConfig, CodeRef]]) -> str:
    """Hash of a snapshot: the service config and each (name, id, config, code digest)."""
    parts: list[Any] = [service_config_json(service)]
    for name, function_id, config, code in sorted(functions, key=lambda f: f[0]):
        parts.append([name, function_id, function_config_json(config), code.digest])
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
