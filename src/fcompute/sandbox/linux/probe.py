"""Can the Linux sandbox work here? Asked once at start-up when the backend is ``auto``."""

from __future__ import annotations

import os
import subprocess
import sys

from fcompute.sandbox.process import real_python

# Run in a throw-away interpreter: unshare would otherwise move the platform itself.
_CHECK = """
import ctypes
libc = ctypes.CDLL("libc.so.6", use_errno=True)
flags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x20000000 | 0x40000000
if libc.unshare(flags) != 0:
    raise SystemExit("unshare: errno %d" % ctypes.get_errno())
"""


def unavailable_reason(python: str = "") -> str:
    """Why the Linux sandbox cannot run here, or "" when it can."""
    if not sys.platform.startswith("linux"):
        return f"it needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "it needs root (namespaces, cgroups and mounts)"
    from fcompute.sandbox.linux import cgroups

    if not cgroups.layout():
        return "no cgroup hierarchy offers the memory, cpu and pids controllers"
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, RuntimeError) as exc:
        return f"libseccomp is not usable: {exc}"
    try:
        check = subprocess.run([real_python(python), "-I", "-S", "-c", _CHECK],
                               capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the namespace check could not run: {exc}"
    if check.returncode != 0:
        return f"namespaces are not available: {check.stderr.decode().strip()[-200:]}"
    return ""
