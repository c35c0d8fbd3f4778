"""Namespaces of an instance: pid (made by the zygote), mount, ipc, uts, cgroup and net.

Standard library only: runs in the zygote and its children.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

from fcompute.sandbox.linux import libc

# Entered by the child itself right after fork: they take effect for the caller at once.
CHILD_FLAGS = libc.CLONE_NEWNS | libc.CLONE_NEWIPC | libc.CLONE_NEWUTS | libc.CLONE_NEWCGROUP

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")


class PidNamespaces:
    """Gives each forked child a pid namespace of its own, with the child as its init.

    ``unshare(CLONE_NEWPID)`` changes only where the caller's *next* child is born,
    and a second unshare fails until the caller points that back at its own
    namespace, hence the ``setns`` after every fork. Doing it here rather than in
    the child saves a second fork per instance.
    """

    def __init__(self) -> None:
        self._own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    @property
    def fd(self) -> int:
        return self._own

    def before_fork(self) -> None:
        libc.unshare(libc.CLONE_NEWPID)

    def after_fork(self) -> None:
        libc.setns(self._own, libc.CLONE_NEWPID)

    def close(self) -> None:
        os.close(self._own)


def enter_instance_namespaces(private_network: bool, hostname: str) -> None:
    """Called by the child (already init of its pid namespace) before it builds its root."""
    flags = CHILD_FLAGS | (libc.CLONE_NEWNET if private_network else 0)
    libc.unshare(flags)
    libc.sethostname(hostname)
    if private_network:
        loopback_up()


def loopback_up() -> None:
    """A fresh network namespace has ``lo`` down: bring it up so 127.0.0.1 works inside."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = _IFREQ.pack(b"lo", 0)
        flags = _IFREQ.unpack(fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))
