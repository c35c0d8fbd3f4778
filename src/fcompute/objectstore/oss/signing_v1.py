"""OSS signature V1, as oss2's ``ProviderAuth`` computes it (pure functions).

``Authorization: OSS <AccessKeyId>:<base64(HMAC-SHA1(secret, StringToSign))>``::

    StringToSign = VERB "\\n" Content-MD5 "\\n" Content-Type "\\n" Date "\\n"
                   CanonicalizedOSSHeaders CanonicalizedResource

Date is ``x-oss-date`` when sent, else ``Date``; a presigned URL puts its ``Expires``
there. The canonical resource names the bucket and the raw (decoded) key in both
addressing styles, then the sub-resources, sorted, values decoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from fcompute.objectstore.oss.request import SUBRESOURCES

Headers = Iterable[tuple[bytes, bytes]]


def canonical_oss_headers(headers: Headers) -> bytes:
    """Every ``x-oss-*`` header, ``name:value`` lines sorted by name, each ending in \\n."""
    joined: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(b"x-oss-"):
            joined.setdefault(lower, []).append(value)
    return b"".join(name + b":" + b",".join(values) + b"\n"
                    for name, values in sorted(joined.items()))


def canonical_resource(bucket: str, key: str, query: Iterable[tuple[str, str]]) -> bytes:
    resource = f"/{bucket}/{key}" if bucket else "/"
    subresources = sorted((name, value) for name, value in dict(query).items()
                          if name in SUBRESOURCES)
    if subresources:
        resource += "?" + "&".join(f"{name}={value}" if value else name
                                   for name, value in subresources)
    return resource.encode("utf-8", "surrogateescape")


def string_to_sign(method: str, content_md5: bytes, content_type: bytes, date: bytes,
                   headers: Headers, bucket: str, key: str,
                   query: Iterable[tuple[str, str]]) -> bytes:
    headers = list(headers)
    return b"\n".join([method.encode(), content_md5, content_type, date,
                       canonical_oss_headers(headers)
                       + canonical_resource(bucket, key, query)])


def signature(secret: str, to_sign: bytes) -> str:
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
