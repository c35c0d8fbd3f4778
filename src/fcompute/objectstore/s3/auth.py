"""Who sent a request, and what its payload hash promises about the body.

With access keys configured every request is signed (SigV4 in the Authorization header
or a presigned URL) and checked in S3's order: the key, the clock, the signature. With
none (``keys.open``: the platform on loopback) any key is accepted unchecked, and unsigned
requests too, though a presigned URL still expires; the payload hash is honoured either
way, since it protects the data, not the door.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from fcompute.objectstore.credentials import TEMPORARY_PREFIX, StorageKeys
from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.s3 import errors, sigv4
from fcompute.objectstore.s3.request import S3Request

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_PAYLOAD_MODES = (sigv4.UNSIGNED_PAYLOAD, sigv4.STREAMING_UNSIGNED_TRAILER,
                  sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER)


@dataclass(frozen=True)
class Authentication:
    access_key_id: str  # "" for an unsigned request (open store only)
    payload_hash: str  # a hex SHA-256, or one of the payload modes
    chunk_signer: sigv4.ChunkSigner | None = None  # signed aws-chunked bodies, when checked
    # Whom the temporary credentials that signed it were issued to ("" otherwise): object
    # events name it, so that a function's own writes do not fire it again.
    actor: str = ""

    @property
    def payload_sha256(self) -> bytes | None:
        """The body's SHA-256 the client signed, when it signed one."""
        if _HEX_SHA256.fullmatch(self.payload_hash):
            return bytes.fromhex(self.payload_hash)
        return None

    @property
    def streaming(self) -> bool:
        """The body is aws-chunked framed (the payload hash says so)."""
        return self.payload_hash.startswith("STREAMING-")


def _check_payload_hash(value: str) -> None:
    if value in _PAYLOAD_MODES or _HEX_SHA256.fullmatch(value):
        return
    if value.startswith("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"):
        raise errors.NotImplementedHere("SigV4a (ECDSA) signed bodies are not supported")
    raise StorageError(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a "
        "valid sha256 value.", code="InvalidArgument", ArgumentName="x-amz-content-sha256",
        ArgumentValue=value[:100])


def authenticate(request: S3Request, keys: StorageKeys, now: float | None = None
                 ) -> Authentication:
    authorization = request.header("authorization")
    payload = request.header("x-amz-content-sha256")
    if authorization.startswith(sigv4.ALGORITHM):
        if not payload and not keys.open:
            raise errors.InvalidRequest(
                "Missing required header for this request: x-amz-content-sha256")
        signature = sigv4.parse_authorization(
            authorization, request.header("x-amz-date") or request.header("date"),
            request.header("x-amz-security-token"))
    elif "X-Amz-Signature" in request.query or "X-Amz-Algorithm" in request.query:
        signature = sigv4.parse_presigned(request.query)
    elif keys.open:
        # Unsigned, or signed some other way (SigV2): accepted unchecked.
        payload = payload or sigv4.UNSIGNED_PAYLOAD
        _check_payload_hash(payload)
        return Authentication("", payload)
    elif authorization or ("AWSAccessKeyId" in request.query and "Signature" in request.query):
        raise errors.InvalidRequest(
            "The authorization mechanism you have provided is not supported. Please use "
            f"{sigv4.ALGORITHM}.")
    else:
        raise errors.AccessDenied("Access Denied: requests must be signed (AWS Signature "
                                  "Version 4)")
    # A presigned URL signs its payload as UNSIGNED-PAYLOAD, unless its client signed an
    # x-amz-content-sha256 header it sends along.
    signed_as = [sigv4.UNSIGNED_PAYLOAD] if signature.presigned else []
    payload = payload or sigv4.UNSIGNED_PAYLOAD
    _check_payload_hash(payload)
    if payload not in signed_as:
        signed_as.append(payload)
    key_id = signature.credential.access_key_id
    # The token's seal is checked here even when signatures are not.
    actor = keys.scope(key_id, signature.security_token)
    if keys.open:
        if signature.presigned:
            # A presigned URL's expiry belongs to the URL, not to the key: it holds even
            # where keys are not checked, so that code meeting it here meets it on S3.
            sigv4.check_time(signature, time.time() if now is None else now)
        return Authentication(key_id, payload, actor=actor)
    secret = keys.secret(key_id, signature.security_token)
    if secret is None:
        if key_id.startswith(TEMPORARY_PREFIX):
            raise errors.InvalidToken(
                "The provided token is malformed, expired or otherwise invalid.",
                AWSAccessKeyId=key_id)
        raise errors.InvalidAccessKeyId(
            "The AWS Access Key Id you provided does not exist in our records.",
            AWSAccessKeyId=key_id)
    sigv4.check_time(signature, time.time() if now is None else now)
    signing_key = sigv4.verify(signature, secret, sigv4.RequestParts(
        request.method, request.raw_path, request.raw_query, request.headers, signed_as))
    signer = None
    if payload in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER):
        signer = sigv4.ChunkSigner(signing_key, signature)
    return Authentication(key_id, payload, signer, actor)
