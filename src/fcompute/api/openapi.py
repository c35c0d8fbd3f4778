"""The OpenAPI 3.1 description of the whole API, served at ``GET /2016-08-15/openapi.json``.

It is served without a signature: it holds no secrets, and a tool reads it before it
knows how to sign. Paths are the router's templates (``{path*}``, the rest of an HTTP
trigger's path, is written ``{path}`` with ``x-fcompute-greedy``; a router method ``*`` is
every method an HTTP trigger accepts). The document served is held to the router
(:func:`held_to`): a route added without a description shows up as an undescribed stub,
which ``tests/fuzz/test_openapi.py`` refuses. ``tests/fuzz`` generates requests for every
operation from the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fcompute import limits, validation
from fcompute.api import jsonio
from fcompute.api.code import CODE_PATH, LINK_SECONDS
from fcompute.api.common import API_PREFIX
from fcompute.api.http import Request, Response, Send
from fcompute.api.notifications import PATH as NOTIFICATIONS_PATH
from fcompute.api.openapi_schemas import (
    ALIAS_NAME,
    EPOCH_MS,
    FUNCTION_NAME,
    TRIGGER_NAME,
    Schema,
    integer,
    pattern,
    ref,
    schemas,
    string,
)
from fcompute.api.proxy import PREFIX as PROXY_PREFIX
from fcompute.api.routing import Router
from fcompute.asyncinvoke.records import Status

OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
ANY_METHOD = "*"
# What a router method "*" stands for in the document: every method an HTTP trigger takes.
PROXY_METHODS = tuple(sorted(m.lower() for m in validation.HTTP_METHODS))
SERVICE = f"{API_PREFIX}/services/{{service}}"
FUNCTION = f"{SERVICE}/functions/{{function}}"
TRIGGERS = f"{FUNCTION}/triggers"
RECORDS = f"{FUNCTION}/stateful-async-invocations"
# A service in the path may carry a qualifier (svc.LATEST); only LATEST exists for now.
QUALIFIED = f"^(?:{validation.SERVICE_NAME.pattern})(?:\\.[^/]+)?$"
SIGNED: list[dict[str, list[str]]] = [{"FcSignature": []}]


def path_of(template: str) -> str:
    """The document's path for a router template: ``{path*}`` is written ``{path}``."""
    return template.replace("*}", "}")


def _param(name: str, where: str, schema: Schema, description: str = "",
           required: bool = False) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "schema": schema,
                             "required": required or where == "path"}
    if description:
        param["description"] = description
    return param


def parameters() -> dict[str, dict[str, Any]]:
    """``components.parameters``: every path segment, query parameter and header read."""
    decimal = "ASCII digits only"
    return {
        "QualifiedService": _param("service", "path", string(pattern=QUALIFIED),
                                   "service name, optionally '.{qualifier}': LATEST, a "
                                   "version id or an alias (404 VersionNotFound or "
                                   "AliasNotFound when there is none)"),
        "Version": _param("version", "path", string(pattern="^[0-9]{1,32}$"),
                          "a version id: 1, 2, ..."),
        "Alias": _param("alias", "path", ALIAS_NAME),
        "Direction": _param("direction", "query", string(enum=["BACKWARD", "FORWARD"],
                                                         default="BACKWARD"),
                            "BACKWARD lists the newest version first; case-insensitive"),
        "Service": _param("service", "path", string(pattern=pattern(validation.SERVICE_NAME)),
                          "service name (no qualifier)"),
        "Function": _param("function", "path", FUNCTION_NAME),
        "Trigger": _param("trigger", "path", TRIGGER_NAME),
        "InvocationId": _param("invocation_id", "path",
                               string(pattern="^[A-Za-z0-9_-]{1,128}$")),
        "Package": _param("package", "path", string(pattern="^[0-9a-f]{64}\\.zip$"),
                          "the code package's SHA-256, then .zip"),
        "ProxyPath": {**_param("path", "path", string(),
                               "the rest of the path, '/' included: the function's PATH_INFO"),
                      "x-fcompute-greedy": True},
        "Limit": _param("limit", "query", integer(1, limits.LIST_LIMIT_MAX),
                        f"{decimal}; default {limits.LIST_LIMIT_DEFAULT}"),
        "Prefix": _param("prefix", "query", string(), "only names starting with it"),
        "NextToken": _param("nextToken", "query", string(), "from the previous page"),
        "StartKey": _param("startKey", "query", string(), "the first name to list"),
        "IncludePayload": _param("includePayload", "query",
                                 string(enum=["true", "false"])),
        "IfMatch": _param("If-Match", "header", string(),
                          "the ETag the change is for: another one answers 412"),
        "Date": _param("Date", "header", string(format="http-date"),
                       "RFC 1123; signed, and within 15 minutes of the server's clock"),
        "ContentMD5": _param("Content-MD5", "header", string(),
                             "base64 of the body's MD5 (or of its 32 hex digits); checked "
                             "against the body, 400 on a mismatch"),
        "InvocationType": _param("X-Fc-Invocation-Type", "header",
                                 string(enum=["Sync", "Async"], default="Sync"),
                                 "case-insensitive"),
        "LogType": _param("X-Fc-Log-Type", "header", string(enum=["None", "Tail"]),
                          "Tail: x-fc-log-result has the last 4 KB of the log, base64"),
        "StatefulInvocationId": _param(
            "X-Fc-Stateful-Async-Invocation-Id", "header",
            string(pattern="^[A-Za-z0-9_-]{1,128}$"),
            "Async only: the invocation's id, unique per function (409 when taken)"),
    }


def _p(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: Schema | None = None, *, etag: bool = False,
        headers: dict[str, Any] | None = None, media: str = "application/json"
        ) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "headers": {
        "x-fc-request-id": {"$ref": "#/components/headers/RequestId"}, **(headers or {})}}
    if etag:
        response["headers"]["ETag"] = {"schema": string(), "description": "changes on update"}
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    return response


def _header(description: str, schema: Schema | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or string()}


def _op(op_id: str, summary: str, responses: dict[str, Any], *, params: Sequence[str] = (),
        body: Schema | None = None, reads_body: bool = False, errors: tuple[int, ...] = (),
        signed: bool = True) -> dict[str, Any]:
    names = list(params)
    if signed:
        names.append("Date")
    if body is not None or reads_body:
        names.append("ContentMD5")
    failures = {str(code): {"$ref": f"#/components/responses/E{code}"}
                for code in sorted({400, 403, 404, 405, *errors})}
    operation: dict[str, Any] = {"operationId": op_id, "summary": summary,
                                 "parameters": [_p(n) for n in names],
                                 "responses": {**responses, **failures}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    if not signed:
        operation["security"] = []
    return operation


LIST = ["Limit", "Prefix", "NextToken", "StartKey"]
DELETED = {"204": _ok("deleted")}


def _service_paths() -> dict[str, dict[str, Any]]:
    return {
        f"{API_PREFIX}/services": {
            "post": _op("createService", "Create a service",
                        {"200": _ok("the service", ref("Service"), etag=True)},
                        body=ref("ServiceCreate"), errors=(409, 413)),
            "get": _op("listServices", "List services by name",
                       {"200": _ok("a page", ref("ServiceList"))}, params=LIST),
        },
        SERVICE: {
            "get": _op("getService", "Get a service",
                       {"200": _ok("the service", ref("Service"), etag=True)},
                       params=["QualifiedService"]),
            "put": _op("updateService", "Update a service's fields",
                       {"200": _ok("the service", ref("Service"), etag=True)},
                       params=["Service", "IfMatch"], body=ref("ServiceUpdate"),
                       errors=(412, 413)),
            "delete": _op("deleteService", "Delete a service (refused while it has functions)",
                          DELETED, params=["Service", "IfMatch"], errors=(412,)),
        },
    }


def _function_paths() -> dict[str, dict[str, Any]]:
    one = _ok("the function", ref("Function"), etag=True)
    return {
        f"{SERVICE}/functions": {
            "post": _op("createFunction", "Create a function from a base64 zip",
                        {"200": one}, params=["Service"], body=ref("FunctionCreate"),
                        errors=(409, 413, 429)),
            "get": _op("listFunctions", "List a service's functions",
                       {"200": _ok("a page", ref("FunctionList"))},
                       params=["QualifiedService", *LIST]),
        },
        FUNCTION: {
            "get": _op("getFunction", "Get a function", {"200": one},
                       params=["QualifiedService", "Function"]),
            "put": _op("updateFunction", "Update a function's fields or code", {"200": one},
                       params=["Service", "Function", "IfMatch"], body=ref("FunctionUpdate"),
                       errors=(412, 413)),
            "delete": _op("deleteFunction", "Delete a function (refused while it has triggers)",
                          DELETED, params=["Service", "Function", "IfMatch"], errors=(412,)),
        },
        f"{FUNCTION}/code": {
            "get": _op("getFunctionCode", "A presigned link to the function's code",
                       {"200": _ok("checksum and link", ref("FunctionCode"))},
                       params=["QualifiedService", "Function"]),
        },
    }


def _trigger_paths() -> dict[str, dict[str, Any]]:
    one = _ok("the trigger", ref("Trigger"), etag=True)
    names = ["Service", "Function"]
    return {
        TRIGGERS: {
            "post": _op("createTrigger", "Create an http, timer or oss trigger", {"200": one},
                        params=names, body=ref("TriggerCreate"), errors=(409, 413, 429)),
            "get": _op("listTriggers", "List a function's triggers",
                       {"200": _ok("a page", ref("TriggerList"))}, params=[*names, *LIST]),
        },
        f"{TRIGGERS}/{{trigger}}": {
            "get": _op("getTrigger", "Get a trigger", {"200": one}, params=[*names, "Trigger"]),
            "put": _op("updateTrigger", "Update a trigger", {"200": one},
                       params=[*names, "Trigger", "IfMatch"], body=ref("TriggerUpdate"),
                       errors=(412, 413)),
            "delete": _op("deleteTrigger", "Delete a trigger", DELETED,
                          params=[*names, "Trigger", "IfMatch"], errors=(412,)),
        },
    }


def _version_paths() -> dict[str, dict[str, Any]]:
    alias = _ok("the alias", ref("Alias"), etag=True)
    return {
        f"{SERVICE}/versions": {
            "post": _op("publishServiceVersion",
                        "Publish a version: a snapshot of the service and its functions "
                        "(400 ServiceNotModified when nothing changed since the newest one)",
                        {"200": _ok("the version", ref("Version"))}, params=["Service"],
                        body=ref("VersionPublish"), errors=(413,)),
            "get": _op("listServiceVersions", "List versions, newest first by default",
                       {"200": _ok("a page", ref("VersionList"))},
                       params=["Service", "Limit", "NextToken", "StartKey", "Direction"]),
        },
        f"{SERVICE}/versions/{{version}}": {
            "delete": _op("deleteServiceVersion",
                          "Delete a version (400 VersionInUse while an alias points at it)",
                          DELETED, params=["Service", "Version"]),
        },
        f"{SERVICE}/aliases": {
            "post": _op("createAlias", "Create an alias of a version, with optional weights",
                        {"200": alias}, params=["Service"], body=ref("AliasCreate"),
                        errors=(409, 413)),
            "get": _op("listAliases", "List a service's aliases by name",
                       {"200": _ok("a page", ref("AliasList"))}, params=["Service", *LIST]),
        },
        f"{SERVICE}/aliases/{{alias}}": {
            "get": _op("getAlias", "Get an alias", {"200": alias}, params=["Service", "Alias"]),
            "put": _op("updateAlias", "Move an alias or change its weights", {"200": alias},
                       params=["Service", "Alias", "IfMatch"], body=ref("AliasUpdate"),
                       errors=(412, 413)),
            "delete": _op("deleteAlias", "Delete an alias", DELETED,
                          params=["Service", "Alias", "IfMatch"], errors=(412,)),
        },
    }


def _invocation_paths() -> dict[str, dict[str, Any]]:
    sync = _ok(
        "Sync: the handler's return value (a function error is a 200 with x-fc-error-type "
        "and an InvocationError body)",
        {"type": "string", "format": "binary"}, media="application/octet-stream", headers={
            "x-fc-code-checksum": _header("CRC-64/XZ of the code"),
            "x-fc-invocation-service-version": _header("LATEST"),
            "x-fc-cold-start": _header("true or false", string(enum=["true", "false"])),
            "Server-Timing": _header("code, start, init and handler durations in ms"),
            "x-fc-log-result": _header("with X-Fc-Log-Type: Tail: base64 of the log tail"),
            "x-fc-error-type": _header("UnhandledInvocationError when the function failed"),
        })
    accepted = _ok("Async: durably queued", headers={
        "x-fc-stateful-async-invocation-id": _header("the invocation's id")})
    invoke = _op("invokeFunction", "Invoke a function: the body is the event, as bytes",
                 {"200": sync, "202": accepted},
                 params=["QualifiedService", "Function", "InvocationType", "LogType",
                         "StatefulInvocationId"], reads_body=True, errors=(409, 413, 429))
    invoke["requestBody"] = {"content": {"*/*": {"schema": {
        "type": "string", "format": "binary",
        "maxLength": limits.MAX_SYNC_PAYLOAD_BYTES,
        "description": "at most 6 MB (Sync) or 128 KB (Async: larger is 400 PayloadTooLarge)",
    }}}}
    return {f"{FUNCTION}/invocations": {"post": invoke}}


def _async_paths() -> dict[str, dict[str, Any]]:
    config = _ok("the config", ref("AsyncInvokeConfig"))
    target = ["QualifiedService", "Function"]
    record = _ok("the record", ref("StatefulAsyncInvocation"))
    return {
        f"{FUNCTION}/async-invoke-config": {
            "put": _op("putAsyncInvokeConfig", "Set retries, event age and destinations",
                       {"200": config}, params=target, body=ref("AsyncInvokeConfigInput"),
                       errors=(413,)),
            "get": _op("getAsyncInvokeConfig", "Get the async invoke config", {"200": config},
                       params=target),
            "delete": _op("deleteAsyncInvokeConfig", "Delete the async invoke config", DELETED,
                          params=target),
        },
        f"{FUNCTION}/async-invoke-configs": {
            "get": _op("listAsyncInvokeConfigs", "The configs of every qualifier",
                       {"200": _ok("the configs", ref("AsyncInvokeConfigList"))},
                       params=["Service", "Function"]),
        },
        RECORDS: {
            "get": _op("listStatefulAsyncInvocations", "List async invocation records",
                       {"200": _ok("a page", ref("StatefulAsyncInvocationList"))},
                       params=[*target, "Limit", "RecordsNextToken", "Status", "TimeBegin",
                               "TimeEnd", "IdPrefix", "SortOrder", "IncludePayload"]),
        },
        f"{RECORDS}/{{invocation_id}}": {
            "get": _op("getStatefulAsyncInvocation", "Get an async invocation record",
                       {"200": record}, params=[*target, "InvocationId", "IncludePayload"]),
            "put": _op("stopStatefulAsyncInvocation", "Stop an async invocation",
                       {"200": record}, params=[*target, "InvocationId"], errors=(409,)),
        },
        f"{RECORDS}/{{invocation_id}}/replay": {
            "post": _op("replayStatefulAsyncInvocation", "Run an ended invocation again",
                        {"202": _ok("the new record", ref("StatefulAsyncInvocation"), headers={
                            "x-fc-stateful-async-invocation-id": _header("the new id")})},
                        params=[*target, "InvocationId"], body=ref("ReplayRequest"),
                        errors=(409, 413)),
        },
    }


def _record_parameters() -> dict[str, dict[str, Any]]:
    return {
        "RecordsNextToken": _param("nextToken", "query", string(pattern="^[0-9]+\\.[0-9]+$"),
                                   "from the previous page"),
        "Status": _param("status", "query", string(enum=[s.value for s in Status]),
                         "case-insensitive"),
        "TimeBegin": _param("startedTimeBegin", "query", EPOCH_MS, "inclusive"),
        "TimeEnd": _param("startedTimeEnd", "query", EPOCH_MS, "exclusive"),
        "IdPrefix": _param("invocationIdPrefix", "query", string()),
        "SortOrder": _param("sortOrderByTime", "query", string(enum=["asc", "desc"],
                                                                default="desc")),
        "Expires": _param("Expires", "query", integer(0, limits.MAX_EPOCH_S),
                          "seconds since the epoch", required=True),
        "Signature": _param("Signature", "query", string(pattern="^[0-9a-f]{64}$"),
                            required=True),
        "NotificationToken": _param("token", "query", string(),
                                    "the notification token, for senders that cannot set "
                                    "headers (Ceph RGW)"),
        "ProxyQuery": _param("query", "query", {"type": "object",
                                                "additionalProperties": string()},
                             "passed to the function as QUERY_STRING (signed, when signed)"),
    }


def _other_paths() -> dict[str, dict[str, Any]]:
    proxy_ok = {"default": {"description": "whatever the function answers, plus "
                                           "x-fc-request-id", "content": {"*/*": {}}},
                "502": {"description": "the function failed before it answered",
                        "content": _json(ref("InvocationError"))},
                "504": {"description": "the function did not answer within its timeout",
                        "content": _json(ref("InvocationError"))}}
    paths: dict[str, dict[str, Any]] = {
        f"{CODE_PATH}{{package}}": {
            "get": _op("downloadCode", f"Download a code package (links last {LINK_SECONDS} s)",
                       {"200": _ok("the zip", {"type": "string", "format": "binary"},
                                   media="application/zip")},
                       params=["Package", "Expires", "Signature"], signed=False),
        },
        OPENAPI_PATH: {
            "get": _op("getOpenApi", "This document", {"200": _ok("OpenAPI 3.1", {
                "type": "object"})}, signed=False),
        },
    }
    for template, extra in ((f"{PROXY_PREFIX}{{service}}/{{function}}", []),
                            (f"{PROXY_PREFIX}{{service}}/{{function}}/{{path}}", ["ProxyPath"])):
        methods: dict[str, Any] = {}
        for method in PROXY_METHODS:
            op = _op(f"httpTrigger{'Path' if extra else ''}{method.title()}",
                     "Call the function's HTTP trigger (WSGI)", proxy_ok,
                     params=["QualifiedService", "Function", *extra, "ProxyQuery", "Date"],
                     reads_body=True, errors=(429,), signed=False)
            op["security"] = [{}, *SIGNED]  # authType anonymous, or function: signed
            if method not in ("get", "head"):
                op["requestBody"] = {"content": {"*/*": {"schema": {
                    "type": "string", "format": "binary",
                    "maxLength": limits.MAX_SYNC_PAYLOAD_BYTES}}}}
            methods[method] = op
        paths[template] = methods
    return paths


def _notification_paths() -> dict[str, dict[str, Any]]:
    receive = _op("receiveBucketNotification",
                  "Fire the oss triggers of an external bucket: MinIO's webhook or Ceph RGW's "
                  "HTTP notification body, answered once the invocations are queued",
                  {"200": _ok("the invocations started", ref("BucketNotificationResult"))},
                  params=["NotificationToken"], body=ref("BucketNotification"),
                  errors=(409, 413))
    # The token (header or query), or an FC signature, or nothing on an open platform.
    receive["security"] = [{"NotificationToken": []}, *SIGNED, {}]
    return {NOTIFICATIONS_PATH: {"post": receive}}


def _error_responses() -> dict[str, Any]:
    meaning = {400: "invalid request", 403: "signature missing, wrong or expired",
               404: "no such resource or path", 405: "method not allowed here",
               409: "already exists, or the resource's state forbids it",
               412: "If-Match is not the current ETag", 413: "body too large",
               429: "limit reached, or every instance of the function busy"}
    return {f"E{status}": {"description": text, "headers": {
        "x-fc-request-id": {"$ref": "#/components/headers/RequestId"}},
        "content": _json(ref("Error"))} for status, text in meaning.items()}


def document() -> dict[str, Any]:
    paths = {**_service_paths(), **_function_paths(), **_trigger_paths(),
             **_version_paths(), **_invocation_paths(), **_async_paths(), **_other_paths(),
             **_notification_paths()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "fcompute: Function Compute 2.0 API", "version": "2016-08-15",
                 "description": "Every error is a 4xx with an Error body and an "
                                "x-fc-request-id; a 5xx is a platform bug. A query "
                                "parameter that is empty counts as not given; so does a "
                                "JSON field that is null, where the schema allows null."},
        "security": SIGNED,
        "paths": {path_of(template): item for template, item in paths.items()},
        "components": {
            "schemas": schemas(),
            "parameters": {**parameters(), **_record_parameters()},
            "responses": _error_responses(),
            "headers": {"RequestId": {"description": "the request's id",
                                      "schema": string(), "required": True}},
            "securitySchemes": {"FcSignature": {
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": "'FC <accessKeyId>:<base64 HMAC-SHA256>' over the method, "
                               "Content-MD5, Content-Type, Date, the sorted x-fc-* headers "
                               "and the unescaped path (HTTP triggers add the sorted query "
                               "pairs); required when the platform has access keys"},
                "NotificationToken": {
                    "type": "http", "scheme": "bearer",
                    "description": "FCOMPUTE_NOTIFICATION_TOKEN, for bucket notifications: "
                                   "'Authorization: Bearer <token>' (or the header equal to "
                                   "the token, or ?token=<token>)"}},
        },
    }


def held_to(described: dict[str, Any], routes: list[tuple[str, list[str]]]) -> dict[str, Any]:
    """``described`` with exactly the router's (path, method) pairs: an operation without
    a route is left out, and a route without a description gets a stub marked
    ``x-fcompute-undescribed`` (which the tests refuse), so the document served never
    hides a route."""
    paths: dict[str, dict[str, Any]] = {}
    for template, methods in routes:
        path = path_of(template)
        item = described["paths"].get(path, {})
        wanted = [m.lower() for m in methods if m != ANY_METHOD]
        if ANY_METHOD in methods:
            wanted += [m for m in PROXY_METHODS if m not in wanted]
        paths[path] = {method: item.get(method) or {
            "summary": "not described in fcompute/api/openapi.py",
            "x-fcompute-undescribed": True,
            "responses": {"default": {"description": "not described"}},
        } for method in wanted}
    return {**described, "paths": paths}


class OpenApiDocument:
    """Serves :func:`document` held to the router, rendered at the first request (after
    every route is registered)."""

    def __init__(self) -> None:
        self._router: Router | None = None
        self._body = b""

    def register(self, router: Router) -> None:
        self._router = router
        router.add("GET", OPENAPI_PATH, self.serve)

    async def serve(self, _request: Request, _send: Send) -> Response:
        if not self._body and self._router is not None:
            self._body = jsonio.dumps(held_to(document(), self._router.routes()))
        return Response(body=self._body)
