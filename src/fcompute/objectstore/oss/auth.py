"""Who sent an OSS request: signature V1 and V4, in the Authorization header or in a
presigned URL, with the platform's keys or temporary (STS-style) ones.

With no access keys configured (``StorageKeys.open``) any key is accepted and no
signature is checked, as the FC API does on loopback; a presigned URL's expiry is still
honoured, since it is a property of the URL, not of the key.
"""

from __future__ import annotations

import calendar
import email.utils
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from fcompute.objectstore.credentials import StorageKeys
from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.oss import errors, signing_v1, signing_v4
from fcompute.objectstore.oss.request import OssRequest

MAX_SKEW_S = 15 * 60  # OSS refuses a header-signed request dated further off than this
MAX_V4_EXPIRES_S = 7 * 24 * 3600
_V4_QUERY = frozenset({"x-oss-signature", "x-oss-credential", "x-oss-signature-version"})


@dataclass(frozen=True)
class _Claim:
    """What a request says about itself: the key, and how to check it."""

    access_key_id: str
    security_token: str
    provided: str  # the signature sent
    check: Callable[[str], tuple[str, str]]  # secret -> (expected signature, what was signed)
    signed_at: float | None  # header forms: the request's date, for the skew check
    malformed: str = ""  # why the claim cannot be checked (refused unless the store is open)


def _malformed(reason: str) -> _Claim:
    return _Claim("", "", "", lambda secret: ("", ""), None, reason)


class Authenticator:
    def __init__(self, keys: StorageKeys, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._clock = clock

    def check(self, request: OssRequest) -> str:
        """Whom the request acts for (``StorageKeys.scope`` of temporary credentials, ""
        otherwise) when it may proceed; raises a 403 ``StorageError`` when not."""
        claim = self._claim(request)
        # The scope is sealed into the security token, so it is trusted even unverified.
        actor = self._keys.scope(claim.access_key_id, claim.security_token) if claim else ""
        if self._keys.open:
            return actor
        if claim is None:
            raise errors.AccessDenied("anonymous access is not allowed: sign the request "
                                      "with the platform's access key")
        if claim.malformed:
            raise errors.AccessDenied(claim.malformed)
        if claim.signed_at is not None and abs(self._clock() - claim.signed_at) > MAX_SKEW_S:
            raise errors.RequestTimeTooSkewed(
                "the difference between the request time and the server's time is more "
                "than 15 minutes")
        secret = self._keys.secret(claim.access_key_id, claim.security_token)
        if secret is None:
            raise errors.InvalidAccessKeyId(
                "the access key id does not exist, or its security token is invalid or "
                "expired", OSSAccessKeyId=claim.access_key_id)
        expected, signed = claim.check(secret)
        # compare_digest takes ASCII str only; a signature with anything else is wrong anyway.
        if not claim.provided.isascii() or not hmac.compare_digest(expected, claim.provided):
            raise errors.SignatureDoesNotMatch(
                "the request signature we calculated does not match the signature you "
                "provided; check your key and signing method",
                StringToSign=signed, SignatureProvided=claim.provided,
                OSSAccessKeyId=claim.access_key_id)
        return actor

    def _claim(self, request: OssRequest) -> _Claim | None:
        authorization = request.header("authorization")
        if authorization.startswith("OSS "):
            return self._v1_header(request, authorization[4:])
        if authorization.startswith(signing_v4.ALGORITHM):
            return self._v4_header(request, authorization[len(signing_v4.ALGORITHM):])
        if authorization:
            return _malformed("this store checks OSS signatures V1 and V4 only, not "
                              f"{authorization.split(' ')[0][:40]!r}")
        params = request.params
        if "OSSAccessKeyId" in params:
            return self._v1_url(request)
        if _V4_QUERY & params.keys():
            return self._v4_url(request)
        return None

    # V1 -------------------------------------------------------------------

    def _v1_header(self, request: OssRequest, value: str) -> _Claim:
        key_id, colon, provided = value.strip().rpartition(":")
        if not colon or not key_id:
            return _malformed("the Authorization header is malformed: expected "
                              "'OSS <AccessKeyId>:<Signature>'")
        date = request.header("x-oss-date") or request.header("date")
        signed_at = _http_time(date)
        if signed_at is None:
            return _malformed("a signed request needs a Date (or x-oss-date) header in "
                              "RFC 1123 form")
        return _Claim(key_id, request.header("x-oss-security-token"), provided,
                      self._v1_check(request, date), signed_at)

    def _v1_url(self, request: OssRequest) -> _Claim:
        params = request.params
        expires = params.get("Expires", "")
        if not expires.isdigit():
            return _malformed("a presigned URL needs Expires (seconds since the epoch)")
        if int(expires) < self._clock():
            raise errors.AccessDenied("Request has expired.", Expires=expires,
                                      ServerTime=_iso(self._clock()))
        return _Claim(params["OSSAccessKeyId"], params.get("security-token", ""),
                      params.get("Signature", ""), self._v1_check(request, expires), None)

    @staticmethod
    def _v1_check(request: OssRequest, date: str) -> Callable[[str], tuple[str, str]]:
        def check(secret: str) -> tuple[str, str]:
            to_sign = signing_v1.string_to_sign(
                request.method, _raw(request, "content-md5"), _raw(request, "content-type"),
                date.encode("latin-1"), request.headers, request.bucket, request.key,
                request.query)
            return signing_v1.signature(secret, to_sign), to_sign.decode("utf-8", "replace")
        return check

    # V4 -------------------------------------------------------------------

    def _v4_header(self, request: OssRequest, value: str) -> _Claim:
        fields = {}
        for part in value.split(","):
            name, _, field = part.strip().partition("=")
            fields[name] = field
        credential = signing_v4.parse_credential(fields.get("Credential", ""))
        timestamp = request.header("x-oss-date")
        if credential is None or "Signature" not in fields:
            return _malformed("the Authorization header is malformed: expected "
                              "'OSS4-HMAC-SHA256 Credential=<AK>/<date>/<region>/oss/"
                              "aliyun_v4_request, Signature=<hex>'")
        signed_at = _v4_time(timestamp)
        if signed_at is None or timestamp[:8] != credential.date:
            return _malformed("a V4 signed request needs x-oss-date (yyyymmddTHHMMSSZ) on "
                              "the credential's date")
        additional = [name for name in fields.get("AdditionalHeaders", "").split(";") if name]
        payload = request.header("x-oss-content-sha256") or "UNSIGNED-PAYLOAD"
        return _Claim(credential.access_key_id, request.header("x-oss-security-token"),
                      fields["Signature"],
                      _v4_check(request, credential, timestamp, request.query, additional,
                                payload), signed_at)

    def _v4_url(self, request: OssRequest) -> _Claim:
        params = request.params
        credential = signing_v4.parse_credential(params.get("x-oss-credential", ""))
        timestamp = params.get("x-oss-date", "")
        signed_at = _v4_time(timestamp)
        expires = params.get("x-oss-expires", "")
        if (credential is None or signed_at is None or not expires.isdigit()
                or params.get("x-oss-signature-version") != signing_v4.ALGORITHM
                or timestamp[:8] != credential.date):
            return _malformed(
                "a V4 presigned URL needs x-oss-signature-version=OSS4-HMAC-SHA256, "
                "x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature")
        if int(expires) > MAX_V4_EXPIRES_S:
            raise StorageError(f"x-oss-expires may be at most {MAX_V4_EXPIRES_S} seconds",
                               code="InvalidArgument")
        if signed_at + int(expires) < self._clock():
            raise errors.AccessDenied("Request has expired.",
                                      ServerTime=_iso(self._clock()))
        additional = [name for name in params.get("x-oss-additional-headers", "").split(";")
                      if name]
        query = [(name, value) for name, value in request.query if name != "x-oss-signature"]
        payload = request.header("x-oss-content-sha256") or "UNSIGNED-PAYLOAD"
        return _Claim(credential.access_key_id, params.get("x-oss-security-token", ""),
                      params.get("x-oss-signature", ""),
                      _v4_check(request, credential, timestamp, query, additional, payload),
                      None)


def _v4_check(request: OssRequest, credential: signing_v4.Credential, timestamp: str,
              query: list[tuple[str, str]], additional: list[str],
              payload: str) -> Callable[[str], tuple[str, str]]:
    def check(secret: str) -> tuple[str, str]:
        canonical = signing_v4.canonical_request(
            request.method, request.bucket, request.key, query, request.headers, additional,
            payload)
        to_sign = signing_v4.string_to_sign(timestamp, credential, canonical)
        return signing_v4.signature(secret, credential, to_sign), to_sign
    return check


def _raw(request: OssRequest, name: str) -> bytes:
    return request.header(name).encode("latin-1")


def _http_time(text: str) -> float | None:
    parsed = email.utils.parsedate_tz(text) if text else None
    return float(email.utils.mktime_tz(parsed)) if parsed else None


def _v4_time(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
