"""Where each function's log lives, and reading an invocation back out of it."""

from __future__ import annotations

import os
from pathlib import Path

from fcompute.limits import LOG_TAIL_BYTES

# How far back from the end of a log file to look for an invocation's start marker.
SCAN_BYTES = 256 * 1024


class LogFiles:
    def __init__(self, root: Path) -> None:
        self._root = root

    def path(self, service: str, function: str) -> Path:
        directory = self._root / service
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"{function}.log"

    @staticmethod
    def tail_of(path: Path, request_id: str) -> str:
        """The last 4 KB an invocation wrote, read from the file (used when its instance died)."""
        try:
            with open(path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - SCAN_BYTES))
                data = handle.read()
        except FileNotFoundError:
            return ""
        marker = f"FC Invoke Start RequestId: {request_id}".encode()
        start = data.rfind(marker)
        if start < 0:
            return ""
        chunk = data[start:]
        return chunk[-LOG_TAIL_BYTES:].decode("utf-8", "replace")

    @staticmethod
    def close_failed(path: Path, request_id: str, error: str) -> None:
        """Ends the framing of an invocation whose instance died.

        The agent writes the Start marker with the first output, so a silent handler that
        timed out or crashed has none yet: it is written here, before the error and End.
        """
        start = f"FC Invoke Start RequestId: {request_id}\n"
        text = f"{error}\nFC Invoke End RequestId: {request_id}\n"
        if not LogFiles.tail_of(path, request_id):
            text = start + text
        LogFiles.append(path, text)

    @staticmethod
    def append(path: Path, text: str) -> None:
        with open(path, "ab") as handle:
            handle.write(text.encode("utf-8", "replace"))
