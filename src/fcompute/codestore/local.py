"""Code store on local disk: ``zips/<sha256>.zip`` and ``trees/<sha256>/``."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from pathlib import Path, PurePosixPath

from fastcrc import crc64

from fcompute import limits
from fcompute.codestore.base import CodeInfo
from fcompute.errors import EntityTooLarge, InvalidArgument, NotFound


def code_checksum(data: bytes) -> str:
    """FC's codeChecksum: CRC-64/XZ (ECMA-182 polynomial, reflected) as a decimal string."""
    return str(crc64.xz(data))


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts


class LocalCodeStore:
    def __init__(self, root: Path) -> None:
        self._zips = root / "zips"
        self._trees = root / "trees"
        self._zips.mkdir(parents=True, exist_ok=True)
        self._trees.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def put(self, zip_bytes: bytes) -> CodeInfo:
        if len(zip_bytes) > limits.MAX_CODE_ZIP_BYTES:
            raise EntityTooLarge(
                f"code package is {len(zip_bytes)} bytes, at most "
                f"{limits.MAX_CODE_ZIP_BYTES} (100 MB) allowed"
            )
        self._validate(zip_bytes)
        digest = hashlib.sha256(zip_bytes).hexdigest()
        target = self._zips / f"{digest}.zip"
        if not target.exists():
            with tempfile.NamedTemporaryFile(dir=self._zips, delete=False) as tmp:
                tmp.write(zip_bytes)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, target)
        return CodeInfo(digest=digest, checksum=code_checksum(zip_bytes), size=len(zip_bytes))

    @staticmethod
    def _validate(zip_bytes: bytes) -> None:
        try:
            with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
                total = 0
                links = {info.filename.rstrip("/") for info in archive.infolist()
                         if _is_symlink(info)}
                for info in archive.infolist():
                    if not _safe_member(info.filename):
                        raise InvalidArgument(
                            f"code zip entry {info.filename!r} points outside the code directory"
                        )
                    # An entry below a symlink would be written through the link on extraction.
                    parents = PurePosixPath(info.filename).parents
                    if any(str(parent) in links for parent in parents):
                        raise InvalidArgument(
                            f"code zip entry {info.filename!r} lies below a symbolic link"
                        )
                    total += info.file_size
                if total > limits.MAX_UNZIPPED_CODE_BYTES:
                    raise EntityTooLarge(
                        f"code unpacks to {total} bytes, at most "
                        f"{limits.MAX_UNZIPPED_CODE_BYTES} allowed"
                    )
        except zipfile.BadZipFile as exc:
            raise InvalidArgument(f"code.zipFile is not a valid zip archive: {exc}") from None

    def zip_path(self, digest: str) -> Path:
        path = self._zips / f"{digest}.zip"
        if len(digest) != 64 or not path.exists():
            raise NotFound(f"code package {digest!r} does not exist", code="CodeNotFound")
        return path

    def extracted(self, digest: str) -> Path:
        tree = self._trees / digest
        if tree.is_dir():
            return tree
        with self._lock:
            if tree.is_dir():
                return tree
            staging = Path(tempfile.mkdtemp(dir=self._trees, prefix=".extract-"))
            try:
                with zipfile.ZipFile(self.zip_path(digest)) as archive:
                    links: list[tuple[str, str]] = []
                    for info in archive.infolist():
                        if _is_symlink(info):
                            links.append((info.filename.rstrip("/"),
                                          archive.read(info).decode("utf-8")))
                            continue
                        archive.extract(info, staging)
                        mode = (info.external_attr >> 16) & 0o777
                        if mode and not info.is_dir():
                            # Keep the executable bit of scripts; never keep write bits.
                            os.chmod(staging / info.filename, (mode & 0o555) | 0o444)
                    # Links last: nothing is ever extracted through one. Their targets are
                    # only read by the instance, which sees what its sandbox lets it see.
                    for name, target in links:
                        link = staging / name
                        link.parent.mkdir(parents=True, exist_ok=True)
                        link.unlink(missing_ok=True)
                        os.symlink(target, link)
                _make_read_only(staging)
                os.replace(staging, tree)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return tree

    def remove_unused(self, in_use: set[str]) -> int:
        removed = 0
        for path in self._zips.glob("*.zip"):
            digest = path.stem
            if digest not in in_use:
                path.unlink(missing_ok=True)
                shutil.rmtree(self._trees / digest, ignore_errors=True)
                removed += 1
        return removed


def _make_read_only(root: Path) -> None:
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, mode & ~0o222 | 0o444)
        os.chmod(directory, 0o555)
