"""Builds zip archives byte by byte, so tests can write the header fields that lie.

``zipfile`` refuses to write most of what a hostile uploader sends (wrong CRCs, sizes that
disagree with the data, unknown compression methods), so these helpers lay out local
headers, the central directory and its end record themselves.
"""

from __future__ import annotations

import stat
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

STORED = 0
DEFLATED = 8
FLAG_ENCRYPTED = 0x1
FLAG_UTF8 = 0x800


@dataclass
class RawEntry:
    """One member as it travels: ``data`` is already compressed with ``method``."""

    name: bytes
    data: bytes = b""
    method: int = STORED
    crc: int | None = None  # None: the CRC-32 of ``plain``
    file_size: int | None = None  # None: len(plain)
    plain: bytes | None = None  # the uncompressed content (defaults to ``data``)
    flags: int = FLAG_UTF8
    mode: int = stat.S_IFREG | 0o644

    def header_fields(self) -> tuple[int, int, int]:
        plain = self.data if self.plain is None else self.plain
        crc = zlib.crc32(plain) if self.crc is None else self.crc
        size = len(plain) if self.file_size is None else self.file_size
        return crc, len(self.data), size


def file(name: str | bytes, text: bytes | str = b"", **fields: object) -> RawEntry:
    raw = text.encode() if isinstance(text, str) else text
    encoded = name.encode() if isinstance(name, str) else name
    return RawEntry(encoded, raw, **fields)  # type: ignore[arg-type]


def deflated(name: str, plain: bytes, **fields: object) -> RawEntry:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = packer.compress(plain) + packer.flush()
    return RawEntry(name.encode(), data, method=DEFLATED, plain=plain, **fields)  # type: ignore[arg-type]


def directory(name: str) -> RawEntry:
    return RawEntry(name.encode(), mode=stat.S_IFDIR | 0o755)


def symlink(name: str, target: bytes | str) -> RawEntry:
    raw = target.encode() if isinstance(target, str) else target
    return RawEntry(name.encode(), raw, mode=stat.S_IFLNK | 0o777)


def build(entries: Iterable[RawEntry]) -> bytes:
    body = bytearray()
    central = bytearray()
    count = 0
    for entry in entries:
        crc, compressed, size = entry.header_fields()
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, entry.flags, entry.method, 0, 0,
                            crc, compressed, size, len(entry.name), 0)
        body += entry.name + entry.data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", (3 << 8) | 20, 20, entry.flags,
                               entry.method, 0, 0, crc, compressed, size, len(entry.name),
                               0, 0, 0, 0, entry.mode << 16, offset)
        central += entry.name
        count += 1
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)
    return bytes(body + central + end)


def deflate_bomb(name: str, real_size: int, declared_size: int) -> RawEntry:
    """An entry of ``real_size`` zero bytes whose headers say ``declared_size``, with the
    CRC of the real content (so only the size lies). Built in chunks: never held whole
    (level 1: five times faster to build than level 9, and 5 MB per GB is small enough)."""
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    chunk = bytes(1024 * 1024)
    parts = []
    crc = 0
    left = real_size
    while left:
        piece = chunk[:min(left, len(chunk))]
        crc = zlib.crc32(piece, crc)
        parts.append(packer.compress(piece))
        left -= len(piece)
    parts.append(packer.flush())
    return RawEntry(name.encode(), b"".join(parts), method=DEFLATED, crc=crc,
                    file_size=declared_size, plain=b"")
