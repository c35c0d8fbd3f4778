"""The invocation record: what happened to one async invocation, attempt by attempt.

Records are immutable snapshots read from the queue (``fcompute.asyncinvoke.queue``);
the FC front door renders them (``api/render_async.py``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fcompute.errors import InvalidArgument

JsonDict = dict[str, Any]


class Status(StrEnum):
    """Lifecycle of an invocation (and of a destination delivery)."""

    ENQUEUED = "Enqueued"
    RUNNING = "Running"
    RETRYING = "Retrying"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EXPIRED = "Expired"
    STOPPED = "Stopped"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def pending(self) -> bool:
        """Waiting in the queue for its next attempt."""
        return self in (Status.ENQUEUED, Status.RETRYING)

    @classmethod
    def parse(cls, text: str) -> Status:
        for status in cls:
            if status.value.lower() == text.strip().lower():
                return status
        names = ", ".join(s.value for s in cls)
        raise InvalidArgument(f"unknown invocation status {text!r}; use one of {names}")


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.EXPIRED, Status.STOPPED})
REPLAYABLE = frozenset({Status.FAILED, Status.EXPIRED, Status.STOPPED})


class AttemptStatus(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    # The platform stopped (or crashed) while the attempt ran: it runs again.
    INTERRUPTED = "Interrupted"
    STOPPED = "Stopped"
    # Claimed, but the event was past its age limit: not run.
    EXPIRED = "Expired"


class JobKind(StrEnum):
    INVOCATION = "invocation"
    DELIVERY = "delivery"


class Condition(StrEnum):
    """Which destination a delivery goes to."""

    ON_SUCCESS = "onSuccess"
    ON_FAILURE = "onFailure"


@dataclass(frozen=True)
class CodeVersion:
    """The code and configuration an attempt ran, so a replay can run the same again.

    ``qualifier`` is what the invocation was sent to, ``version_id`` the version it
    resolved to (LATEST or a published version). A published version is immutable, so a
    replay runs it again by id; LATEST changes, so the code digest addresses the package
    in the code store, which keeps it while a record may still be replayed on it.
    """

    qualifier: str
    code_checksum: str
    code_digest: str
    function_etag: str
    version_id: str = "LATEST"

    def to_json(self) -> JsonDict:
        """How queues store it (the API shows the same fields: ``api/render_async.py``)."""
        return {"qualifier": self.qualifier, "versionId": self.version_id,
                "codeChecksum": self.code_checksum, "codeDigest": self.code_digest,
                "functionEtag": self.function_etag}

    @classmethod
    def from_json(cls, data: JsonDict) -> CodeVersion:
        # Records written before versions existed name no version: they ran LATEST.
        return cls(str(data["qualifier"]), str(data["codeChecksum"]), str(data["codeDigest"]),
                   str(data["functionEtag"]), str(data.get("versionId", "LATEST")))


@dataclass(frozen=True)
class Attempt:
    number: int
    request_id: str
    started_ms: int
    ended_ms: int | None
    status: AttemptStatus
    error: JsonDict | None = None
    version: CodeVersion | None = None



@dataclass(frozen=True)
class Delivery:
    """One destination delivery: itself queued, retried and recorded like an invocation."""

    delivery_id: str
    condition: Condition
    destination: str
    status: Status
    created_ms: int
    ended_ms: int | None
    attempts: list[Attempt] = field(default_factory=list)



def payload_fields(prefix: str, data: bytes | None) -> JsonDict:
    """Bytes as text when they are UTF-8, else base64 with an explicit encoding field."""
    if data is None:
        return {prefix: None}
    try:
        return {prefix: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {prefix: base64.b64encode(data).decode(), f"{prefix}Encoding": "base64"}


@dataclass(frozen=True)
class InvocationRecord:
    invocation_id: str
    request_id: str
    service: str
    function: str
    qualifier: str
    status: Status
    created_ms: int
    ended_ms: int | None
    payload: bytes
    result: bytes | None
    error: JsonDict | None
    attempts: list[Attempt]
    function_errors: int
    system_errors: int
    pinned: CodeVersion | None
    replay_of: str | None
    deliveries: list[Delivery] = field(default_factory=list)
    replayed_by: list[str] = field(default_factory=list)

    @property
    def version(self) -> CodeVersion | None:
        """The code the invocation first ran on (a pinned replay's code if it never ran)."""
        ran = next((a.version for a in self.attempts if a.version is not None), None)
        return ran or self.pinned

    def destination_status(self) -> str:
        if not self.deliveries:
            return ""
        return ",".join(d.status.value for d in self.deliveries)
