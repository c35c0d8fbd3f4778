"""The code store seam.

A code package is a zip addressed by its SHA-256. ``put`` verifies every entry of the zip
(names, sizes, CRCs, compression; see ``entries.py`` and ``unpack.py``) and unpacks it, so a
package that is stored can always be run; ``extracted`` gives the directory every instance
of that code shares read-only. All methods block on disk: callers run them off the event
loop. They are safe to call from several threads at once; work on one digest never waits
for work on another.
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
    def put(self, zip_bytes: bytes) -> CodeInfo:
        """Verifies and stores a package (idempotent for equal content).

        Raises InvalidArgument naming the entry when the zip cannot be unpacked exactly as it
        claims, EntityTooLarge when the zip or what it really inflates to is over a limit.
        The package is *held* from then on: ``remove_unused`` keeps it, whatever it is told,
        until ``release`` is called once for this ``put``, which the caller does when the
        record that references the package is durable (or was never written).

        Example: ``put(zip)`` → ``CodeInfo(digest="9f86d0…", checksum="1234…", size=311)``.
        """
        ...

    def release(self, digest: str) -> None:
        """Ends the hold of one ``put`` of ``digest``."""
        ...

    def contains(self, digest: str) -> bool:
        """Whether the package is stored (never raises; a malformed digest is absent)."""
        ...

    def zip_path(self, digest: str) -> Path:
        """The stored zip, as uploaded; raises NotFound (CodeNotFound) when absent."""
        ...

    def extracted(self, digest: str) -> Path:
        """The directory holding the unpacked code: read-only, shared by every instance.

        Unpacks again from the zip when the directory is missing. Raises NotFound
        (CodeNotFound) when the package is not stored, InvalidArgument when a zip stored by
        an earlier version of the platform fails today's checks.
        Example: ``extracted("9f86d0…")`` → ``Path("<data-dir>/code/trees/9f86d0…")``.
        """
        ...

    def remove_unused(self, in_use: set[str]) -> int:
        """Removes every package outside ``in_use`` and not held; returns how many.

        The caller vouches for ``in_use``: it must name every package a function references
        or an instance may still run (their directories are bind-mounted into instances).
        """
        ...
