"""FC request signatures: ``Authorization: FC <accessKeyId>:<base64 HMAC-SHA256>``.

The string to sign is described in the FC 2.0 API reference (A.2): method,
content-md5, content-type, date, the sorted ``x-fc-*`` headers and the unescaped
path (plus the sorted query pairs for HTTP-trigger paths).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from fcompute.errors import AccessDenied, InvalidAccessKeyID, SignatureNotMatch

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
        raise InvalidAccessKeyID(f"access key id {key_id!r} does not exist")
    expected = sign(secret, string_to_sign(method, path, query, headers))
    if not hmac.compare_digest(expected, signature):
        raise SignatureNotMatch(
            "the request signature does not match; check the access key secret and that "
            "the signed date, content-type and x-fc-* headers are the ones sent"
        )
    date = headers.get("date", "")
    try:
        sent = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        raise AccessDenied("the Date header is missing or malformed") from None
    current = time.time() if now is None else now
    if abs(current - sent) > MAX_CLOCK_SKEW_SECONDS:
        raise AccessDenied(
            f"the Date header {date!r} is more than 15 minutes from the server's clock",
            code="RequestTimeTooSkewed",
        )
    return key_id
