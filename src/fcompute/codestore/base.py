"""The code store seam.

Contract: ``put`` validates a zip and stores it under its SHA-256 (idempotent for
equal content); ``extracted`` returns a directory holding the unpacked code, created
at most once per digest and shared read-only by every instance of that code.
All methods block on disk: callers run them off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class CodeInfo:
    digest: str  # sha256 hex: the address
    checksum: str  # CRC-64/XZ as a decimal string, the FC codeChecksum
    size: int  # bytes of the zip


class CodeStore(Protocol):
    def put(self, zip_bytes: bytes) -> CodeInfo: ...
    def zip_path(self, digest: str) -> Path: ...
    def extracted(self, digest: str) -> Path: ...
    def remove_unused(self, in_use: set[str]) -> int: ...
