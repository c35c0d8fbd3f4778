"""Dropping root: an unprivileged uid/gid, no capabilities, no new privileges.

Standard library only: runs in each child just before the runtime agent takes over.
"""

from __future__ import annotations

import os

from fcompute.sandbox.linux import libc

# securebits: root gets no special treatment on exec, and nobody can undo that.
_SECBIT_NOROOT = 1 << 0
_SECBIT_NOROOT_LOCKED = 1 << 1
_SECBIT_NO_SETUID_FIXUP_LOCKED = 1 << 3
_SECBIT_KEEP_CAPS_LOCKED = 1 << 5
_SECBIT_NO_CAP_AMBIENT_RAISE = 1 << 6
_SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7
SECUREBITS = (_SECBIT_NOROOT | _SECBIT_NOROOT_LOCKED | _SECBIT_NO_SETUID_FIXUP_LOCKED
              | _SECBIT_KEEP_CAPS_LOCKED | _SECBIT_NO_CAP_AMBIENT_RAISE
              | _SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)


def last_capability() -> int:
    """The highest capability number this kernel knows (read once, in the zygote)."""
    with open("/proc/sys/kernel/cap_last_cap") as source:
        return int(source.read())


def drop_privileges(uid: int, gid: int, cap_last: int) -> None:
    """Leaves the caller as ``uid:gid`` with every capability set empty, for good.

    Order matters: the bounding set and securebits need CAP_SETPCAP, so they go
    before the uid change; the uid change itself clears the permitted and effective
    sets (KEEP_CAPS is off and locked); capset then empties the inheritable set.
    """
    for cap in range(cap_last + 1):
        libc.prctl(libc.PR_CAPBSET_DROP, cap)
    libc.prctl(libc.PR_SET_SECUREBITS, SECUREBITS)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    libc.clear_capabilities()
    # Without this, a setuid binary or file capabilities could hand privileges back on exec.
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
