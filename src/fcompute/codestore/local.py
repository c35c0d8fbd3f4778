"""Code store on local disk: ``zips/<sha256>.zip`` and ``trees/<sha256>/``.

A package is unpacked when it is uploaded, so what was verified is exactly what instances
run. Writes are ordered so a crash never leaves a half-made package under its address:

1. the upload goes to ``zips/.upload-*`` and is fsynced;
2. it is unpacked and verified into ``trees/.extract-*``, flushed with one ``syncfs`` and
   renamed to ``trees/<sha256>``;
3. the zip is renamed to ``zips/<sha256>.zip``.

Removal renames the tree to ``trees/.trash-*`` before deleting it. Leftovers of any of
these steps are deleted when the store opens.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import cast

from fastcrc import crc64

from fcompute import limits
from fcompute.codestore.base import CodeInfo
from fcompute.codestore.locks import KeyedLocks
from fcompute.codestore.unpack import Unpacker, unpack_zip
from fcompute.durability import fsync_dir
from fcompute.errors import ApiError, EntityTooLarge, InvalidArgument, NotFound

log = logging.getLogger(__name__)

_DIGEST = re.compile(r"[0-9a-f]{64}")
_LEFTOVER_PREFIXES = (".upload-", ".extract-", ".trash-", "tmp")


def code_checksum(data: bytes) -> str:
    """FC's codeChecksum: CRC-64/XZ (ECMA-182 polynomial, reflected) as a decimal string."""
    return str(crc64.xz(data))


class LocalCodeStore:
    def __init__(
        self, root: Path, *, unpacker: Unpacker = unpack_zip,
        max_unzipped_bytes: int = limits.MAX_UNZIPPED_CODE_BYTES,
    ) -> None:
        self._zips = root / "zips"
        self._trees = root / "trees"
        self._zips.mkdir(parents=True, exist_ok=True)
        self._trees.mkdir(parents=True, exist_ok=True)
        self._unpacker = unpacker
        self._max_unzipped = max_unzipped_bytes
        self._locks = KeyedLocks()
        self._holds: Counter[str] = Counter()
        self._holds_guard = threading.Lock()
        self._remove_leftovers()

    # storing -----------------------------------------------------------------

    def put(self, zip_bytes: bytes) -> CodeInfo:
        if len(zip_bytes) > limits.MAX_CODE_ZIP_BYTES:
            raise EntityTooLarge(
                f"code package is {len(zip_bytes)} bytes, at most "
                f"{limits.MAX_CODE_ZIP_BYTES} (100 MB) allowed"
            )
        digest = hashlib.sha256(zip_bytes).hexdigest()
        zip_path, tree = self._zips / f"{digest}.zip", self._trees / digest
        with self._locks.hold(digest):
            if not zip_path.exists():
                staged = self._stage(zip_bytes)
                try:
                    if not tree.is_dir():
                        self._unpack(staged, tree)
                    os.replace(staged, zip_path)
                    fsync_dir(self._zips)
                except BaseException:
                    staged.unlink(missing_ok=True)
                    raise
            elif not tree.is_dir():
                self._unpack(zip_path, tree)
            with self._holds_guard:
                self._holds[digest] += 1
        return CodeInfo(digest=digest, checksum=code_checksum(zip_bytes), size=len(zip_bytes))

    def release(self, digest: str) -> None:
        with self._holds_guard:
            if self._holds[digest] <= 1:
                del self._holds[digest]
            else:
                self._holds[digest] -= 1

    def _stage(self, zip_bytes: bytes) -> Path:
        fd, name = tempfile.mkstemp(dir=self._zips, prefix=".upload-")
        with os.fdopen(fd, "wb") as out:
            out.write(zip_bytes)
            out.flush()
            os.fsync(out.fileno())
        return Path(name)

    def _unpack(self, source: Path, tree: Path) -> None:
        """Unpacks ``source`` into place at ``tree``; the caller holds the digest's lock."""
        staging = Path(tempfile.mkdtemp(dir=self._trees, prefix=".extract-"))
        try:
            self._unpacker(source, staging, self._max_unzipped)
            _flush_file_system(staging)
            os.replace(staging, tree)
            fsync_dir(self._trees)
        except BaseException:
            _purge(staging)
            raise

    # reading -----------------------------------------------------------------

    def contains(self, digest: str) -> bool:
        return bool(_DIGEST.fullmatch(digest)) and (self._zips / f"{digest}.zip").exists()

    def zip_path(self, digest: str) -> Path:
        path = self._zips / f"{digest}.zip"
        if not _DIGEST.fullmatch(digest) or not path.exists():
            raise NotFound(f"code package {digest!r} does not exist", code="CodeNotFound")
        return path

    def extracted(self, digest: str) -> Path:
        tree = self._trees / digest
        # A tree only ever appears complete (renamed into place), so no lock is needed to
        # use one: cold starts of code that is unpacked never wait for anything.
        if _DIGEST.fullmatch(digest) and tree.is_dir():
            return tree
        with self._locks.hold(digest):
            if tree.is_dir():
                return tree
            source = self.zip_path(digest)
            try:
                self._unpack(source, tree)
            except ApiError as exc:
                raise InvalidArgument(
                    f"the stored code package {digest} cannot be unpacked ({exc.message}); "
                    "upload the code again"
                ) from None
        return tree

    # removing ----------------------------------------------------------------

    def remove_unused(self, in_use: set[str]) -> int:
        stored = {p.name[:-4] for p in self._zips.glob("*.zip")}
        stored |= {p.name for p in self._trees.iterdir()}
        removed = 0
        for digest in sorted(d for d in stored - in_use if _DIGEST.fullmatch(d)):
            with self._locks.hold(digest):
                with self._holds_guard:
                    if self._holds[digest]:
                        continue
                trash = self._take_away(digest)
            if trash is not None:
                _purge(trash)  # outside the lock: a re-upload of this digest need not wait
            removed += 1
        return removed

    def _take_away(self, digest: str) -> Path | None:
        """Moves the package out of its address; returns the tree left to delete."""
        tree = self._trees / digest
        trash = None
        if tree.is_dir():
            trash = Path(tempfile.mkdtemp(dir=self._trees, prefix=f".trash-{digest[:12]}-"))
            os.replace(tree, trash)
        (self._zips / f"{digest}.zip").unlink(missing_ok=True)
        return trash

    def _remove_leftovers(self) -> None:
        for directory in (self._zips, self._trees):
            for path in directory.iterdir():
                if not path.name.startswith(_LEFTOVER_PREFIXES):
                    continue
                if path.is_dir() and not path.is_symlink():
                    _purge(path)
                else:
                    path.unlink(missing_ok=True)


def _purge(path: Path) -> None:
    """Deletes a tree whose directories were made read-only."""
    for directory, _dirs, _files in os.walk(path):
        os.chmod(directory, 0o700)
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        log.warning("could not delete %s completely", path)




def _load_syncfs() -> Callable[[int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):  # not Linux
        return None
    function.argtypes = [ctypes.c_int]
    return cast(Callable[[int], int], function)


_syncfs = _load_syncfs()


def _flush_file_system(path: Path) -> None:
    """Makes a new tree durable before it is renamed into place: one syncfs(2) of its file
    system costs one flush, where an fsync per file would cost one per file."""
    if _syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
