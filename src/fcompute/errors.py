"""Errors the platform reports to API callers.

Every error a client can see is an :class:`ApiError` carrying the FC error code
and HTTP status; the API layer turns it into ``{"ErrorCode", "ErrorMessage"}``.

    ApiError                      (code, status, message)
    ├── InvalidArgument           400
    ├── ServiceNotEmpty           400
    ├── FunctionNotEmpty          400
    ├── EntityTooLarge            413 (payloads and code packages over a limit)
    ├── SignatureNotMatch         403
    ├── InvalidAccessKeyID        403
    ├── AccessDenied              403
    ├── NotFound                  404 (ServiceNotFound, FunctionNotFound, ...)
    ├── MethodNotAllowed          405
    ├── AlreadyExists             409 (ServiceAlreadyExists, InvocationAlreadyExists, ...)
    ├── Conflict                  409 (the resource's state forbids the operation)
    ├── PreconditionFailed        412
    ├── ResourceExhausted         429
    └── ServiceUnavailable        503 (the platform is shutting down)

Errors raised *by user code* are not exceptions of the platform: they travel as
invocation results (see ``fcompute.invoke.result``).
"""

from __future__ import annotations


class ApiError(Exception):
    """An error with an FC error code and an HTTP status."""

    status: int = 400
    code: str = "InvalidArgument"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidArgument(ApiError):
    status = 400
    code = "InvalidArgument"


class ServiceNotEmpty(ApiError):
    status = 400
    code = "ServiceNotEmpty"


class FunctionNotEmpty(ApiError):
    status = 400
    code = "FunctionNotEmpty"


class EntityTooLarge(ApiError):
    status = 413
    code = "EntityTooLarge"


class SignatureNotMatch(ApiError):
    status = 403
    code = "SignatureNotMatch"


class InvalidAccessKeyID(ApiError):
    status = 403
    code = "InvalidAccessKeyID"


class AccessDenied(ApiError):
    status = 403
    code = "AccessDenied"


class NotFound(ApiError):
    status = 404
    code = "NotFound"


class MethodNotAllowed(ApiError):
    status = 405
    code = "MethodNotAllowed"


class AlreadyExists(ApiError):
    status = 409
    code = "AlreadyExists"


class Conflict(ApiError):
    status = 409
    code = "ResourceConflict"


class PreconditionFailed(ApiError):
    status = 412
    code = "PreconditionFailed"


class ResourceExhausted(ApiError):
    status = 429
    code = "ResourceExhausted"


class ServiceUnavailable(ApiError):
    status = 503
    code = "ServiceUnavailable"


def service_not_found(name: str) -> NotFound:
    return NotFound(f"service '{name}' does not exist", code="ServiceNotFound")


def function_not_found(service: str, name: str) -> NotFound:
    return NotFound(
        f"function '{name}' does not exist in service '{service}'", code="FunctionNotFound"
    )


def trigger_not_found(service: str, function: str, name: str) -> NotFound:
    return NotFound(
        f"trigger '{name}' does not exist in function '{service}/{function}'",
        code="TriggerNotFound",
    )


def version_not_found(service: str, version: str) -> NotFound:
    return NotFound(f"version '{version}' of service '{service}' does not exist",
                    code="VersionNotFound")


def alias_not_found(service: str, alias: str) -> NotFound:
    return NotFound(f"alias '{alias}' of service '{service}' does not exist",
                    code="AliasNotFound")
