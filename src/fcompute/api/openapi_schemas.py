"""JSON Schemas (OpenAPI 3.1) of the API's bodies, and the helpers that write them.

Bounds and patterns come from ``limits`` and ``validation``, the values the handlers check,
so the document cannot promise what the platform refuses. The schemas say what a request
must look like to be accepted; the platform still answers anything else with a 400.
"""

from __future__ import annotations

import re
from typing import Any

from fcompute import limits, validation
from fcompute.asyncinvoke import policy
from fcompute.asyncinvoke.records import Status
from fcompute.triggers import oss_config
from fcompute.triggers.bucket_notifications import EVENT_TIME

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def pattern(regex: re.Pattern[str]) -> str:
    """A pattern ``validation`` uses with ``fullmatch``, anchored for JSON Schema."""
    return f"^(?:{regex.pattern})$"


def string(description: str = "", **keywords: Any) -> Schema:
    schema: Schema = {"type": "string", **keywords}
    if description:
        schema["description"] = description
    return schema


def nullable(schema: Schema) -> Schema:
    """``schema`` or null (which the handlers read as "not given")."""
    widened = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        widened["enum"] = [*schema["enum"], None]
    return widened


def integer(low: int, high: int, description: str = "", **keywords: Any) -> Schema:
    schema: Schema = {"type": "integer", "minimum": low, "maximum": high, **keywords}
    if description:
        schema["description"] = description
    return schema


def boolean(description: str = "") -> Schema:
    return {"type": "boolean", "description": description} if description else {
        "type": "boolean"}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (),
        description: str = "") -> Schema:
    """An object of these fields; others are ignored by the platform, so they are allowed."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def free_object(description: str) -> Schema:
    return {"type": "object", "description": description}


def _any_case(words: frozenset[str]) -> str:
    """A pattern for these words in any letter case (JSON Schema has no flags)."""
    return "^(?:" + "|".join("".join(f"[{c.upper()}{c.lower()}]" for c in word)
                             for word in sorted(words)) + ")$"


def listing(key: str, item: str) -> Schema:
    return obj({key: {"type": "array", "items": ref(item)},
                "nextToken": string("present when more items exist: pass it to get them")},
               (key,))


SERVICE_NAME = string(pattern=pattern(validation.SERVICE_NAME), maxLength=128)
FUNCTION_NAME = string(pattern=pattern(validation.FUNCTION_NAME), maxLength=64)
TRIGGER_NAME = string(pattern=pattern(validation.TRIGGER_NAME), maxLength=128)
ALIAS_NAME = string("not LATEST", pattern=pattern(validation.ALIAS_NAME), maxLength=128)
VERSION_ID = string("1, 2, ...", pattern="^[0-9]{1,32}$")
WEIGHTS = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0,
                                                      "maximum": 1},
           "description": "share of requests per other version id; they add up to at most 1"}
DESCRIPTION = string(maxLength=limits.MAX_DESCRIPTION_CHARS)
ARN = string(maxLength=limits.MAX_ARN_CHARS)
HANDLER = string("module.function", pattern=pattern(validation.HANDLER),
                 maxLength=limits.MAX_HANDLER_CHARS)
CONFIG_OBJECT = f"at most {limits.MAX_CONFIG_OBJECT_BYTES} bytes as compact UTF-8 JSON"
TIMEOUT = integer(limits.TIMEOUT_MIN_S, limits.TIMEOUT_MAX_S, "seconds")
TIME = string("ISO 8601 UTC, milliseconds", format="date-time")
EPOCH_MS = integer(0, limits.MAX_EPOCH_MS, "milliseconds since the epoch")


def _service_fields() -> dict[str, Schema]:
    # null means "not given", as FC's SDKs send it.
    return {
        "description": nullable(DESCRIPTION),
        "role": nullable(ARN),
        "internetAccess": nullable(boolean("default true")),
        "logConfig": nullable(obj({"project": string(), "logstore": string()},
                                  description=CONFIG_OBJECT)),
        "vpcConfig": nullable(free_object(CONFIG_OBJECT)),
        "nasConfig": nullable(free_object(CONFIG_OBJECT)),
        "tracingConfig": nullable(free_object(CONFIG_OBJECT)),
    }


def _env_names() -> str:
    reserved = "|".join(sorted(validation.RESERVED_ENV_NAMES))
    prefixes = "|".join(validation.RESERVED_ENV_PREFIXES)
    return f"^(?!{prefixes})(?!(?:{reserved})$)(?:{validation.ENV_NAME.pattern})$"


def _function_fields() -> dict[str, Schema]:
    """Every field may be null, which means "not given" (creating still needs runtime,
    handler and code)."""
    fields = {
        "runtime": string(enum=sorted(validation.SUPPORTED_RUNTIMES)),
        "handler": HANDLER,
        "code": ref("Code"),
        "description": DESCRIPTION,
        "memorySize": integer(limits.MEMORY_MIN_MB, limits.MEMORY_MAX_MB, "MB",
                              multipleOf=limits.MEMORY_STEP_MB),
        "timeout": TIMEOUT,
        "initializer": string("module.function, or empty for none",
                              pattern=f"^$|{pattern(validation.HANDLER)}",
                              maxLength=limits.MAX_HANDLER_CHARS),
        "initializationTimeout": TIMEOUT,
        "environmentVariables": {
            "type": "object",
            "description": f"at most {limits.MAX_ENV_BYTES} bytes of names and values; FC_* "
                           "and the credential names are reserved; {} clears them",
            "propertyNames": {"pattern": _env_names()},
            "additionalProperties": string(),
        },
        "instanceConcurrency": integer(1, limits.MAX_INSTANCE_CONCURRENCY),
        "instanceType": string(maxLength=limits.MAX_INSTANCE_TYPE_CHARS),
        "diskSize": integer(limits.DISK_MIN_MB, limits.DISK_MAX_MB, "MB of private /tmp"),
        "caPort": integer(1, 65535),
        "customContainerConfig": free_object(CONFIG_OBJECT),
    }
    return {key: {"oneOf": [schema, {"type": "null"}]} if "$ref" in schema else nullable(schema)
            for key, schema in fields.items()}


def _trigger_common() -> dict[str, Schema]:
    return {
        "triggerName": TRIGGER_NAME,
        "invocationRole": nullable(ARN),
        "qualifier": nullable(string(maxLength=limits.MAX_QUALIFIER_CHARS)),
        "description": nullable(DESCRIPTION),
    }


def _trigger_create(kind: str, config: str, source_arn: Schema | None) -> Schema:
    fields = {**_trigger_common(), "triggerType": {"type": "string", "const": kind},
              "triggerConfig": ref(config)}
    required: tuple[str, ...] = ("triggerName", "triggerType", "triggerConfig")
    if source_arn is not None:
        fields["sourceArn"] = source_arn
        required += ("sourceArn",)
    return obj(fields, required)


def _oss_trigger_config() -> Schema:
    affix = nullable(string(maxLength=oss_config.MAX_AFFIX_CHARS))
    return obj({
        "events": {"type": "array", "minItems": 1, "items": string(
            "an OSS event, '*' in the last part a wildcard: oss:ObjectCreated:*",
            pattern=pattern(validation.OSS_EVENT))},
        "filter": nullable(obj({"key": nullable(obj({"prefix": affix, "suffix": affix}))})),
    }, description=f"{CONFIG_OBJECT}; keys in any letter case (Serverless Devs sends Key, "
                   "Prefix, Suffix), others ignored, events required; echoed as sent")


def _bucket_notification() -> dict[str, Schema]:
    text = string()
    record = obj({
        "eventName": string("ObjectCreated:Put, s3:ObjectRemoved:Delete, ...", minLength=1),
        "eventSource": string("minio:s3, ceph:s3, aws:s3"),
        "eventTime": string("ISO 8601 UTC", pattern=f"^(?:{EVENT_TIME.pattern})?$",
                            examples=["2019-11-22T13:47:35.124724Z"]),
        "userIdentity": obj({"principalId": text}),
        "requestParameters": obj({"sourceIPAddress": text}),
        "responseElements": obj({"x-amz-request-id": text}),
        "s3": obj({
            "bucket": obj({"name": string(minLength=1)}, ("name",)),
            "object": obj({
                "key": string("URL-encoded by MinIO and S3", minLength=1),
                "size": {"oneOf": [{"type": "integer", "minimum": 0},
                                   string(pattern="^[0-9]{1,20}$")]},
                "eTag": text, "sequencer": text, "contentType": text,
                "userMetadata": {"type": "object", "additionalProperties": text},
                "metadata": {"type": "array", "items": obj({"key": text, "value": text})},
            }, ("key",)),
        }, ("bucket", "object")),
    }, ("eventName", "s3"))
    return {
        "BucketNotification": obj(
            {"Records": {"type": "array", "items": ref("BucketNotificationRecord")}},
            ("Records",), "S3's event structure, as MinIO's webhook and Ceph RGW's HTTP "
                          "endpoint POST it"),
        "BucketNotificationRecord": record,
        "BucketNotificationResult": obj({
            "records": {"type": "integer"},
            "ignored": {"type": "integer", "description": "records with no OSS event"},
            "invocations": {"type": "array", "items": obj({
                "serviceName": text, "functionName": text, "triggerName": text,
                "invocationId": text,
                "repeated": boolean("this record was delivered before: nothing new runs"),
            })},
        }, ("records", "ignored", "invocations")),
    }


def _destination() -> Schema:
    return nullable(obj({"destination": nullable(string(
        "acs:fc:{region}:{account}:services/{service}[.{qualifier}]/functions/{function} or "
        "an http(s):// webhook URL; empty for none"))}))


def _invocation_record() -> Schema:
    attempt = obj({
        "attempt": {"type": "integer"}, "requestId": string(), "status": string(),
        "startedTime": EPOCH_MS, "endTime": nullable(EPOCH_MS),
        "error": {"type": ["object", "null"]}, "version": {"type": ["object", "null"]},
    })
    return obj({
        "invocationId": string(), "requestId": string(), "serviceName": string(),
        "functionName": string(), "qualifier": string(),
        "status": string(enum=[s.value for s in Status]),
        "startedTime": EPOCH_MS, "endTime": nullable(EPOCH_MS),
        "alreadyRetriedTimes": {"type": "integer"}, "functionErrors": {"type": "integer"},
        "systemErrors": {"type": "integer"}, "invocationErrorMessage": string(),
        "error": {"type": ["object", "null"]}, "version": {"type": ["object", "null"]},
        "replayOf": {"type": ["string", "null"]},
        "replayedBy": {"type": "array", "items": string()},
        "attempts": {"type": "array", "items": attempt},
        "destinationStatus": {"type": ["string", "null"]},
        "destinations": {"type": "array", "items": {"type": "object"}},
        "invocationPayload": string("with includePayload; base64 when not UTF-8"),
        "invocationPayloadEncoding": string(enum=["base64"]),
        "returnPayload": {"type": ["string", "null"]},
        "returnPayloadEncoding": string(enum=["base64"]),
    })


def schemas() -> dict[str, Schema]:
    """``components.schemas`` of the document."""
    service = obj({**_service_fields(), "serviceName": string(), "serviceId": string(),
                   "createdTime": TIME, "lastModifiedTime": TIME})
    function = obj({**_function_fields(), "functionName": string(), "functionId": string(),
                    "codeChecksum": string("CRC-64/XZ of the zip, decimal"),
                    "codeSize": {"type": "integer"}, "createdTime": TIME,
                    "lastModifiedTime": TIME})
    trigger = obj({**_trigger_common(), "triggerId": string(), "triggerType": string(),
                   "triggerConfig": {"type": "object"}, "sourceArn": {"type": ["string", "null"]},
                   "createdTime": TIME, "lastModifiedTime": TIME})
    return {
        "Error": obj({"ErrorCode": string("stable code, e.g. ServiceNotFound"),
                      "ErrorMessage": string()}, ("ErrorCode", "ErrorMessage")),
        "InvocationError": obj(
            {"errorMessage": string(), "errorType": string("the exception class or Runtime.*"),
             "stackTrace": {"type": "array", "items": string()}},
            ("errorMessage", "errorType"),
            "a function's own failure, in a 200 with x-fc-error-type (or a 502/504 of an "
            "HTTP trigger)"),
        "ServiceCreate": obj({"serviceName": SERVICE_NAME, **_service_fields()},
                             ("serviceName",)),
        "ServiceUpdate": obj(_service_fields(), description="only the fields to change"),
        "Service": service,
        "ServiceList": listing("services", "Service"),
        "Code": obj({
            "zipFile": string(f"base64 of a zip of at most {limits.MAX_CODE_ZIP_BYTES} bytes",
                              contentEncoding="base64", minLength=1),
            "ossBucketName": string("not supported yet: answers 400"),
            "ossObjectName": string("not supported yet: answers 400"),
        }, ("zipFile",)),
        "FunctionCreate": obj({**_function_fields(), "functionName": FUNCTION_NAME,
                               "runtime": string(enum=sorted(validation.SUPPORTED_RUNTIMES)),
                               "handler": HANDLER, "code": ref("Code")},
                              ("functionName", "runtime", "handler", "code")),
        "FunctionUpdate": obj(_function_fields(), description="only the fields to change"),
        "Function": function,
        "FunctionList": listing("functions", "Function"),
        "FunctionCode": obj({"checksum": string(), "url": string(
            "presigned download link, valid 15 minutes", format="uri")}, ("checksum", "url")),
        "HttpTriggerConfig": obj({
            "authType": string(enum=["anonymous", "function"]),
            "methods": {"type": "array", "minItems": 1, "items": string(
                "an HTTP method, in any case", pattern=_any_case(validation.HTTP_METHODS))},
        }, ("authType", "methods"), CONFIG_OBJECT),
        "TimerTriggerConfig": obj({
            "cronExpression": string(
                "6-field cron (seconds first) or '@every <duration>', printable ASCII; "
                f"'@every' from 1s to {limits.MAX_TIMER_INTERVAL_S // 3600}h",
                maxLength=limits.MAX_CRON_EXPRESSION_CHARS,
                examples=["@every 5m", "@every 1h30m", "0 0 8 * * *", "0 */5 * * * *"]),
            "enable": boolean(),
            "payload": nullable(string("the event's payload")),
        }, ("cronExpression",), CONFIG_OBJECT),
        "OssTriggerConfig": _oss_trigger_config(),
        "TriggerCreate": {"oneOf": [ref("HttpTriggerCreate"), ref("TimerTriggerCreate"),
                                    ref("OssTriggerCreate")],
                          "discriminator": {"propertyName": "triggerType", "mapping": {
                              "http": "#/components/schemas/HttpTriggerCreate",
                              "timer": "#/components/schemas/TimerTriggerCreate",
                              "oss": "#/components/schemas/OssTriggerCreate"}}},
        "HttpTriggerCreate": _trigger_create("http", "HttpTriggerConfig", None),
        "TimerTriggerCreate": _trigger_create("timer", "TimerTriggerConfig", None),
        "OssTriggerCreate": _trigger_create(
            "oss", "OssTriggerConfig",
            string("acs:oss:{region}:{account}:{bucket}",
                   pattern=pattern(validation.OSS_SOURCE_ARN), maxLength=limits.MAX_ARN_CHARS)),
        "TriggerUpdate": obj({
            "triggerConfig": {"oneOf": [ref("HttpTriggerConfig"), ref("TimerTriggerConfig"),
                                        ref("OssTriggerConfig"), {"type": "null"}],
                              "description": "of the trigger's own type"},
            **{k: v for k, v in _trigger_common().items() if k != "triggerName"},
        }, description="only the fields to change"),
        "Trigger": trigger,
        "TriggerList": listing("triggers", "Trigger"),
        "VersionPublish": obj({"description": nullable(DESCRIPTION)}),
        "Version": obj({"versionId": VERSION_ID, "description": string(),
                        "createdTime": TIME, "lastModifiedTime": TIME}),
        "VersionList": obj({"versions": {"type": "array", "items": ref("Version")},
                            "direction": string(enum=["BACKWARD", "FORWARD"]),
                            "nextToken": string()}, ("versions",)),
        "AliasCreate": obj({"aliasName": ALIAS_NAME, "versionId": VERSION_ID,
                            "description": nullable(DESCRIPTION),
                            "additionalVersionWeight": nullable(WEIGHTS)},
                           ("aliasName", "versionId")),
        "AliasUpdate": obj({"versionId": nullable(VERSION_ID),
                            "description": nullable(DESCRIPTION),
                            "additionalVersionWeight": nullable(WEIGHTS)},
                           description="only the fields to change; {} clears the weights"),
        "Alias": obj({"aliasName": string(), "versionId": string(), "description": string(),
                      "additionalVersionWeight": {"type": "object"},
                      "createdTime": TIME, "lastModifiedTime": TIME}),
        "AliasList": listing("aliases", "Alias"),
        "AsyncInvokeConfigInput": obj({
            "maxAsyncRetryAttempts": nullable(integer(
                0, policy.MAX_RETRY_ATTEMPTS, f"default {policy.DEFAULT_MAX_RETRY_ATTEMPTS}")),
            "maxAsyncEventAgeInSeconds": nullable(integer(
                1, policy.MAX_EVENT_AGE_S, f"default {policy.DEFAULT_MAX_EVENT_AGE_S}")),
            "destinationConfig": nullable(obj({"onSuccess": _destination(),
                                               "onFailure": _destination()})),
            "statefulInvocation": boolean("records are always kept; the flag is echoed"),
        }, description="replaces the whole config; fields left out take their defaults"),
        "AsyncInvokeConfig": obj({
            "service": string(), "function": string(), "qualifier": string(),
            "maxAsyncRetryAttempts": {"type": "integer"},
            "maxAsyncEventAgeInSeconds": {"type": "integer"},
            "destinationConfig": {"type": "object"}, "statefulInvocation": boolean(),
            "createdTime": TIME, "lastModifiedTime": TIME,
        }),
        "AsyncInvokeConfigList": obj({
            "configs": {"type": "array", "items": ref("AsyncInvokeConfig")},
            "nextToken": {"type": "null"},
        }, ("configs",)),
        "StatefulAsyncInvocation": _invocation_record(),
        "StatefulAsyncInvocationList": listing("invocations", "StatefulAsyncInvocation"),
        "ReplayRequest": obj({"target": string(
            "run the code the invocation ran, or the function as it is now",
            enum=["latest", "original"], default="latest")}),
        **_bucket_notification(),
    }
