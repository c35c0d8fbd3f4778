"""Helpers for the Linux sandbox tests: skipping, and looking at the zygote from the host."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.platform_process import PlatformProcess


def require_linux_sandbox() -> Any:
    """Skips when the Linux sandbox cannot run here, but never in CI (CI runs as root)."""
    from fcompute.sandbox.linux.probe import unavailable_reason

    reason = unavailable_reason()
    # In CI the tests run whatever the probe says, so a broken sandbox fails instead of skipping.
    skip = bool(reason) and os.environ.get("CI") != "true"
    return pytest.mark.skipif(skip, reason=f"Linux sandbox unavailable: {reason}")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(word) for word in text.split()]


def zygote_of(platform: PlatformProcess) -> int:
    assert platform.proc is not None
    for pid in children(platform.proc.pid):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"fc-runtime"):
                return pid
        except OSError:
            continue
    raise AssertionError("the platform runs no sandbox zygote")


def zygote_children(zygote: int) -> list[int]:
    """Live instances: the zygote's children that are not zombies."""
    alive = []
    for pid in children(zygote):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    return alive


def cgroup_children(zygote: int) -> list[str]:
    """Instance cgroups below the zygote's parent cgroups, in every hierarchy."""
    found = []
    for line in Path(f"/proc/{zygote}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",") if controllers else [""]
        for name in names:
            if name not in ("memory", "cpu", "pids", ""):
                continue
            base = Path("/sys/fs/cgroup") / name if name else Path("/sys/fs/cgroup")
            parent = base / path.lstrip("/") / f"fcompute-{zygote}"
            if parent.is_dir():
                found += [str(p) for p in parent.iterdir() if p.is_dir()]
    return found


def mount_count(pid: int) -> int:
    return len(Path(f"/proc/{pid}/mountinfo").read_text().splitlines())
