"""A request body on its way into the store: aws-chunked framing removed, and every digest
the client sent checked before the object becomes visible.

The digests: the signed payload hash (``x-amz-content-sha256`` as hex), ``Content-MD5``,
and one additional checksum (``x-amz-checksum-<algorithm>``) in a header or in the
aws-chunked trailer. The store computes MD5, CRC32 and (when asked) SHA-256 while it
writes and hands them to ``verify`` once the body has ended; a mismatch raises, and the
store drops what it wrote.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import AsyncIterator

from fcompute.objectstore import wire
from fcompute.objectstore.errors import BadDigest, StorageError
from fcompute.objectstore.files import Digests
from fcompute.objectstore.s3 import checksums, chunked, errors, sigv4
from fcompute.objectstore.s3.auth import Authentication
from fcompute.objectstore.s3.request import S3Request


def _content_md5(request: S3Request) -> bytes | None:
    value = request.header("content-md5")
    if not request.has("content-md5"):
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise errors.InvalidDigest("The Content-MD5 you specified was invalid.")
    return digest


def _header_checksum(request: S3Request) -> tuple[str, str] | None:
    found = [(algorithm, request.header(checksums.HEADER_PREFIX + algorithm))
             for algorithm in checksums.ALGORITHMS
             if request.has(checksums.HEADER_PREFIX + algorithm)]
    if len(found) > 1:
        raise errors.InvalidRequest("Expecting a single x-amz-checksum- header. Multiple "
                                    "checksum Types are not allowed.")
    if not found:
        return None
    algorithm, value = found[0]
    return algorithm, checksums.check_value(algorithm, value.strip())


def _declared_trailer(request: S3Request) -> str | None:
    value = request.header("x-amz-trailer").strip().lower()
    if not value:
        return None
    if not value.startswith(checksums.HEADER_PREFIX):
        raise errors.InvalidRequest(f"the trailer {value!r} is not an x-amz-checksum-* "
                                    "header; no other trailer is supported")
    return checksums.algorithm_named(value[len(checksums.HEADER_PREFIX):],
                                     what="x-amz-trailer")


def _decoded_length(request: S3Request) -> int | None:
    value = request.header("x-amz-decoded-content-length").strip()
    if not value:
        return None
    if not value.isdigit():
        raise StorageError("x-amz-decoded-content-length must be a number of bytes",
                           code="InvalidArgument")
    return int(value)


class IncomingBody:
    """One body: ``stream()`` feeds the store, ``verify`` checks it (the store's ``verify``
    callback), and ``checksums`` then holds what the object should keep (handed to the
    store as ``NewObject.checksums``: the store copies it only after ``verify`` ran, so
    a checksum that arrives in the trailer is kept too)."""

    def __init__(self, request: S3Request, auth: Authentication, *,
                 default_algorithm: str | None = "crc32") -> None:
        self._request = request
        self._auth = auth
        self._md5 = _content_md5(request)
        self._header = _header_checksum(request)
        self._trailer = _declared_trailer(request)
        if self._trailer and not auth.streaming:
            raise errors.InvalidRequest("x-amz-trailer needs an aws-chunked body "
                                        "(x-amz-content-sha256: STREAMING-...)")
        if self._header is not None:
            self.algorithm: str | None = self._header[0]
        else:
            self.algorithm = self._trailer or default_algorithm
        self._extra = checksums.ExtraDigests({self.algorithm} if self.algorithm else set())
        self._decoder: chunked.AwsChunkedDecoder | None = None
        if auth.streaming:
            self._decoder = chunked.AwsChunkedDecoder(
                auth.chunk_signer, signed=auth.payload_hash in (
                    sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER))
        self.checksums: dict[str, str] = {}

    @property
    def want_sha256(self) -> bool:
        return self._auth.payload_sha256 is not None or self.algorithm == "sha256"

    def stream(self) -> AsyncIterator[bytes]:
        body = wire.body_chunks(self._request.receive)
        if self._decoder is not None:
            body = chunked.decode(body, self._decoder, _decoded_length(self._request))
        return self._extra.passing(body)

    def _sent_checksum(self) -> tuple[str, str] | None:
        if self._header is not None:
            return self._header
        if self._decoder is None:
            return None
        trailers = self._decoder.trailers
        sent = [(algorithm, trailers[checksums.HEADER_PREFIX + algorithm])
                for algorithm in checksums.ALGORITHMS
                if checksums.HEADER_PREFIX + algorithm in trailers]
        if self._trailer and not any(algorithm == self._trailer for algorithm, _ in sent):
            raise errors.MalformedTrailer(
                f"The request contained trailing data that was not well-formed: the trailer "
                f"x-amz-checksum-{self._trailer} announced in x-amz-trailer never came")
        if len(sent) > 1:
            raise errors.InvalidRequest("Expecting a single x-amz-checksum- trailer.")
        if not sent:
            return None
        algorithm, value = sent[0]
        return algorithm, checksums.check_value(algorithm, value)

    def verify(self, digests: Digests) -> None:
        signed = self._auth.payload_sha256
        if signed is not None and digests.sha256 is not None and digests.sha256 != signed:
            raise errors.ContentSha256Mismatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ClientComputedContentSHA256=signed.hex(),
                S3ComputedContentSHA256=digests.sha256.hex())
        if self._md5 is not None and self._md5 != digests.md5:
            raise BadDigest("The Content-MD5 you specified did not match what we received.",
                            ExpectedDigest=self._md5.hex(), CalculatedDigest=digests.md5.hex())
        sent = self._sent_checksum()
        if sent is not None:
            algorithm, value = sent
            computed = self._extra.value(algorithm, digests)
            if algorithm not in checksums.UNCHECKED and computed is not None \
                    and computed != value:
                raise checksums.mismatch(algorithm)
            self.checksums[algorithm] = value
        elif self.algorithm is not None:
            computed = self._extra.value(self.algorithm, digests)
            if computed is not None:
                self.checksums[self.algorithm] = computed

    async def read_small(self, limit: int = 1024 * 1024) -> bytes:
        """A whole small body (an XML document), checked like any other."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.stream():
            size += len(chunk)
            if size > limit:
                raise errors.MalformedXML(f"the request body is larger than {limit} bytes")
            parts.append(chunk)
        body = b"".join(parts)
        self.verify(Digests(len(body), hashlib.md5(body).digest(), 0, zlib.crc32(body),
                            hashlib.sha256(body).digest()))
        return body
