"""Errors of the object store, named as S3 and OSS name them; each front door renders them
in its own XML (the codes and statuses are shared by both APIs)."""

from __future__ import annotations


class StorageError(Exception):
    status = 400
    code = "InvalidArgument"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 **details: str) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details  # extra elements of the error XML: BucketName, Key, ...


class NoSuchBucket(StorageError):
    status, code = 404, "NoSuchBucket"


class NoSuchKey(StorageError):
    status, code = 404, "NoSuchKey"


class NoSuchUpload(StorageError):
    status, code = 404, "NoSuchUpload"


class BucketAlreadyExists(StorageError):
    status, code = 409, "BucketAlreadyExists"


class BucketNotEmpty(StorageError):
    status, code = 409, "BucketNotEmpty"


class InvalidBucketName(StorageError):
    status, code = 400, "InvalidBucketName"


class InvalidObjectName(StorageError):
    status, code = 400, "KeyTooLongError"


class InvalidRange(StorageError):
    status, code = 416, "InvalidRange"


class InvalidPart(StorageError):
    status, code = 400, "InvalidPart"


class InvalidPartOrder(StorageError):
    status, code = 400, "InvalidPartOrder"


class BadDigest(StorageError):
    """The body does not match a digest or checksum the client sent."""

    status, code = 400, "BadDigest"


class IncompleteBody(StorageError):
    status, code = 400, "IncompleteBody"
