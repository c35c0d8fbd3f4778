"""OSS signature V4, as oss2's ``ProviderAuthV4`` computes it (pure functions).

::

    Authorization: OSS4-HMAC-SHA256 Credential=<AK>/<yyyymmdd>/<region>/oss/aliyun_v4_request,
                   Signature=<hex>[, AdditionalHeaders=<h1;h2>]

    CanonicalRequest = METHOD \\n uri_encode("/<bucket>/<key>", keep "/") \\n CanonicalQuery \\n
                       CanonicalHeaders \\n AdditionalHeaders \\n x-oss-content-sha256
    StringToSign     = "OSS4-HMAC-SHA256" \\n x-oss-date \\n scope \\n hex(sha256(CanonicalRequest))
    SigningKey       = HMAC chain over "aliyun_v4"+secret: date, region, product,
                       "aliyun_v4_request"

Every query parameter is signed (sorted after encoding; an empty value signs as the bare
name); the headers signed are every ``x-oss-*``, ``content-type`` and ``content-md5``,
plus the additional ones named. ``host`` is not signed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

ALGORITHM = "OSS4-HMAC-SHA256"
TERMINATOR = "aliyun_v4_request"
_DEFAULT_SIGNED = (b"content-type", b"content-md5")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-~.")


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    date: str  # yyyymmdd
    region: str
    product: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.product}/{TERMINATOR}"


def parse_credential(text: str) -> Credential | None:
    """``<AK>/<date>/<region>/<product>/aliyun_v4_request``, or None when malformed."""
    parts = text.rsplit("/", 4)
    if len(parts) != 5 or parts[4] != TERMINATOR or not all(parts[:4]):
        return None
    return Credential(*parts[:4])


def uri_encode(raw: bytes, keep_slash: bool) -> str:
    return "".join(chr(byte) if byte in _UNRESERVED or (keep_slash and byte == 0x2F)
                   else f"%{byte:02X}" for byte in raw)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def canonical_uri(bucket: str, key: str) -> str:
    return uri_encode(_utf8(f"/{bucket}/{key}" if bucket else "/"), keep_slash=True)


def canonical_query(query: Iterable[tuple[str, str]]) -> str:
    encoded = sorted((uri_encode(_utf8(name), False), uri_encode(_utf8(value), False))
                     for name, value in query)
    return "&".join(f"{name}={value}" if value else name for name, value in encoded)


def canonical_headers(headers: Iterable[tuple[bytes, bytes]], additional: Iterable[str]) -> bytes:
    extra = {name.lower().encode() for name in additional}
    joined: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(b"x-oss-") or lower in _DEFAULT_SIGNED or lower in extra:
            joined.setdefault(lower, []).append(value)
    return b"".join(name + b":" + b",".join(values) + b"\n"
                    for name, values in sorted(joined.items()))


def canonical_request(method: str, bucket: str, key: str, query: Iterable[tuple[str, str]],
                      headers: Iterable[tuple[bytes, bytes]], additional: list[str],
                      payload_hash: str) -> bytes:
    return b"\n".join([
        method.encode(), canonical_uri(bucket, key).encode(), canonical_query(query).encode(),
        canonical_headers(headers, additional), ";".join(sorted(additional)).encode(),
        payload_hash.encode(),
    ])


def string_to_sign(timestamp: str, credential: Credential, request: bytes) -> str:
    return "\n".join([ALGORITHM, timestamp, credential.scope,
                      hashlib.sha256(request).hexdigest()])


def signature(secret: str, credential: Credential, to_sign: str) -> str:
    key = ("aliyun_v4" + secret).encode()
    for part in (credential.date, credential.region, credential.product, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
