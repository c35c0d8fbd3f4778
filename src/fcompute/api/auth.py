"""FC request signatures: ``Authorization: FC <accessKeyId>:<base64 HMAC-SHA256>``.

The string to sign is described in the FC 2.0 API reference (A.2): method,
content-md5, content-type, date, the sorted ``x-fc-*`` headers and the unescaped
path (plus the sorted query pairs for HTTP-trigger paths).

The body itself is not in the string to sign. It is covered only when the request
carries ``Content-MD5``: the header is signed, and :func:`check_content_md5` (run by
``Request.body`` whenever an operation reads its body) holds the body to it. Without
the header, a captured signed request can be replayed with another body until its
``Date`` is 15 minutes old.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from fcompute.errors import AccessDenied, InvalidAccessKeyID, InvalidArgument, SignatureNotMatch

PROXY_PREFIX = "/2016-08-15/proxy/"
MAX_CLOCK_SKEW_SECONDS = 15 * 60


def string_to_sign(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    fc_headers = sorted((k, v) for k, v in headers.items() if k.startswith("x-fc-"))
    resource = path
    if path.startswith(PROXY_PREFIX):
        pairs = sorted(f"{k}={v}" for k, v in parse_qsl(query, keep_blank_values=True))
        resource = path + "\n" + "\n".join(pairs)
    canonical = "".join(f"{k}:{v}\n" for k, v in fc_headers)
    return "\n".join([
        method.upper(), headers.get("content-md5", ""), headers.get("content-type", ""),
        headers.get("date", ""), canonical + resource,
    ])


def sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def authorization(key_id: str, secret: str, method: str, path: str, query: str,
                  headers: dict[str, str]) -> str:
    return f"FC {key_id}:{sign(secret, string_to_sign(method, path, query, headers))}"


def verify(
    keys: dict[str, str], method: str, path: str, query: str, headers: dict[str, str],
    now: float | None = None,
) -> str:
    """Returns the access key id of a correctly signed request, or raises a 403 ApiError.

    ``path`` is the URL-unescaped path; ``headers`` has lower-case names.
    """
    auth = headers.get("authorization", "")
    if not auth:
        raise AccessDenied("this platform requires signed requests: missing Authorization")
    if not auth.startswith("FC ") or ":" not in auth:
        raise SignatureNotMatch("Authorization must look like 'FC <accessKeyId>:<signature>'")
    key_id, signature = auth[3:].split(":", 1)
    secret = keys.get(key_id)
    if secret is None:
        raise InvalidAccessKeyID(f"access key id {key_id[:64]!r} does not exist")
    expected = sign(secret, string_to_sign(method, path, query, headers))
    # compare_digest takes str of ASCII only; a signature with anything else is wrong anyway.
    if not signature.isascii() or not hmac.compare_digest(expected, signature):
        raise SignatureNotMatch(
            "the request signature does not match; check the access key secret and that "
            "the signed date, content-type and x-fc-* headers are the ones sent"
        )
    date = headers.get("date", "")
    sent = date_seconds(date)
    if sent is None:
        raise AccessDenied("the Date header is missing or malformed")
    current = time.time() if now is None else now
    if abs(current - sent) > MAX_CLOCK_SKEW_SECONDS:
        raise AccessDenied(
            f"the Date header {date!r} is more than 15 minutes from the server's clock",
            code="RequestTimeTooSkewed",
        )
    return key_id


def date_seconds(date: str) -> float | None:
    """The RFC 1123 ``Date`` as seconds since the epoch, or None when it is not one.

    A well-formed date can still be out of range (year 10^20 overflows a C long; hour 99
    is a ValueError): every such date is simply not a date.
    """
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def check_content_md5(declared: str, body: bytes) -> None:
    """Raises InvalidArgument (400) unless ``declared`` is the MD5 of ``body``.

    Two encodings are accepted: base64 of the 16-byte digest (RFC 1864, what HTTP
    clients send) and base64 of its 32 hex digits (what FC's Node.js SDK sends). The
    Python SDK sends no Content-MD5.
    """
    try:
        decoded = base64.b64decode(declared.strip(), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    digest = hashlib.md5(body, usedforsecurity=False)
    if len(decoded) == 16:
        expected = digest.digest()
    elif len(decoded) == 32:
        expected = digest.hexdigest().encode()
        decoded = decoded.lower()
    else:
        raise InvalidArgument(
            "Content-MD5 must be the base64 of the body's MD5 digest (16 bytes, or its 32 hex "
            "digits)"
        )
    if not hmac.compare_digest(decoded, expected):
        raise InvalidArgument(
            "Content-MD5 does not match the request body: the body is not the one the "
            "header (and the signature over it) was made for"
        )
