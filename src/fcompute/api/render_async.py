"""FC JSON of async invocation records and async-invoke-configs."""

from __future__ import annotations

from fcompute.asyncinvoke.config import AsyncInvokeConfig
from fcompute.asyncinvoke.records import (
    Attempt,
    CodeVersion,
    Delivery,
    InvocationRecord,
    JsonDict,
    payload_fields,
)


def code_version(version: CodeVersion | None) -> JsonDict | None:
    return None if version is None else version.to_json()


def attempt(record: Attempt) -> JsonDict:
    return {
        "attempt": record.number,
        "requestId": record.request_id,
        "status": record.status.value,
        "startedTime": record.started_ms,
        "endTime": record.ended_ms,
        "error": record.error,
        "version": code_version(record.version),
    }


def delivery(record: Delivery) -> JsonDict:
    last_error = next((a.error for a in reversed(record.attempts) if a.error), None)
    return {
        "deliveryId": record.delivery_id,
        "condition": record.condition.value,
        "destination": record.destination,
        "status": record.status.value,
        "createdTime": record.created_ms,
        "endTime": record.ended_ms,
        "attempts": [attempt(a) for a in record.attempts],
        "lastError": last_error,
    }


def invocation(record: InvocationRecord, include_payload: bool = True) -> JsonDict:
    version = record.version
    data: JsonDict = {
        "invocationId": record.invocation_id,
        "requestId": record.request_id,
        "serviceName": record.service,
        "functionName": record.function,
        "qualifier": record.qualifier,
        "status": record.status.value,
        # FC's name for when the invocation started: here, when it was accepted.
        "startedTime": record.created_ms,
        "endTime": record.ended_ms,
        "alreadyRetriedTimes": max(0, len(record.attempts) - 1),
        "functionErrors": record.function_errors,
        "systemErrors": record.system_errors,
        "invocationErrorMessage": (record.error or {}).get("errorMessage", ""),
        "error": record.error,
        "version": code_version(version),
        "versionId": version.version_id if version else None,
        "replayOf": record.replay_of,
        "replayedBy": list(record.replayed_by),
        "attempts": [attempt(a) for a in record.attempts],
        "destinationStatus": record.destination_status(),
        "destinations": [delivery(d) for d in record.deliveries],
    }
    if include_payload:
        data.update(payload_fields("invocationPayload", record.payload))
        data.update(payload_fields("returnPayload", record.result))
    return data


def async_config(config: AsyncInvokeConfig, service: str, function: str,
                 qualifier: str) -> JsonDict:
    destinations: JsonDict = {}
    if config.on_success:
        destinations["onSuccess"] = {"destination": config.on_success}
    if config.on_failure:
        destinations["onFailure"] = {"destination": config.on_failure}
    return {
        "service": service,
        "function": function,
        "qualifier": qualifier,
        "maxAsyncRetryAttempts": config.max_retry_attempts,
        "maxAsyncEventAgeInSeconds": config.max_event_age_s,
        "destinationConfig": destinations,
        "statefulInvocation": config.stateful_invocation,
        "createdTime": config.created,
        "lastModifiedTime": config.modified,
    }
