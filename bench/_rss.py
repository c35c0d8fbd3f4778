"""The resident memory of a server process, sampled while something runs.

``VmRSS`` in ``/proc/<pid>/status`` is the process's: its threads share one address space,
so the worker threads' stacks and buffers are in it. The page cache is not.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def idle_rss(pid: int, seconds: float = 0.5, interval: float = 0.05) -> int:
    """The largest RSS over a short quiet time."""
    peak = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        peak = max(peak, rss_bytes(pid))
        time.sleep(interval)
    return peak


class RssPeak:
    """``with RssPeak(pid) as sampled:`` samples every ``interval`` seconds in a thread;
    ``sampled.peak`` is the largest RSS seen (a sample at the start and at the end too)."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, rss_bytes(self.pid))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssPeak:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
