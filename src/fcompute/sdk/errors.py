"""Exceptions raised by the SDK.

    FcError                 base class: catch this to handle every SDK failure
    ├── FcApiError          the platform answered with an FC error (status >= 400)
    └── FcConnectionError   the platform could not be reached
        └── FcTimeoutError  the platform did not answer in time

A function that fails while running is *not* an exception here: invoke returns an
``InvocationResult`` whose ``error`` is set, because the call itself succeeded.
"""

from __future__ import annotations


class FcError(Exception):
    """Any failure of an SDK call."""


class FcApiError(FcError):
    """An error answer of the FC API: ``{"ErrorCode", "ErrorMessage"}`` plus a request id."""

    def __init__(self, status: int, code: str, message: str, request_id: str = "") -> None:
        super().__init__(f"{code}: {message} (HTTP {status}, request id {request_id or '-'})")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class FcConnectionError(FcError):
    """The endpoint refused the connection, could not be resolved, or timed out."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"cannot reach fcompute at {endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class FcTimeoutError(FcConnectionError):
    """The endpoint accepted the request but gave no answer within the client's timeout."""
