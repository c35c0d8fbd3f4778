"""Errors only the S3 front door raises, with the codes and statuses S3 gives them.

The engine's own errors (NoSuchBucket, NoSuchKey, BucketNotEmpty, InvalidRange, ...) are
rendered as they are; these add what belongs to S3's protocol: signatures, digests,
preconditions and the XML of requests.
"""

from __future__ import annotations

from fcompute.objectstore.errors import StorageError


class AccessDenied(StorageError):
    status, code = 403, "AccessDenied"


class SignatureDoesNotMatch(StorageError):
    status, code = 403, "SignatureDoesNotMatch"


class InvalidAccessKeyId(StorageError):
    status, code = 403, "InvalidAccessKeyId"


class InvalidToken(StorageError):
    status, code = 400, "InvalidToken"


class RequestTimeTooSkewed(StorageError):
    status, code = 403, "RequestTimeTooSkewed"


class AuthorizationHeaderMalformed(StorageError):
    status, code = 400, "AuthorizationHeaderMalformed"


class AuthorizationQueryParametersError(StorageError):
    status, code = 400, "AuthorizationQueryParametersError"


class ContentSha256Mismatch(StorageError):
    status, code = 400, "XAmzContentSHA256Mismatch"


class InvalidDigest(StorageError):
    status, code = 400, "InvalidDigest"


class InvalidRequest(StorageError):
    status, code = 400, "InvalidRequest"


class MalformedXML(StorageError):
    status, code = 400, "MalformedXML"


class MalformedTrailer(StorageError):
    status, code = 400, "MalformedTrailerError"


class NotImplementedHere(StorageError):
    status, code = 501, "NotImplemented"


class MethodNotAllowed(StorageError):
    status, code = 405, "MethodNotAllowed"


class PreconditionFailed(StorageError):
    status, code = 412, "PreconditionFailed"


class BucketAlreadyOwnedByYou(StorageError):
    status, code = 409, "BucketAlreadyOwnedByYou"


class NotModified(Exception):
    """Not an error: a conditional GET or HEAD whose object has not changed (304)."""

    def __init__(self, etag: str, last_modified: str) -> None:
        super().__init__("not modified")
        self.etag = etag
        self.last_modified = last_modified
