"""Decoding ``Content-Encoding: aws-chunked`` bodies while they stream.

The framing (inside whatever HTTP transfer coding carried it)::

    <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    <trailer name>:<value>\\r\\n ... \\r\\n

boto3 sends it unsigned with a checksum trailer (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``);
other SDKs sign each chunk (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``, optionally with a
signed trailer). Data is handed on as it arrives, never a whole chunk held back: a bad
chunk signature or trailer raises, and the store then drops what it was writing.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from fcompute.objectstore import errors as store_errors
from fcompute.objectstore.s3 import errors
from fcompute.objectstore.s3.sigv4 import ChunkSigner

MAX_LINE = 4096  # a chunk header or trailer line; real ones are under 200 bytes
MAX_TRAILER_LINES = 16

_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


def _malformed(why: str) -> store_errors.StorageError:
    return store_errors.IncompleteBody(f"the aws-chunked body is malformed: {why}")


class AwsChunkedDecoder:
    """A push decoder: ``feed`` the encoded bytes, get the data; ``finish`` at the end."""

    def __init__(self, signer: ChunkSigner | None = None, *, signed: bool = False) -> None:
        self._signer = signer
        self._signed = signed  # chunk signatures are expected (checked if there is a signer)
        self._state = _HEADER
        self._line = b""
        self._remaining = 0
        self._chunk_sha256: hashlib._Hash | None = None
        self._chunk_signature = ""
        self._trailer_lines: list[bytes] = []
        self.trailers: dict[str, str] = {}
        self.decoded_size = 0

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        position, end = 0, len(data)
        while position < end:
            if self._state == _DATA:
                take = min(self._remaining, end - position)
                piece = data[position:position + take]
                if self._chunk_sha256 is not None:
                    self._chunk_sha256.update(piece)
                out.append(piece)
                self.decoded_size += take
                self._remaining -= take
                position += take
                if self._remaining == 0:
                    self._end_chunk_data()
                continue
            if self._state == _DONE:
                if data[position:].strip(b"\r\n"):
                    raise _malformed("bytes follow the final chunk")
                break
            newline = data.find(b"\n", position)
            if newline < 0:
                self._line += data[position:]
                if len(self._line) > MAX_LINE:
                    raise _malformed("a chunk header or trailer line is too long")
                break
            line = self._line + data[position:newline + 1]
            self._line = b""
            position = newline + 1
            if len(line) > MAX_LINE:
                raise _malformed("a chunk header or trailer line is too long")
            self._line_done(line.rstrip(b"\r\n"))
        return out

    def finish(self) -> None:
        """The body ended: it must have ended with the final chunk (and its trailer)."""
        if self._state == _TRAILER:
            # Tolerate a missing blank line after the trailer lines.
            if self._line.strip():
                self._trailer_line(self._line.rstrip(b"\r\n"))
            self._line = b""
            self._end_trailer()
        if self._state != _DONE:
            raise store_errors.IncompleteBody(
                "the aws-chunked body ended before its final (zero-length) chunk")

    def _line_done(self, line: bytes) -> None:
        if self._state == _HEADER:
            self._chunk_header(line)
        elif self._state == _DATA_END:
            if line:
                raise _malformed("a chunk's data is longer than its size says")
            self._state = _HEADER
        elif self._state == _TRAILER:
            if line:
                self._trailer_line(line)
            else:
                self._end_trailer()

    def _chunk_header(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise _malformed(f"{line[:40]!r} is not a chunk header") from None
        if size < 0:
            raise _malformed("a chunk size is negative")
        signature = ""
        name, _, value = extension.partition(b"=")
        if name.strip() == b"chunk-signature":
            signature = value.strip().decode("latin-1")
        if self._signed and not signature:
            raise errors.SignatureDoesNotMatch("a chunk of the signed aws-chunked body "
                                               "carries no chunk-signature")
        self._chunk_signature = signature
        self._chunk_sha256 = hashlib.sha256() if self._signer is not None else None
        if size == 0:
            self._check_chunk_signature()
            self._state = _TRAILER
        else:
            self._remaining = size
            self._state = _DATA

    def _end_chunk_data(self) -> None:
        self._check_chunk_signature()
        self._state = _DATA_END

    def _check_chunk_signature(self) -> None:
        if self._signer is not None and self._chunk_sha256 is not None:
            self._signer.check_chunk(self._chunk_sha256.hexdigest(), self._chunk_signature)

    def _trailer_line(self, line: bytes) -> None:
        if len(self._trailer_lines) >= MAX_TRAILER_LINES:
            raise _malformed("too many trailer lines")
        name, colon, value = line.partition(b":")
        if not colon:
            raise errors.MalformedTrailer(f"the trailer line {line[:60]!r} is not name:value")
        self._trailer_lines.append(line)
        self.trailers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")

    def _end_trailer(self) -> None:
        signature = self.trailers.pop("x-amz-trailer-signature", None)
        if self._signer is not None and signature is not None:
            signed = b"".join(line + b"\n" for line in self._trailer_lines
                              if not line.lower().startswith(b"x-amz-trailer-signature"))
            self._signer.check_trailer(signed, signature)
        self._state = _DONE


async def decode(body: AsyncIterator[bytes], decoder: AwsChunkedDecoder,
                 decoded_length: int | None) -> AsyncIterator[bytes]:
    """The data of an aws-chunked ``body``; checks its announced decoded length."""
    async for encoded in body:
        for piece in decoder.feed(encoded):
            yield piece
        if decoded_length is not None and decoder.decoded_size > decoded_length:
            raise store_errors.IncompleteBody(
                f"the body holds more than the {decoded_length} bytes "
                "x-amz-decoded-content-length announced")
    decoder.finish()
    if decoded_length is not None and decoder.decoded_size != decoded_length:
        raise store_errors.IncompleteBody(
            f"You did not provide the number of bytes specified by the "
            f"x-amz-decoded-content-length header ({decoder.decoded_size} of "
            f"{decoded_length})")
