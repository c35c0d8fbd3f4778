"""What the store announces after each object change: OSS triggers listen to it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ObjectEvent:
    name: str  # OSS's event name without its "oss:" prefix, e.g. "ObjectCreated:PutObject"
    bucket: str
    key: str
    size: int  # the object's size now (0 once removed)
    etag: str
    delta_size: int  # size now minus size before
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)
    time: float = 0.0  # seconds since the epoch
    source_ip: str = ""
    request_id: str = ""
    # Whose temporary credentials made the change (``StorageKeys.scope``; "" otherwise):
    # a trigger can tell its own function's writes apart and not fire itself in a loop.
    actor: str = ""
