"""Thin ctypes bindings for the Linux calls Python 3.11 does not expose.

Standard library only: loaded by the zygote before it forks, so every child
reuses the prepared function objects instead of resolving symbols again.
"""

from __future__ import annotations

import ctypes
import os
import platform

# Namespace flags (linux/sched.h).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# Mount flags (linux/mount.h).
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

# prctl options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# Syscalls glibc has no wrapper for, per architecture.
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126},
    "aarch64": {"pivot_root": 41, "capset": 91},
}

_libc = ctypes.CDLL("libc.so.6", use_errno=True)

_unshare = _libc.unshare
_unshare.argtypes = [ctypes.c_int]
_setns = _libc.setns
_setns.argtypes = [ctypes.c_int, ctypes.c_int]
_mount = _libc.mount
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                   ctypes.c_char_p]
_umount2 = _libc.umount2
_umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_sethostname = _libc.sethostname
_sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                   ctypes.c_ulong]
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> None:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def syscall_number(name: str) -> int:
    machine = platform.machine()
    try:
        return _SYSCALLS[machine][name]
    except KeyError:
        raise OSError(f"no syscall number for {name} on {machine}") from None


def unshare(flags: int) -> None:
    _check(_unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_setns(fd, nstype), "setns")


def mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    _check(
        _mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
               data.encode() if data else None),
        f"mount {target}",
    )


def umount2(target: str, flags: int) -> None:
    _check(_umount2(target.encode(), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    number = syscall_number("pivot_root")
    _check(_syscall(ctypes.c_long(number), new_root.encode(), put_old.encode()), "pivot_root")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_sethostname(raw, len(raw)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    _check(_prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAP_V3 = 0x20080522


def clear_capabilities() -> None:
    """Empties the effective, permitted and inheritable sets of the calling thread."""
    header = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    number = syscall_number("capset")
    _check(_syscall(ctypes.c_long(number), ctypes.byref(header), ctypes.byref(data)), "capset")



def rename_process(title: str) -> None:
    """Overwrites the caller's argv memory, which is what ``/proc/<pid>/cmdline`` shows.

    Forked instances inherit it: they must not see the interpreter's path or the
    platform's source tree as their own command line. Needs no privilege.
    """
    with open("/proc/self/stat", "rb") as source:
        fields = source.read().rsplit(b")", 1)[1].split()
    # Fields 48 and 49 of stat (arg_start, arg_end); the split starts at field 3.
    start, end = int(fields[45]), int(fields[46])
    raw = title.encode()[: max(0, end - start - 1)]
    ctypes.memmove(start, raw + b"\0" * (end - start - len(raw)), end - start)
