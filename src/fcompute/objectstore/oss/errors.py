"""Errors as OSS answers them.

The engine raises ``StorageError``s named as S3 names them; most codes are OSS's too,
the few that differ are renamed here. An error is ``<Error><Code/><Message/>
<RequestId/><HostId/>...</Error>`` with the HTTP status oss2 maps to its exception class;
a HEAD answer has no body, so the same document goes base64-encoded in ``x-oss-err``,
which oss2 decodes.

Tree (all ``StorageError``)::

    AccessDenied (403)            anonymous request, or an expired presigned URL
    InvalidAccessKeyId (403)      unknown key, or a temporary key whose token is invalid
    SignatureDoesNotMatch (403)
    RequestTimeTooSkewed (403)
    NotModified (304)             a condition said "you have it already": no body at all
    PreconditionFailed (412)
    NotImplemented (501)          an OSS feature this store does not have
    MethodNotAllowed (405)
"""

from __future__ import annotations

import base64

from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.oss import xml

# Engine codes (S3's words) that OSS spells differently.
_OSS_CODES = {"KeyTooLongError": "InvalidObjectName", "BadDigest": "InvalidDigest"}


class AccessDenied(StorageError):
    status, code = 403, "AccessDenied"


class InvalidAccessKeyId(StorageError):
    status, code = 403, "InvalidAccessKeyId"


class SignatureDoesNotMatch(StorageError):
    status, code = 403, "SignatureDoesNotMatch"


class RequestTimeTooSkewed(StorageError):
    status, code = 403, "RequestTimeTooSkewed"


class NotModified(StorageError):
    status, code = 304, ""


class PreconditionFailed(StorageError):
    status, code = 412, "PreconditionFailed"


class NotImplementedFeature(StorageError):
    status, code = 501, "NotImplemented"


class MethodNotAllowed(StorageError):
    status, code = 405, "MethodNotAllowed"


class InvalidDigest(StorageError):
    status, code = 400, "InvalidDigest"


def oss_code(error: StorageError) -> str:
    return _OSS_CODES.get(error.code, error.code)


def error_document(error: StorageError, request_id: str, host: str) -> bytes:
    children: list[xml.Node] = [("Code", oss_code(error)), ("Message", error.message),
                                ("RequestId", request_id), ("HostId", host)]
    children += [(name, value) for name, value in error.details.items()]
    return xml.document("Error", children)


def head_error_header(document: bytes) -> bytes:
    """The ``x-oss-err`` header of a HEAD error: the error document, base64."""
    return base64.b64encode(document)
