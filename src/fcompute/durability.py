"""Making renames and removals durable: a directory's entries are on disk only once the
directory itself is fsynced (the code store and the object store both rely on it)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
