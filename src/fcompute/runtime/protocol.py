"""Framing between the platform and the runtime agent inside an instance.

Version 2. Every frame is a fixed header followed by a JSON meta part and a raw
payload part, so event bodies and results never pass through JSON:

    +----------------+-----------+----------------+-----------+-----------+
    | body_len (u32) | kind (u8) | meta_len (u32) | meta JSON | payload   |
    +----------------+-----------+----------------+-----------+-----------+
    body_len counts meta and payload; all integers big-endian.

The platform speaks first with INIT; the agent answers READY or INIT_FAILED (with
LOADED before them when an initializer runs, so its time limit applies to it alone) and
then serves one request at a time: INVOKE -> RESULT | ERROR, or
HTTP -> HTTP_START, HTTP_BODY*, HTTP_END | ERROR.

Every frame the agent sends names the request it answers in ``requestId`` (for INIT, the
``initRequestId``): user code shares the instance with the agent and can write to the
socket too, so the platform checks each reply against the request in flight and ends the
instance on the first frame that does not belong there (version 2; version 1 frames named
no request).

Standard library only: this module is imported inside every instance.
"""

from __future__ import annotations

import json
import struct
from enum import IntEnum
from typing import Any

VERSION = 2
HEADER = struct.Struct("!IBI")
MAX_FRAME = 64 * 1024 * 1024
# FC's limit for a synchronous response, like the limit for its request.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
# The largest reply frame the platform reads: a full response plus room for its meta (an
# error's stack trace, a log tail). HTTP bodies travel in smaller chunks.
MAX_REPLY_FRAME = MAX_RESPONSE_BYTES + 1024 * 1024


class Kind(IntEnum):
    # platform -> agent
    INIT = 1
    INVOKE = 2
    HTTP = 3
    # agent -> platform
    LOADED = 17  # handler imported, initializer starting
    READY = 10
    INIT_FAILED = 11
    RESULT = 12
    ERROR = 13
    HTTP_START = 14
    HTTP_BODY = 15
    HTTP_END = 16


EMPTY_META = b"{}"

# Built once: json.dumps() with non-default separators builds a new encoder on every call,
# and frames are encoded on both sides of every invocation.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode
_decode_json = json.JSONDecoder().decode
_KINDS = {kind.value: kind for kind in Kind}


def encode(kind: Kind, meta: dict[str, Any] | None = None, payload: bytes = b"") -> bytes:
    meta_bytes = _encode_json(meta).encode() if meta else EMPTY_META
    header = HEADER.pack(len(meta_bytes) + len(payload), kind, len(meta_bytes))
    # One copy of the payload (it may be megabytes), not one per concatenation.
    return b"".join((header, meta_bytes, payload)) if payload else header + meta_bytes


def _kind(value: int) -> Kind:
    kind = _KINDS.get(value)
    if kind is None:
        raise ValueError(f"malformed frame: unknown kind {value}")
    return kind


class FrameTooLarge(ValueError):
    """A frame declares a body over the decoder's limit."""


class FrameDecoder:
    """Incremental decoder: feed bytes, get complete frames back.

    Raises ValueError on a malformed frame (FrameTooLarge past ``max_frame``); the stream
    cannot be trusted after that.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self._max_frame = max_frame

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[tuple[Kind, dict[str, Any], bytes]]:
        if not self._buffer:
            # The common case (one whole frame per read) parses ``data`` in place:
            # no copy into the buffer and back out.
            frames, offset = self._parse(data, self._max_frame)
            if offset < len(data):
                self._buffer += data[offset:] if offset else data
            return frames
        buffer = self._buffer
        buffer += data
        frames, offset = self._parse(buffer, self._max_frame)
        if offset:
            del buffer[:offset]
        return frames

    @staticmethod
    def _parse(
        buffer: bytes | bytearray, max_frame: int,
    ) -> tuple[list[tuple[Kind, dict[str, Any], bytes]], int]:
        """The complete frames at the start of ``buffer``, and where they end."""
        frames: list[tuple[Kind, dict[str, Any], bytes]] = []
        offset = 0
        size = len(buffer)
        while size - offset >= HEADER.size:
            body_len, kind, meta_len = HEADER.unpack_from(buffer, offset)
            if body_len > max_frame:
                raise FrameTooLarge(f"frame of {body_len} bytes, at most {max_frame} allowed")
            if meta_len > body_len:
                raise ValueError(f"malformed frame: body {body_len}, meta {meta_len}")
            end = offset + HEADER.size + body_len
            if end > size:
                break
            meta_start = offset + HEADER.size
            meta_end = meta_start + meta_len
            meta = (
                _decode_json(bytes(buffer[meta_start:meta_end]).decode())
                if meta_len > 2 else {}
            )
            if type(meta) is not dict:
                raise ValueError(f"malformed frame: meta is a {type(meta).__name__}")
            frames.append((_kind(kind), meta, bytes(buffer[meta_end:end])))
            offset = end
        return frames, offset
