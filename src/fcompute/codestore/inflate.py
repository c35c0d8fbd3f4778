"""Reads one zip entry's real content, a bounded chunk at a time, trusting no header field.

``zipfile`` is only used for the central directory. Its own entry reader stops at the size
a header declares (silently truncating a member that inflates to more) and hands bzip2 and
LZMA data to decompressors without an output bound, so a few kilobytes of bzip2 can
inflate to gigabytes in one call. Here every decompressor call is bounded to
``CHUNK_BYTES`` of output, the real size is compared with the declared one as soon as it
passes it, and the CRC-32 is computed over what really came out.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from fcompute.codestore.entries import refuse

CHUNK_BYTES = 1024 * 1024
_INPUT_BYTES = 64 * 1024
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_FLAG_UTF8 = 0x800


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int) -> bytes: ...


class _Deflate:
    """zlib's raw inflater behind the needs_input/eof interface of bz2 and lzma."""

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._full = False  # the last call filled max_length: output may still be pending

    @property
    def eof(self) -> bool:
        return self._inflater.eof

    @property
    def needs_input(self) -> bool:
        return not self._inflater.unconsumed_tail and not self._full

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._inflater.decompress(self._inflater.unconsumed_tail + data, max_length)
        self._full = len(out) == max_length
        return out


class _Stored:
    """Stored data: what goes in comes out, until the compressed size is consumed."""

    needs_input = True

    def __init__(self, size: int) -> None:
        self._left = size
        self.eof = size == 0

    def decompress(self, data: bytes, max_length: int) -> bytes:
        self._left -= len(data)
        self.eof = self._left <= 0
        return data


def _lzma(source: BinaryIO, name: str) -> tuple[_Decompressor, int]:
    """Zip's LZMA: a 4-byte header (version, properties size), LZMA1 properties, raw data."""
    header = source.read(4)
    if len(header) < 4:
        raise refuse(name, "has a truncated LZMA header")
    (size,) = struct.unpack("<H", header[2:4])
    props = source.read(size)
    if size != 5 or len(props) != 5 or props[0] >= 9 * 5 * 5:
        raise refuse(name, "has invalid LZMA properties")
    lc, rest = props[0] % 9, props[0] // 9
    (dict_size,) = struct.unpack("<L", props[1:5])
    filters = [{"id": lzma.FILTER_LZMA1, "dict_size": dict_size,
                "lc": lc, "lp": rest % 5, "pb": rest // 5}]
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters), 4 + size


def _data_start(source: BinaryIO, info: zipfile.ZipInfo) -> None:
    """Seeks to the entry's data, refusing a local header that disagrees with the listing
    (a classic way to make two zip readers see two different packages)."""
    source.seek(info.header_offset)
    raw = source.read(_LOCAL_HEADER.size)
    if len(raw) < _LOCAL_HEADER.size:
        raise refuse(info.filename, "has a truncated local header")
    magic, _version, flags, method, _t, _d, _crc, _csize, _usize, name_len, extra_len = (
        _LOCAL_HEADER.unpack(raw)
    )
    if magic != b"PK\x03\x04":
        raise refuse(info.filename, "has no local header where the listing says")
    name = source.read(name_len)
    decoded = name.decode("utf-8" if flags & _FLAG_UTF8 else "cp437", "replace")
    if decoded != info.orig_filename:
        raise refuse(info.filename, f"is named {decoded!r} in its local header")
    if method != info.compress_type:
        raise refuse(info.filename, "has another compression method in its local header")
    source.seek(extra_len, 1)


def read_entry(source: BinaryIO, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The entry's content in chunks of at most CHUNK_BYTES.

    Raises InvalidArgument naming the entry as soon as the data inflates to more than the
    entry declares, and at the end when it holds less, fails its CRC-32 or is damaged.
    The compression method must be one ``entries.SUPPORTED_METHODS`` lists.
    """
    name = info.filename
    _data_start(source, info)
    compressed_left = info.compress_size
    decompressor: _Decompressor
    if info.compress_type == zipfile.ZIP_STORED:
        decompressor = _Stored(compressed_left)
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        decompressor = _Deflate()
    elif info.compress_type == zipfile.ZIP_BZIP2:
        decompressor = bz2.BZ2Decompressor()
    else:
        decompressor, header = _lzma(source, name)
        compressed_left -= header
    real = 0
    crc = 0
    try:
        while not decompressor.eof:
            data = b""
            if decompressor.needs_input:
                if compressed_left <= 0:
                    break  # no end marker (allowed for LZMA): the checks below decide
                data = source.read(min(_INPUT_BYTES, compressed_left))
                if not data:
                    raise refuse(name, "is cut short by the end of the zip")
                compressed_left -= len(data)
            out = decompressor.decompress(data, CHUNK_BYTES)
            real += len(out)
            if real > info.file_size:
                raise refuse(name, f"declares {info.file_size} bytes but inflates to more")
            crc = zlib.crc32(out, crc)
            if out:
                yield out
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
        # What the decompressors raise on damaged data (bz2 raises OSError). Only the zip
        # is read in this block: the caller writes files outside it.
        raise refuse(name, f"holds damaged compressed data ({exc})") from None
    if real != info.file_size:
        raise refuse(name, f"declares {info.file_size} bytes but holds {real}")
    if crc != info.CRC:
        raise refuse(name, "fails its CRC-32 check: the data is damaged or the header lies")
