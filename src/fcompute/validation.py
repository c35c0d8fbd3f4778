"""Validation of request input: management bodies, and numbers in queries and headers.

Each ``parse_*`` function takes the decoded JSON body and returns the fields
the store needs (snake_case), raising :class:`InvalidArgument` with a message
that names the offending field. Patterns are matched whole (``fullmatch``): with
``$`` a name ending in a newline would pass. Free-form fields are capped
(``limits``) because every later listing sends them back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from fcompute import limits
from fcompute.control.commands import (
    AliasPatch,
    AliasSpec,
    CreateFunction,
    FunctionPatch,
    ServicePatch,
    TriggerPatch,
    TriggerSpec,
    UpdateFunction,
)
from fcompute.errors import InvalidArgument
from fcompute.model import FunctionConfig, ServiceConfig
from fcompute.triggers import oss_config

JsonDict = dict[str, Any]

# Every pattern is used with fullmatch.
SERVICE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
TRIGGER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
ALIAS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
HANDLER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.[A-Za-z_][A-Za-z0-9_]*")
# oss triggers: the source and event-name shapes live with the rest of their config.
OSS_SOURCE_ARN = oss_config.SOURCE_ARN
OSS_EVENT = oss_config.EVENT_SYNTAX
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# ASCII digits only: str.isdigit() also accepts U+00B2 (superscript two, which int() refuses)
# and U+0661 (Arabic-Indic one, which int() reads as 1).
DECIMAL = re.compile(r"[0-9]{1,32}")

PYTHON_RUNTIMES = frozenset(
    {"python3", "python3.6", "python3.7", "python3.8", "python3.9", "python3.10", "python3.11",
     "python3.12"}
)
SUPPORTED_RUNTIMES = PYTHON_RUNTIMES
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"})
TRIGGER_TYPES = frozenset({"http", "timer", "oss"})
# The platform sets FC_* in every instance (FC reserves the prefix too); FC also reserves the
# credential names below, which carry the service role's keys.
RESERVED_ENV_PREFIXES = ("FC_",)
RESERVED_ENV_NAMES = frozenset({
    "accessKeyID", "accessKeySecret", "securityToken", "topic",
    "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
})


def decimal(name: str, text: str, low: int, high: int) -> int:
    """``text`` as an integer from ``low`` to ``high``, or InvalidArgument naming ``name``.

    For numbers read from queries and headers: ASCII digits only (no sign, spaces or
    Unicode digits), at most 32 of them, so ``int()`` never sees a huge string.

    >>> decimal("limit", "20", 1, 100)
    20
    """
    if not DECIMAL.fullmatch(text) or not low <= int(text) <= high:
        raise InvalidArgument(f"{name} must be an integer from {low} to {high}, got {shown(text)}")
    return int(text)


def check_name(kind: str, value: object, pattern: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidArgument(f"{kind} {shown(value)} is invalid: {rule}")
    return value


def shown(value: object) -> str:
    """``repr`` for error messages, cut short: the value may be megabytes."""
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def service_name(value: object) -> str:
    return check_name(
        "serviceName", value, SERVICE_NAME,
        "1-128 letters, digits, '_' or '-', not starting with a digit or '-' (no dots)",
    )


def function_name(value: object) -> str:
    return check_name(
        "functionName", value, FUNCTION_NAME,
        "1-64 letters, digits, '_' or '-', not starting with a digit or '-'",
    )


def trigger_name(value: object) -> str:
    return check_name(
        "triggerName", value, TRIGGER_NAME,
        "1-128 letters, digits, '_' or '-', not starting with a digit or '-'",
    )


def _opt_str(body: JsonDict, key: str, max_chars: int, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidArgument(f"{key} must be a string")
    if len(value) > max_chars:
        raise InvalidArgument(f"{key} is {len(value)} characters, at most {max_chars} allowed")
    return value


def json_size(value: object) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON: what storing and listing it costs."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _opt_dict(body: JsonDict, key: str) -> JsonDict | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{key} must be an object")
    return _capped_object(key, value)


def _capped_object(key: str, value: JsonDict) -> JsonDict:
    size = json_size(value)
    if size > limits.MAX_CONFIG_OBJECT_BYTES:
        raise InvalidArgument(
            f"{key} is {size} bytes of JSON, at most {limits.MAX_CONFIG_OBJECT_BYTES} allowed"
        )
    return value


def _int(body: JsonDict, key: str, low: int, high: int) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{key} must be an integer, got {shown(value)}")
    if not low <= value <= high:
        raise InvalidArgument(f"{key} must be between {low} and {high}, got {shown(value)}")
    return value


def require_object(body: object) -> JsonDict:
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be a JSON object")
    return body


SERVICE_FIELDS = {
    "description": "description",
    "role": "role",
    "internetAccess": "internet_access",
    "logConfig": "log_config",
    "vpcConfig": "vpc_config",
    "nasConfig": "nas_config",
    "tracingConfig": "tracing_config",
}


def parse_service(body: JsonDict, *, creating: bool) -> JsonDict:
    out: JsonDict = {}
    if creating:
        out["name"] = service_name(body.get("serviceName"))
    for key, column in SERVICE_FIELDS.items():
        if key not in body or (body[key] is None and not creating):
            continue
        if key == "description":
            out[column] = _opt_str(body, key, limits.MAX_DESCRIPTION_CHARS)
        elif key == "role":
            out[column] = _opt_str(body, key, limits.MAX_ARN_CHARS)
        elif key == "internetAccess":
            value = body[key]
            if value is None:
                continue
            if not isinstance(value, bool):
                raise InvalidArgument("internetAccess must be true or false")
            out[column] = value
        else:
            out[column] = _opt_dict(body, key)
    _log_config_strings(out.get("log_config"))
    if creating:
        out.setdefault("description", "")
        out.setdefault("role", "")
        out.setdefault("internet_access", True)
    return out


def _log_config_strings(config: JsonDict | None) -> None:
    # Instances see these two in their context (context.service.log_project).
    for key in ("project", "logstore"):
        if config is not None and not isinstance(config.get(key, ""), str):
            raise InvalidArgument(f"logConfig.{key} must be a string")


def _environment(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument("environmentVariables must be an object of strings")
    size = 0
    for key, item in value.items():
        if not isinstance(key, str) or not ENV_NAME.fullmatch(key):
            raise InvalidArgument(f"environmentVariables: invalid variable name {shown(key)}")
        if key.startswith(RESERVED_ENV_PREFIXES) or key in RESERVED_ENV_NAMES:
            raise InvalidArgument(
                f"environmentVariables: {key} is reserved for the platform (FC_* and the "
                "credential variables are set in every instance); choose another name"
            )
        if not isinstance(item, str):
            raise InvalidArgument(f"environmentVariables: value of {key!r} must be a string")
        size += len(key) + len(item)
    if size > limits.MAX_ENV_BYTES:
        raise InvalidArgument(
            f"environmentVariables total {size} bytes, at most {limits.MAX_ENV_BYTES} allowed"
        )
    return dict(value)


def parse_function(body: JsonDict, *, creating: bool) -> JsonDict:
    """Returns function fields; the code itself (``code``) is returned raw under ``code``."""
    out: JsonDict = {}
    if creating:
        out["name"] = function_name(body.get("functionName"))
        for key in ("runtime", "handler"):
            if not body.get(key):
                raise InvalidArgument(f"{key} is required")
        if "code" not in body or body["code"] is None:
            raise InvalidArgument("code is required")
    if body.get("runtime") is not None:
        runtime = body["runtime"]
        if not isinstance(runtime, str) or runtime not in SUPPORTED_RUNTIMES:
            raise InvalidArgument(
                f"runtime {shown(runtime)} is not supported; use one of "
                f"{sorted(SUPPORTED_RUNTIMES)}"
            )
        out["runtime"] = runtime
    if body.get("handler") is not None:
        out["handler"] = _handler("handler", body["handler"])
    if body.get("initializer") is not None:
        initializer = body["initializer"]
        out["initializer"] = "" if initializer == "" else _handler("initializer", initializer)
    if body.get("description") is not None:
        out["description"] = _opt_str(body, "description", limits.MAX_DESCRIPTION_CHARS)
    if body.get("memorySize") is not None:
        memory = _int(body, "memorySize", limits.MEMORY_MIN_MB, limits.MEMORY_MAX_MB)
        if memory % limits.MEMORY_STEP_MB:
            raise InvalidArgument(
                f"memorySize must be a multiple of {limits.MEMORY_STEP_MB} MB, got {memory}"
            )
        out["memory_size"] = memory
    if body.get("timeout") is not None:
        out["timeout"] = _int(body, "timeout", limits.TIMEOUT_MIN_S, limits.TIMEOUT_MAX_S)
    if body.get("initializationTimeout") is not None:
        out["initialization_timeout"] = _int(
            body, "initializationTimeout", limits.TIMEOUT_MIN_S, limits.TIMEOUT_MAX_S
        )
    if "environmentVariables" in body and body["environmentVariables"] is not None:
        out["environment"] = _environment(body["environmentVariables"])
    if body.get("instanceConcurrency") is not None:
        out["instance_concurrency"] = _int(
            body, "instanceConcurrency", 1, limits.MAX_INSTANCE_CONCURRENCY
        )
    if body.get("diskSize") is not None:
        out["disk_size"] = _int(body, "diskSize", limits.DISK_MIN_MB, limits.DISK_MAX_MB)
    if body.get("instanceType") is not None:
        out["instance_type"] = _opt_str(body, "instanceType", limits.MAX_INSTANCE_TYPE_CHARS)
    if body.get("caPort") is not None:
        out["ca_port"] = _int(body, "caPort", 1, 65535)
    if body.get("customContainerConfig") is not None:
        out["custom_container_config"] = _opt_dict(body, "customContainerConfig")
    if creating:
        out.setdefault("description", "")
        out.setdefault("initializer", "")
        out.setdefault("memory_size", limits.DEFAULT_MEMORY_MB)
        out.setdefault("timeout", limits.DEFAULT_TIMEOUT_S)
        out.setdefault("initialization_timeout", limits.DEFAULT_INITIALIZATION_TIMEOUT_S)
        out.setdefault("environment", {})
        out.setdefault("instance_concurrency", 1)
        out.setdefault("instance_type", "e1")
        out.setdefault("disk_size", limits.DEFAULT_DISK_MB)
        out.setdefault("ca_port", None)
        out.setdefault("custom_container_config", None)
    if body.get("code") is not None:
        out["code"] = parse_code(body["code"])
    return out


def _handler(key: str, value: object) -> str:
    if isinstance(value, str) and len(value) > limits.MAX_HANDLER_CHARS:
        raise InvalidArgument(
            f"{key} is {len(value)} characters, at most {limits.MAX_HANDLER_CHARS} allowed"
        )
    if not isinstance(value, str) or not HANDLER.fullmatch(value):
        raise InvalidArgument(f"{key} {shown(value)} must look like 'module.function'")
    return value


def parse_code(code: object) -> str:
    """Returns the base64 zip; OSS-hosted code needs an object store (not built yet)."""
    if not isinstance(code, dict):
        raise InvalidArgument("code must be an object with zipFile")
    zip_file = code.get("zipFile")
    if isinstance(zip_file, str) and zip_file:
        return zip_file
    if code.get("ossBucketName") or code.get("ossObjectName"):
        raise InvalidArgument(
            "code from ossBucketName/ossObjectName is not supported yet; upload code.zipFile"
        )
    raise InvalidArgument("code.zipFile (a base64-encoded zip) is required")


def parse_trigger(body: JsonDict, *, creating: bool, trigger_type: str = "") -> JsonDict:
    out: JsonDict = {}
    if creating:
        out["name"] = trigger_name(body.get("triggerName"))
        trigger_type = body.get("triggerType") or ""
        if not isinstance(trigger_type, str) or trigger_type not in TRIGGER_TYPES:
            raise InvalidArgument(
                f"triggerType {shown(trigger_type)} is not supported; use one of "
                f"{sorted(TRIGGER_TYPES)}"
            )
        out["type"] = trigger_type
        if body.get("triggerConfig") is None:
            raise InvalidArgument("triggerConfig is required")
    if body.get("triggerConfig") is not None:
        config = body["triggerConfig"]
        if not isinstance(config, dict):
            raise InvalidArgument("triggerConfig must be an object")
        out["config"] = validate_trigger_config(trigger_type,
                                                _capped_object("triggerConfig", config))
    if creating:
        source_arn = body.get("sourceArn")
        if trigger_type == "http":
            source_arn = None
        elif trigger_type == "oss" and (
            not isinstance(source_arn, str) or not OSS_SOURCE_ARN.fullmatch(source_arn)
        ):
            raise InvalidArgument(
                "oss triggers need sourceArn 'acs:oss:{region}:{account}:{bucket}'"
            )
        if isinstance(source_arn, str) and len(source_arn) > limits.MAX_ARN_CHARS:
            raise InvalidArgument(f"sourceArn is at most {limits.MAX_ARN_CHARS} characters")
        out["source_arn"] = source_arn if isinstance(source_arn, str) else None
    for key, column, cap in (
        ("invocationRole", "invocation_role", limits.MAX_ARN_CHARS),
        ("description", "description", limits.MAX_DESCRIPTION_CHARS),
    ):
        if body.get(key) is not None:
            out[column] = _opt_str(body, key, cap)
    if "qualifier" in body:
        qualifier = _opt_str(body, "qualifier", limits.MAX_QUALIFIER_CHARS) or None
        if qualifier is not None and DECIMAL.fullmatch(qualifier):
            qualifier = str(int(qualifier))  # "007" is version 7, stored as the version's id
        out["qualifier"] = qualifier
    if creating:
        out.setdefault("invocation_role", "")
        out.setdefault("description", "")
        out.setdefault("qualifier", None)
    return out


def validate_trigger_config(trigger_type: str, config: JsonDict) -> JsonDict:
    if trigger_type == "http":
        auth = config.get("authType")
        if auth not in ("anonymous", "function"):
            raise InvalidArgument("http triggerConfig.authType must be 'anonymous' or 'function'")
        methods = config.get("methods")
        if not isinstance(methods, list) or not methods:
            raise InvalidArgument("http triggerConfig.methods must be a non-empty list")
        for method in methods:
            if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
                raise InvalidArgument(
                    f"http triggerConfig.methods: {shown(method)} is not one of "
                    f"{sorted(HTTP_METHODS)}"
                )
    elif trigger_type == "timer":
        _timer_schedule(config.get("cronExpression"))
        if "enable" in config and not isinstance(config["enable"], bool):
            raise InvalidArgument("timer triggerConfig.enable must be true or false")
        if config.get("payload") is not None and not isinstance(config["payload"], str):
            raise InvalidArgument("timer triggerConfig.payload must be a string")
    elif trigger_type == "oss":
        # Read in any letter case and checked; stored and echoed exactly as sent.
        oss_config.parse_config(config)
    return config


def _timer_schedule(expression: object) -> None:
    from fcompute.cron import every_seconds, validate_cron_expression

    if not isinstance(expression, str):
        raise InvalidArgument("timer triggerConfig.cronExpression is required")
    # Bounded before parsing: '@every' and 5,000 digits would otherwise reach int().
    if len(expression) > limits.MAX_CRON_EXPRESSION_CHARS:
        raise InvalidArgument(
            f"timer triggerConfig.cronExpression is {len(expression)} characters, at most "
            f"{limits.MAX_CRON_EXPRESSION_CHARS} allowed"
        )
    if not (expression.isascii() and expression.isprintable()):
        raise InvalidArgument(
            "timer triggerConfig.cronExpression must be printable ASCII (no tabs or newlines)"
        )
    validate_cron_expression(expression)
    seconds = every_seconds(expression)
    if seconds is not None and seconds > limits.MAX_TIMER_INTERVAL_S:
        raise InvalidArgument(
            f"timer triggerConfig.cronExpression {expression!r}: the interval is at most "
            f"{limits.MAX_TIMER_INTERVAL_S // 3600}h; use a cron expression for rarer runs"
        )


# Typed commands for the control layer, from the FC request bodies parsed above.


def service_create(body: JsonDict) -> tuple[str, ServiceConfig]:
    fields = parse_service(body, creating=True)
    name = fields.pop("name")
    return name, ServiceConfig(**fields)


def service_patch(body: JsonDict) -> ServicePatch:
    return ServicePatch(**parse_service(body, creating=False))


def function_create(body: JsonDict, decode: Callable[[str], bytes]) -> CreateFunction:
    fields = parse_function(body, creating=True)
    name, encoded = fields.pop("name"), fields.pop("code")
    return CreateFunction(name, FunctionConfig(**fields), lambda: decode(encoded))


def function_update(body: JsonDict, decode: Callable[[str], bytes]) -> UpdateFunction:
    fields = parse_function(body, creating=False)
    encoded = fields.pop("code", None)
    code = None if encoded is None else (lambda: decode(encoded))
    return UpdateFunction(FunctionPatch(**fields), code)


def trigger_spec(body: JsonDict) -> TriggerSpec:
    return TriggerSpec(**parse_trigger(body, creating=True))


def trigger_patch(body: JsonDict, trigger_type: str) -> TriggerPatch:
    return TriggerPatch(**parse_trigger(body, creating=False, trigger_type=trigger_type))


def alias_name(value: object) -> str:
    name = check_name(
        "aliasName", value, ALIAS_NAME,
        "1-128 letters, digits, '_' or '-', not starting with a digit or '-'",
    )
    if name == "LATEST":
        raise InvalidArgument("aliasName LATEST is reserved: it names the unpublished code")
    return name


def _version_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not DECIMAL.fullmatch(value):
        raise InvalidArgument(f"versionId {shown(value)} must be a version id such as \"1\"")
    return str(int(value))


def _weights(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise InvalidArgument(
            'additionalVersionWeight must be an object such as {"2": 0.3}'
        )
    weights: dict[str, float] = {}
    for key, weight in value.items():
        version = _version_id(key)
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise InvalidArgument(
                f"additionalVersionWeight[{shown(key)}] must be a number from 0.0 to 1.0"
            )
        weights[version] = float(weight)
    return weights


def alias_spec(body: JsonDict) -> AliasSpec:
    if body.get("versionId") is None:
        raise InvalidArgument("versionId is required: the version the alias points at")
    weights = body.get("additionalVersionWeight")
    return AliasSpec(
        name=alias_name(body.get("aliasName")), version_id=_version_id(body["versionId"]),
        weights={} if weights is None else _weights(weights),
        description=_opt_str(body, "description", limits.MAX_DESCRIPTION_CHARS),
    )


def alias_patch(body: JsonDict) -> AliasPatch:
    version, weights = body.get("versionId"), body.get("additionalVersionWeight")
    description = body.get("description")
    return AliasPatch(
        version_id=None if version is None else _version_id(version),
        weights=None if weights is None else _weights(weights),
        description=None if description is None
        else _opt_str(body, "description", limits.MAX_DESCRIPTION_CHARS),
    )
