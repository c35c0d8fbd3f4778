"""AWS Signature Version 4 for S3 requests, as the object store (and S3 itself) verifies it.

The SDK signs its storage requests itself rather than through boto3, so the CLI starts
quickly and the SDK keeps one dependency for HTTP (httpx). What is signed is exactly what
goes out: the path as sent (S3 paths are not normalised or encoded twice), the query in
canonical order, ``host``, ``content-type``, ``content-md5`` and every ``x-amz-*`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, unquote

import httpx

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SIGNED_PLAIN_HEADERS = frozenset({"host", "content-type", "content-md5"})


def uri_encode(text: str, *, keep_slash: bool) -> str:
    """AWS's UriEncode: everything but the unreserved characters (and ``/`` in a path)."""
    return quote(text, safe="/~" if keep_slash else "~")


def canonical_query(raw_query: str) -> str:
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        name, _, value = item.partition("=")
        pairs.append((uri_encode(unquote(name), keep_slash=False),
                      uri_encode(unquote(value), keep_slash=False)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, SERVICE, "aws4_request"):
        key = _hmac(key, part)
    return key


def sign(
    request: httpx.Request,
    *,
    access_key_id: str,
    secret: str,
    region: str,
    payload_sha256: str,
    security_token: str | None = None,
    now: float | None = None,
) -> None:
    """Adds ``x-amz-date``, ``x-amz-content-sha256`` (and the token) and ``authorization``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    request.headers["x-amz-date"] = stamp
    request.headers["x-amz-content-sha256"] = payload_sha256
    if security_token:
        request.headers["x-amz-security-token"] = security_token
    headers = {name.lower(): " ".join(value.split()) for name, value in request.headers.items()
               if name.lower() in _SIGNED_PLAIN_HEADERS or name.lower().startswith("x-amz-")}
    names = sorted(headers)
    raw_path, _, raw_query = request.url.raw_path.decode("ascii").partition("?")
    canonical = "\n".join([
        request.method,
        raw_path,
        canonical_query(raw_query),
        "".join(f"{name}:{headers[name]}\n" for name in names),
        ";".join(names),
        payload_sha256,
    ])
    scope = f"{stamp[:8]}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(signing_key(secret, stamp[:8], region), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    request.headers["authorization"] = (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}")
