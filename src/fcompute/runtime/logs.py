"""Log capture inside an instance.

stdout and stderr (fds 1 and 2) of an instance point at its function's log file,
opened by the platform in append mode, so output of C extensions and child
processes lands there too. Python-level writes go through :class:`LogStream`,
which writes whole lines straight to fd 1 and keeps the tail of the current
invocation for ``x-fc-log-type: Tail``.

The ``FC Invoke Start`` marker is written lazily with the first output (or with the
End marker) so a silent invocation costs one write, not two.

Standard library only: imported inside every instance.
"""

from __future__ import annotations

import io
import os

TAIL_BYTES = 4096


class LogSink:
    """Where an instance's log text goes: fd 1, plus a bounded tail per invocation."""

    def __init__(self, fd: int = 1) -> None:
        self.fd = fd
        self.tail = bytearray()
        self._pending_start = b""

    def begin(self, marker: bytes) -> None:
        self.tail.clear()
        self._pending_start = marker

    def write(self, data: bytes) -> None:
        if self._pending_start:
            data = self._pending_start + data
            self._pending_start = b""
        self._write_all(data)
        tail = self.tail
        tail += data
        if len(tail) > 2 * TAIL_BYTES:
            del tail[: len(tail) - TAIL_BYTES]

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except OSError:
                return  # a full or closed log must not fail the invocation
            view = view[written:]

    def tail_bytes(self) -> bytes:
        return bytes(self.tail[-TAIL_BYTES:])


class _BinaryStream(io.RawIOBase):
    def __init__(self, text: LogStream) -> None:
        self._text = text

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._text.flush()
        self._text.sink.write(bytes(data))
        return len(data)


class LogStream(io.TextIOBase):
    """sys.stdout / sys.stderr replacement: line-buffered text onto the sink."""

    def __init__(self, sink: LogSink, name: str) -> None:
        self.sink = sink
        self._name = name
        self._parts: list[str] = []
        self.buffer = _BinaryStream(self)

    @property
    def name(self) -> str:
        return self._name

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.sink.fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._parts.append(text)
        if "\n" in text or len(self._parts) > 256:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._parts:
            data = "".join(self._parts).encode("utf-8", "replace")
            self._parts.clear()
            self.sink.write(data)
