"""S3's additional checksums: CRC32, CRC32C, SHA-1, SHA-256 (checked), CRC64NVME (kept).

Values travel base64-encoded in ``x-amz-checksum-<algorithm>`` headers or aws-chunked
trailers. CRC32 and SHA-256 come from the digests the store computes while writing;
CRC32C and SHA-1 are computed here as the body passes. CRC64NVME has no implementation in
the platform's dependencies: a CRC64NVME value is stored and returned as the client sent it,
unchecked (docs/storage.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import AsyncIterator

from fastcrc import crc32 as fast_crc32

from fcompute.objectstore.errors import BadDigest
from fcompute.objectstore.files import Digests
from fcompute.objectstore.s3 import errors

SIZES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}
ALGORITHMS = tuple(SIZES)
NAMES = {"crc32": "CRC32", "crc32c": "CRC32C", "crc64nvme": "CRC64NVME", "sha1": "SHA1",
         "sha256": "SHA256"}
UNCHECKED = frozenset({"crc64nvme"})
HEADER_PREFIX = "x-amz-checksum-"


def algorithm_named(name: str, *, what: str = "x-amz-checksum-algorithm") -> str:
    """``CRC32`` (any case) as ``crc32``; InvalidRequest for an unknown one."""
    algorithm = name.strip().lower()
    if algorithm not in SIZES:
        raise errors.InvalidRequest(
            f"{what} {name!r} is not one of {', '.join(NAMES.values())}")
    return algorithm


def check_value(algorithm: str, value: str) -> str:
    """A base64 checksum of the right length, as S3 insists."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != SIZES[algorithm]:
        raise errors.InvalidRequest(f"Value for x-amz-checksum-{algorithm} header is invalid.")
    return value


def encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def crc32_value(crc: int) -> str:
    return encode(crc.to_bytes(4, "big"))


class ExtraDigests:
    """CRC32C and SHA-1 over a body, for checksums the store does not compute itself."""

    def __init__(self, algorithms: set[str]) -> None:
        self._crc32c: int | None = 0 if "crc32c" in algorithms else None
        self._sha1 = hashlib.sha1() if "sha1" in algorithms else None

    def update(self, data: bytes) -> None:
        if self._crc32c is not None:
            self._crc32c = fast_crc32.iscsi(data, initial=self._crc32c)
        if self._sha1 is not None:
            self._sha1.update(data)

    async def passing(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in body:
            self.update(chunk)
            yield chunk

    def value(self, algorithm: str, digests: Digests) -> str | None:
        """The base64 checksum of the body, None when it cannot be computed."""
        if algorithm == "crc32":
            return crc32_value(digests.crc32)
        if algorithm == "sha256":
            return None if digests.sha256 is None else encode(digests.sha256)
        if algorithm == "crc32c" and self._crc32c is not None:
            return encode(self._crc32c.to_bytes(4, "big"))
        if algorithm == "sha1" and self._sha1 is not None:
            return encode(self._sha1.digest())
        return None


def mismatch(algorithm: str) -> BadDigest:
    return BadDigest(f"The {NAMES[algorithm]} you specified did not match the calculated "
                     "checksum.")


def composite(algorithm: str, part_values: list[str]) -> str | None:
    """A multipart object's checksum of its parts' checksums: ``<b64>-<parts>``."""
    joined = b"".join(base64.b64decode(value) for value in part_values)
    if algorithm == "crc32":
        raw = zlib.crc32(joined).to_bytes(4, "big")
    elif algorithm == "crc32c":
        raw = fast_crc32.iscsi(joined).to_bytes(4, "big")
    elif algorithm == "sha1":
        raw = hashlib.sha1(joined).digest()
    elif algorithm == "sha256":
        raw = hashlib.sha256(joined).digest()
    else:
        return None
    return f"{encode(raw)}-{len(part_values)}"
