"""Turns a code directory into the zip the API expects.

The archive is deterministic (sorted entries, fixed timestamps) so deploying an
unchanged directory yields the same ``codeChecksum``, and a changed checksum
really means changed code.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path

# Build leftovers that only bloat the package; they are rebuilt inside the instance anyway.
SKIPPED_DIRS = frozenset({"__pycache__", ".git"})
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def zip_directory(
    directory: str | os.PathLike[str], *, include: Sequence[str | os.PathLike[str]] = ()
) -> bytes:
    """The code package of ``directory``.

    ``include`` names more directories (installed dependencies) whose files go at the root
    of the package beside the code; where a path exists in both, the code directory's own
    file wins, as a module the user wrote shadows an installed one on ``sys.path``.
    """
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    entries: dict[str, Path] = {}
    for base in [*map(Path, include), root]:
        entries.update((path.relative_to(base).as_posix(), path) for path in _files(base))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            path = entries[name]
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            # Keep the permission bits so executables stay executable once unpacked.
            mode = stat.S_IMODE(path.stat().st_mode)
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        found.extend(Path(current) / name for name in files)
    return found


def load_code(code: bytes | str | os.PathLike[str]) -> bytes:
    """Zip bytes as they are; a directory zipped; a path to a ``.zip`` file read."""
    if isinstance(code, bytes | bytearray):
        return bytes(code)
    path = Path(code)
    if path.is_dir():
        return zip_directory(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return path.read_bytes()
    raise ValueError(f"code must be zip bytes, a directory or a .zip file; got {path}")
