"""Object files on disk: the bytes, then the object's description as a trailer.

An object file is the object's data, followed by its description as JSON, the JSON's
length (8 bytes, big-endian) and a magic marker. The description goes last because it
holds what is known only once all the data is written (size, ETag, CRCs); keeping both in
one file means one ``rename`` makes an object visible whole, and a reader that opened the
file keeps reading the object it opened even if a new one replaces it.

Everything here is blocking file I/O: callers run it in worker threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from fastcrc import crc64

from fcompute.durability import fsync_dir

MAGIC = b"FCOBJ1\n"
TRAILER_LEN = 8 + len(MAGIC)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digests:
    """What was computed over an object's (or part's) bytes while they were written."""

    size: int
    md5: bytes
    crc64: int
    crc32: int
    sha256: bytes | None


class ObjectWriter:
    """Writes a new object file under a temporary name; ``commit`` renames it into place."""

    def __init__(self, tmp_path: Path, *, want_sha256: bool = False,
                 want_md5: bool = True) -> None:
        self.tmp_path = tmp_path
        self._file: BinaryIO = open(tmp_path, "xb")  # noqa: SIM115 - closed by finish/abort
        self._md5 = hashlib.md5() if want_md5 else None
        self._sha256 = hashlib.sha256() if want_sha256 else None
        self._crc64 = 0
        self._crc32 = 0
        self._size = 0

    def write(self, data: bytes) -> None:
        self.store(data)
        self.hash(data)

    def store(self, data: bytes) -> None:
        """Writes ``data`` and updates the CRCs. With :meth:`hash`, the two halves of
        ``write``: they may run at the same time in two threads, each in order."""
        self._file.write(data)
        self._crc64 = crc64.xz(data, initial=self._crc64) if self._size else crc64.xz(data)
        self._crc32 = zlib.crc32(data, self._crc32)
        self._size += len(data)

    def hash(self, data: bytes) -> None:
        """Updates the MD5 (and SHA-256): the slow part, which releases the GIL."""
        if self._md5 is not None:
            self._md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)

    def digests(self) -> Digests:
        return Digests(self._size, b"" if self._md5 is None else self._md5.digest(),
                       self._crc64 if self._size else 0, self._crc32,
                       None if self._sha256 is None else self._sha256.digest())

    def finish(self, description: dict[str, Any]) -> None:
        """Appends the description and makes the file durable (not yet visible)."""
        trailer = json.dumps(description, separators=(",", ":")).encode()
        self._file.write(trailer + len(trailer).to_bytes(8, "big") + MAGIC)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)


def commit(tmp_path: Path, final_path: Path) -> None:
    """Makes a finished file visible under ``final_path``, durably (the directory too)."""
    final_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp_path, final_path)
    fsync_dir(final_path.parent)


def remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


class CorruptObject(Exception):
    pass


def read_description(file: BinaryIO) -> tuple[dict[str, Any], int]:
    """The description of an open object file and its data's length."""
    end = file.seek(0, os.SEEK_END)
    if end < TRAILER_LEN:
        raise CorruptObject("too short")
    file.seek(end - TRAILER_LEN)
    tail = file.read(TRAILER_LEN)
    if tail[8:] != MAGIC:
        raise CorruptObject("no trailer")
    length = int.from_bytes(tail[:8], "big")
    data_len = end - TRAILER_LEN - length
    if data_len < 0:
        raise CorruptObject("bad trailer length")
    file.seek(data_len)
    description = json.loads(file.read(length))
    if not isinstance(description, dict):
        raise CorruptObject("bad description")
    return description, data_len


def read_range(file: BinaryIO, start: int, end: int, chunk: int = CHUNK) -> bytes:
    """Bytes ``start`` up to (not including) ``end``, at most ``chunk`` of them."""
    file.seek(start)
    return file.read(min(chunk, end - start))
