"""A transfer's progress on stderr: one redrawn line on a terminal, a line per tenth elsewhere.

    bar = ProgressBar("uploads/big.bin", total=12 * 2**20, stream=sys.stderr, redraw=True)
    bar(262144)     # bytes just sent; called from the SDK's progress callback
    bar.finish()
"""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 24
REDRAW_EVERY_S = 0.1


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class ProgressBar:
    """``total`` may be None (stdin): then the line shows bytes and rate, no share."""

    def __init__(self, label: str, total: int | None, stream: TextIO, *, redraw: bool) -> None:
        self._label = label
        self._total = total
        self._stream = stream
        self._redraw = redraw  # a terminal: rewrite one line in place
        self._done = 0
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._tenths = -1

    def __call__(self, transferred: int) -> None:
        self._done += transferred
        if self._redraw:
            now = time.monotonic()
            if now - self._drawn_at >= REDRAW_EVERY_S:
                self._drawn_at = now
                self._stream.write("\r" + self._line() + "\033[K")
                self._stream.flush()
        elif self._total:
            tenths = min(self._done * 10 // self._total, 10)
            if tenths > self._tenths:
                self._tenths = tenths
                self._stream.write(self._line() + "\n")
                self._stream.flush()

    def finish(self) -> None:
        """The final state; on a terminal the line is then left in place."""
        if self._redraw:
            self._stream.write("\r" + self._line() + "\033[K\n")
        elif not self._total or self._tenths < 10:
            self._stream.write(self._line() + "\n")
        self._stream.flush()

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = f"{human_size(self._done / elapsed)}/s"
        if not self._total:
            return f"{self._label}  {human_size(self._done)}  {rate}"
        share = min(self._done / self._total, 1.0)
        filled = int(share * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        return (f"{self._label}  [{bar}] {share * 100:3.0f}%  "
                f"{human_size(self._done)} of {human_size(self._total)}  {rate}")
