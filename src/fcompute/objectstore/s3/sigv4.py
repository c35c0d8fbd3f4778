"""AWS Signature Version 4 as S3 checks it: the Authorization header and presigned URLs.

The canonical request is rebuilt from what arrived: the path as sent (S3 signatures are
over the encoded path, not normalised), the query re-encoded and sorted, the signed
headers trimmed. The payload hash is the client's ``x-amz-content-sha256`` (presigned
URLs: ``UNSIGNED-PAYLOAD``); checking it against the body is the body's business
(``payload.py``), which happens while the body streams.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.s3 import errors

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_S = 15 * 60
MAX_EXPIRES_S = 7 * 24 * 3600
_UNRESERVED = "-_.~"


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    date: str  # YYYYMMDD
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def parse_credential(value: str, malformed: type[StorageError]) -> Credential:
    """``<key id>/<date>/<region>/s3/aws4_request``."""
    parts = value.split("/")
    if len(parts) < 5 or parts[-1] != "aws4_request" or not parts[0]:
        raise malformed(f"the credential {value!r} is not <key>/<date>/<region>/s3/aws4_request")
    key_id, date, region, service = "/".join(parts[:-4]), *parts[-4:-1]
    if service != "s3":
        raise malformed(f"the credential names the service {service!r}; this is s3")
    if len(date) != 8 or not date.isdigit():
        raise malformed(f"the credential's date {date!r} is not YYYYMMDD")
    return Credential(key_id, date, region, service)


def parse_amz_date(value: str) -> float:
    """``YYYYMMDDTHHMMSSZ`` as seconds since the epoch (ValueError when malformed)."""
    return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))


def signing_key(secret: str, credential: Credential) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), credential.date.encode(), "sha256").digest()
    for part in (credential.region, credential.service, "aws4_request"):
        key = hmac.new(key, part.encode(), "sha256").digest()
    return key


def sign(key: bytes, string_to_sign: str) -> str:
    return hmac.new(key, string_to_sign.encode(), "sha256").hexdigest()


def string_to_sign(amz_date: str, credential: Credential, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{credential.scope}\n{digest}"


def uri_encode(text: str, safe: str = _UNRESERVED) -> str:
    return quote(text, safe=safe)


def canonical_paths(raw_path: str) -> list[str]:
    """The path as sent first; then the path re-encoded the canonical way, for clients
    that sent characters unencoded which they encoded when signing."""
    candidates = [raw_path or "/"]
    recoded = uri_encode(unquote(raw_path), safe="/" + _UNRESERVED) or "/"
    if recoded not in candidates:
        candidates.append(recoded)
    return candidates


def canonical_queries(raw_query: str, *, without: str = "") -> list[str]:
    """The query's parameters, each name and value decoded and encoded again the one way
    SigV4 allows, sorted; then (when it differs) the parameters as sent, sorted."""
    pairs = [part.partition("=") for part in raw_query.split("&") if part]
    kept = [(name, value) for name, _, value in pairs if unquote(name) != without]
    recoded = sorted((uri_encode(unquote(name)), uri_encode(unquote(value)))
                     for name, value in kept)
    candidates = ["&".join(f"{name}={value}" for name, value in recoded)]
    as_sent = "&".join(f"{name}={value}" for name, value in sorted(kept))
    if as_sent not in candidates:
        candidates.append(as_sent)
    return candidates


def canonical_headers(headers: list[tuple[bytes, bytes]], signed: list[str]) -> str:
    lines = []
    for name in signed:
        wanted = name.encode()
        values = [" ".join(value.decode("latin-1").split())
                  for key, value in headers if key == wanted]
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def canonical_request(method: str, path: str, query: str, headers: str, signed: list[str],
                      payload_hash: str) -> str:
    return f"{method}\n{path}\n{query}\n{headers}\n{';'.join(signed)}\n{payload_hash}"


@dataclass(frozen=True)
class Signature:
    """What a request's SigV4 signature consists of, header or presigned alike."""

    credential: Credential
    amz_date: str
    signed_headers: list[str]
    signature: str
    security_token: str
    presigned: bool
    expires_s: int = 0


def parse_authorization(value: str, amz_date: str, token: str) -> Signature:
    """``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=a;b, Signature=hex``."""
    malformed = errors.AuthorizationHeaderMalformed
    fields: dict[str, str] = {}
    for item in value[len(ALGORITHM):].split(","):
        name, _, field = item.strip().partition("=")
        fields[name] = field
    missing = [name for name in ("Credential", "SignedHeaders", "Signature")
               if not fields.get(name)]
    if missing:
        raise malformed(f"the Authorization header lacks {', '.join(missing)}")
    if not amz_date:
        raise errors.AccessDenied("a signed request needs an X-Amz-Date or Date header")
    credential = parse_credential(fields["Credential"], malformed)
    return Signature(credential, amz_date, fields["SignedHeaders"].split(";"),
                     fields["Signature"], token, presigned=False)


def parse_presigned(query: dict[str, str]) -> Signature:
    malformed = errors.AuthorizationQueryParametersError
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise malformed(f"X-Amz-Algorithm must be {ALGORITHM}")
    missing = [name for name in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                                 "X-Amz-SignedHeaders", "X-Amz-Signature")
               if not query.get(name)]
    if missing:
        raise malformed(f"a presigned URL needs the query parameters {', '.join(missing)}")
    try:
        expires = int(query["X-Amz-Expires"])
    except ValueError:
        raise malformed("X-Amz-Expires must be a number of seconds") from None
    if not 0 < expires <= MAX_EXPIRES_S:
        raise malformed(f"X-Amz-Expires must be from 1 to {MAX_EXPIRES_S} seconds "
                        "(seven days)")
    credential = parse_credential(query["X-Amz-Credential"], malformed)
    return Signature(credential, query["X-Amz-Date"], query["X-Amz-SignedHeaders"].split(";"),
                     query["X-Amz-Signature"], query.get("X-Amz-Security-Token", ""),
                     presigned=True, expires_s=expires)


def check_time(signature: Signature, now: float) -> None:
    """The request's date against the clock: 15 minutes either way for a header
    signature; a presigned URL from its date until it expires."""
    try:
        signed_at = parse_amz_date(signature.amz_date)
    except ValueError:
        if signature.presigned:
            raise errors.AuthorizationQueryParametersError(
                "X-Amz-Date must be YYYYMMDDTHHMMSSZ") from None
        # A Date header in HTTP form (clients without X-Amz-Date).
        try:
            signed_at = parsedate_to_datetime(signature.amz_date).timestamp()
        except (TypeError, ValueError):
            raise errors.AccessDenied("the request's date is not understood") from None
    if signature.credential.date != time.strftime("%Y%m%d", time.gmtime(signed_at)):
        wrong = (errors.AuthorizationQueryParametersError if signature.presigned
                 else errors.AuthorizationHeaderMalformed)
        raise wrong("the credential's date is not the date the request was signed")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    if signature.presigned:
        if now > signed_at + signature.expires_s:
            raise errors.AccessDenied(
                "Request has expired", XAmzExpires=str(signature.expires_s),
                Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                      time.gmtime(signed_at + signature.expires_s)),
                ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
        if signed_at > now + MAX_SKEW_S:
            raise errors.AccessDenied("Request is not valid yet")
    elif abs(now - signed_at) > MAX_SKEW_S:
        raise errors.RequestTimeTooSkewed(
            "The difference between the request time and the current time is too large.",
            RequestTime=signature.amz_date, ServerTime=stamp,
            MaxAllowedSkewMilliseconds=str(MAX_SKEW_S * 1000))


@dataclass(frozen=True)
class RequestParts:
    """What the canonical request is built from."""

    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[bytes, bytes]]
    payload_hashes: list[str]  # what the client may have signed the payload as


def verify(signature: Signature, secret: str, parts: RequestParts) -> bytes:
    """Checks the signature; returns the signing key (signed aws-chunked bodies go on
    with it)."""
    key = signing_key(secret, signature.credential)
    headers = canonical_headers(parts.headers, signature.signed_headers)
    without = "X-Amz-Signature" if signature.presigned else ""
    first = ""
    for path in canonical_paths(parts.raw_path):
        for query in canonical_queries(parts.raw_query, without=without):
            for payload_hash in parts.payload_hashes:
                request = canonical_request(parts.method, path, query, headers,
                                            signature.signed_headers, payload_hash)
                to_sign = string_to_sign(signature.amz_date, signature.credential, request)
                if hmac.compare_digest(sign(key, to_sign), signature.signature.lower()):
                    return key
                first = first or request
    to_sign = string_to_sign(signature.amz_date, signature.credential, first)
    raise errors.SignatureDoesNotMatch(
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        AWSAccessKeyId=signature.credential.access_key_id, StringToSign=to_sign,
        SignatureProvided=signature.signature, CanonicalRequest=first)


class ChunkSigner:
    """The chain of signatures of a signed aws-chunked body: each chunk's signature
    covers its data and the previous signature, starting from the request's."""

    def __init__(self, key: bytes, signature: Signature) -> None:
        self._key = key
        self._amz_date = signature.amz_date
        self._scope = signature.credential.scope
        self._previous = signature.signature.lower()

    def check_chunk(self, data_sha256: str, provided: str) -> None:
        self._check("AWS4-HMAC-SHA256-PAYLOAD",
                    f"{self._previous}\n{EMPTY_SHA256}\n{data_sha256}", provided, "chunk")

    def check_trailer(self, trailer: bytes, provided: str) -> None:
        self._check("AWS4-HMAC-SHA256-TRAILER",
                    f"{self._previous}\n{hashlib.sha256(trailer).hexdigest()}", provided,
                    "trailer")

    def _check(self, kind: str, tail: str, provided: str, what: str) -> None:
        expected = sign(self._key, f"{kind}\n{self._amz_date}\n{self._scope}\n{tail}")
        if not hmac.compare_digest(expected, provided.lower()):
            raise errors.SignatureDoesNotMatch(
                f"the {what} signature of the aws-chunked body does not match")
        self._previous = expected
