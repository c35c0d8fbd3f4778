"""What each operation gets: the request, who sent it, the store, and the way to answer."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fcompute.objectstore.engine import ObjectStore
from fcompute.objectstore.errors import StorageError
from fcompute.objectstore.s3 import xmldoc
from fcompute.objectstore.s3.auth import Authentication
from fcompute.objectstore.s3.payload import IncomingBody
from fcompute.objectstore.s3.request import S3Request
from fcompute.objectstore.s3.responses import Responder

# One account owns every bucket: the store has no per-key ownership.
OWNER_ID = hashlib.sha256(b"fcompute object store owner").hexdigest()
OWNER_NAME = "fcompute"


@dataclass
class Call:
    request: S3Request
    auth: Authentication
    store: ObjectStore
    respond: Responder
    region: str

    def body(self, *, default_algorithm: str | None = "crc32") -> IncomingBody:
        return IncomingBody(self.request, self.auth, default_algorithm=default_algorithm)

    def int_param(self, name: str, default: int, *, low: int = 0, high: int = 1000) -> int:
        """A numeric query parameter, capped at ``high`` as S3 caps max-keys."""
        value = self.request.query.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < low:
            raise StorageError(f"{name} must be an integer of at least {low}",
                               code="InvalidArgument", ArgumentName=name,
                               ArgumentValue=value[:100])
        return min(number, high)


Operation = Callable[[Call], Awaitable[None]]


def owner() -> list[str]:
    return xmldoc.elements(("ID", OWNER_ID), ("DisplayName", OWNER_NAME))


def encode_token(marker: str) -> str:
    """Continuation tokens are the marker to go on after, opaque to clients."""
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogatepass")).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8", "surrogatepass")
    except (binascii.Error, UnicodeError, ValueError):
        raise StorageError("The continuation token provided is incorrect",
                           code="InvalidArgument", ArgumentName="continuation-token") from None
