"""Change events: how the control services announce what changed.

Listeners (the function catalog, the instance pools, the code collector, the async
config cache; later the trigger schedulers, the provisioner and metrics) subscribe once
at start-up and are called synchronously, on the event loop, after the change is
committed to the store. A listener must be quick and must not raise; one that does is
logged and the others still run.

Only this process hears these events. Another platform process sharing the database
learns of a change when its cached entries expire (``--function-cache-seconds``): every
cache that a change would invalidate here also has that time to live there. See
``docs/architecture.md``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


class Change(enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True)
class ServiceChanged:
    service: str
    service_id: str
    change: Change


@dataclass(frozen=True)
class FunctionChanged:
    service: str
    function: str
    function_id: str
    change: Change
    # The code package before and after (equal when only the configuration changed;
    # ``code_digest`` is "" once deleted).
    previous_code_digest: str
    code_digest: str
    # Whether anything an instance runs with changed (False: only the ETag would differ).
    config_changed: bool


@dataclass(frozen=True)
class TriggerChanged:
    service: str
    function: str
    trigger: str
    trigger_type: str
    change: Change


@dataclass(frozen=True)
class VersionPublished:
    service: str
    service_id: str
    version_id: str


@dataclass(frozen=True)
class VersionDeleted:
    service: str
    service_id: str
    version_id: str
    function_ids: tuple[str, ...]
    code_digests: tuple[str, ...]


@dataclass(frozen=True)
class AliasChanged:
    """An alias was created, moved (version or weights) or deleted."""

    service: str
    alias: str
    change: Change


@dataclass(frozen=True)
class AsyncConfigChanged:
    service: str
    function: str
    function_id: str
    qualifier: str


ChangeEvent = (
    ServiceChanged | FunctionChanged | TriggerChanged | VersionPublished | VersionDeleted
    | AliasChanged | AsyncConfigChanged
)
Listener = Callable[[ChangeEvent], None]


class ChangeEvents:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, event: ChangeEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("change listener %r failed on %r", listener, event)
