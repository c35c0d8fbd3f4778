"""The seccomp filter of every instance.

The platform compiles the policy once with libseccomp (through the ``pyseccomp``
binding, imported only by :func:`build_filter`), which knows the syscall numbers
and architecture checks of each platform. The zygote receives the compiled BPF
program and each child installs it with one ``prctl``: no per-instance
compilation on the cold-start path, and the zygote stays standard library only.

The policy allows by default and refuses, with EPERM, what a function has no
business doing: mounting, namespace tricks, tracing, kernel modules and kexec,
BPF, keyrings, perf, userfaultfd, clock and swap changes, reboot.
"""

from __future__ import annotations

import ctypes
import errno
import tempfile

from fcompute.sandbox.linux import libc

DENIED = (
    # filesystems and namespaces
    "mount", "umount2", "pivot_root", "chroot", "setns", "unshare", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "name_to_handle_at",
    "open_by_handle_at",
    # other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # the kernel itself
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "bpf",
    "perf_event_open", "userfaultfd", "iopl", "ioperm", "syslog", "acct", "quotactl",
    "lookup_dcookie", "reboot", "swapon", "swapoff", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "vhangup", "uselib",
    "add_key", "request_key", "keyctl", "fanotify_init",
)

# clone() may make threads and processes but no namespaces.
_CLONE_NAMESPACE_FLAGS = (libc.CLONE_NEWNS | libc.CLONE_NEWCGROUP | libc.CLONE_NEWUTS
                          | libc.CLONE_NEWIPC | libc.CLONE_NEWPID | libc.CLONE_NEWNET
                          | 0x10000000)  # CLONE_NEWUSER
_TIOCSTI = 0x5412  # pushes keystrokes into a terminal's input


def build_filter() -> bytes:
    """The compiled BPF program of the policy (platform side; needs libseccomp)."""
    import pyseccomp

    policy = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    deny = pyseccomp.ERRNO(errno.EPERM)
    for name in DENIED:
        try:
            policy.add_rule(deny, name)
        except (ValueError, RuntimeError, OSError):
            continue  # unknown to this libseccomp or architecture
    policy.add_rule(deny, "clone",
                    pyseccomp.Arg(0, pyseccomp.MASKED_EQ, _CLONE_NAMESPACE_FLAGS,
                                  _CLONE_NAMESPACE_FLAGS))
    # clone3 passes its flags in memory that BPF cannot read: refuse it with ENOSYS so
    # the C library falls back to clone, whose flags the rule above checks.
    policy.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    policy.add_rule(deny, "ioctl", pyseccomp.Arg(1, pyseccomp.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
    with tempfile.TemporaryFile() as out:
        policy.export_bpf(out)
        out.seek(0)
        return out.read()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompProgram:
    """A compiled filter held in memory, ready for :meth:`install` in each child."""

    def __init__(self, bpf: bytes) -> None:
        if not bpf or len(bpf) % 8:
            raise ValueError("a BPF program is a non-empty sequence of 8-byte instructions")
        self._buffer = ctypes.create_string_buffer(bpf, len(bpf))
        self._program = _SockFprog(len(bpf) // 8, ctypes.addressof(self._buffer))

    def install(self) -> None:
        """Applies the filter to the calling thread for good (needs no_new_privs first)."""
        libc.prctl(libc.PR_SET_SECCOMP, libc.SECCOMP_MODE_FILTER,
                   ctypes.addressof(self._program))

