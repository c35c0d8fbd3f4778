"""The classic boundary values, one at a time, for every parameter and body field.

Random generation finds the unexpected; this list makes sure that every run also tries
the values that broke platforms like this one before (Unicode digits, 5,000-digit numbers,
NaN, names ending in a newline, NUL, lone surrogates, fields over their caps, reserved
variable names, deep nesting), each in an otherwise valid request so that it reaches the
code that reads it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from tests.fuzz import hostile
from tests.fuzz.cases import BAD_DATES, GARBAGE_AUTH, Case, Operation, assemble
from tests.fuzz.hostile import Raw, nested
from tests.fuzz.world import ECHO_CODE, zip_b64

PATH_TEXTS = ("", "name\n", "a\x00b", "\ud800", "..", "%", "x" * 300, "名前", "a.b",
              "fz-echo.LATEST\n", "²", "fz-target\n", "FZ-TARGET", " fz-target")
STRING_TEXTS = ("", "\x00", "name\n", "x" * 3000, "\ud800", "%", "²", "名前")
HEADER_TEXTS = ("", "²", "x" * 8000, "Async\t", "é", "1" * 40, "ASYNC", "tail")
FIELD_VALUES: tuple[Any, ...] = (
    None, True, -1, 2**63, 1.5, Raw("NaN"), Raw("-Infinity"), Raw("1e999"),
    Raw("1" + "0" * 5000), "", "name\n", "a\x00b", "\ud800", "x" * 300, "x" * 70_000, "²",
    [], {}, nested(65), "@every " + "9" * 5000 + "m", "@every 100000000000000000000h",
)
EXTRA_KEYS = ("FC_X", "FC_", "accessKeyID", "ALIBABA_CLOUD_ACCESS_KEY_ID", "A\n", "\x00", "é")
RAW_BODIES = (b"", b"{", b"[]", b"null", b'{"a":NaN}', b"\xff", b'{"a":"\\ud800"}',
              b"[" * 100_000, b'{"a":' * 100 + b"1" + b"}" * 100, nested(200_000).text.encode())

# A valid body per request schema of the document; {name} makes created names unique.
BASES: dict[str, Callable[[str], dict[str, Any]]] = {
    "ServiceCreate": lambda name: {"serviceName": name, "description": "d", "logConfig": {
        "project": "p", "logstore": "l"}},
    "ServiceUpdate": lambda _name: {"description": "d", "role": "r", "vpcConfig": {}},
    "FunctionCreate": lambda name: {
        "functionName": name, "runtime": "python3", "handler": "index.handler",
        "code": {"zipFile": zip_b64(ECHO_CODE)}, "environmentVariables": {"A": "1"},
        "memorySize": 256, "timeout": 60, "initializer": "", "diskSize": 512},
    "FunctionUpdate": lambda _name: {"description": "d", "environmentVariables": {"A": "1"},
                                     "timeout": 60, "instanceConcurrency": 1},
    "TriggerCreate": lambda name: {"triggerName": name, "triggerType": "timer",
                                   "triggerConfig": {"cronExpression": "@every 5m",
                                                     "enable": True, "payload": "p"}},
    # The operation's known trigger is t-http (world.py).
    "TriggerUpdate": lambda _name: {"triggerConfig": {"authType": "function",
                                                      "methods": ["GET"]}, "description": "d"},
    "AsyncInvokeConfigInput": lambda _name: {
        "maxAsyncRetryAttempts": 1, "maxAsyncEventAgeInSeconds": 60,
        "destinationConfig": {"onFailure": {"destination": "http://127.0.0.1:9/x"}}},
    "ReplayRequest": lambda _name: {"target": "latest"},
    "VersionPublish": lambda _name: {"description": "d"},
    "AliasCreate": lambda name: {"aliasName": name, "versionId": "1",
                                 "additionalVersionWeight": {}},
    "AliasUpdate": lambda _name: {"versionId": "1", "description": "d"},
    # MinIO's webhook body (reference §5.1) for a bucket no trigger names.
    "BucketNotification": lambda name: {"EventName": "s3:ObjectCreated:Put", "Records": [{
        "eventVersion": "2.0", "eventSource": "minio:s3", "eventTime": "2018-10-31T09:31:11.000Z",
        "eventName": "s3:ObjectCreated:Put", "userIdentity": {"principalId": "minio"},
        "requestParameters": {"sourceIPAddress": "10.1.1.1"},
        "responseElements": {"x-amz-request-id": "1562A792DAA53426"},
        "s3": {"bucket": {"name": f"ext-{name}"}, "object": {
            "key": "a%2Fb.jpg", "size": 3, "eTag": "5337769ffa594e742408ad3f30713cd7",
            "contentType": "image/jpeg", "userMetadata": {"X-Amz-Meta-A": "1"},
            "sequencer": "1562A792DAA53426"}}}]},
}


def schema_name(operation: Operation) -> str:
    return str((operation.body_schema or {}).get("$ref", "")).rsplit("/", 1)[-1]


def _variants(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``body`` with one field (or one field of a field) replaced, dropped or added to."""
    for key, value in body.items():
        for hostile_value in FIELD_VALUES:
            yield {**body, key: hostile_value}
        yield {k: v for k, v in body.items() if k != key}
        if isinstance(value, dict):
            for inner_key in value:
                for hostile_value in FIELD_VALUES:
                    yield {**body, key: {**value, inner_key: hostile_value}}
            for extra in EXTRA_KEYS:
                yield {**body, key: {**value, extra: "1"}}


def _texts(param: dict[str, Any]) -> tuple[str, ...]:
    if param["in"] == "path":
        return PATH_TEXTS
    if param["in"] == "header":
        return HEADER_TEXTS
    return hostile.NUMERIC_TEXTS if param["schema"].get("type") == "integer" else STRING_TEXTS


def cases(operation: Operation, base_values: dict[str, str], fresh: Callable[[], str]
          ) -> Iterator[Case]:
    """The valid request, then one curated value at a time in it."""
    name = schema_name(operation)
    if operation.body_schema is not None and name not in BASES:
        raise AssertionError(f"tests/fuzz/curated.py has no valid {name} body to start from")

    def body_bytes(value: Any = None) -> bytes:
        if operation.takes_bytes:
            return b"ping"
        if operation.body_schema is None:
            return b""
        body = BASES[name](fresh()) if value is None else value
        return hostile.encode(body).encode("utf-8", "surrogatepass")

    yield assemble(operation, base_values, body_bytes())
    for garbage in GARBAGE_AUTH:
        case = assemble(operation, base_values, body_bytes(), auth="garbage")
        case.garbage = garbage
        yield case
    for date in BAD_DATES:
        case = assemble(operation, base_values, body_bytes(), auth="bad-date")
        case.date = date
        yield case
    if any(p["name"] == "Content-MD5" for p in operation.parameters):
        body = body_bytes()
        digest = hashlib.md5(body, usedforsecurity=False)
        for md5 in (base64.b64encode(digest.digest()), base64.b64encode(digest.hexdigest(
                ).upper().encode()), base64.b64encode(b"\x00" * 16), b"", "²é".encode(),
                    b"x" * 5000):
            yield assemble(operation, base_values, body, [(b"content-md5", md5)])
    for param in operation.parameters:
        if param["name"] in ("Date", "Content-MD5") or param["schema"].get("type") == "object":
            continue
        for text in _texts(param):
            yield assemble(operation, {**base_values, param["name"]: text}, body_bytes())
    if operation.body_schema is not None:
        for variant in _variants(BASES[name](fresh())):
            yield assemble(operation, base_values, body_bytes(variant))
    if operation.body_schema is not None or operation.takes_bytes:
        for raw in RAW_BODIES:
            yield assemble(operation, base_values, raw)
