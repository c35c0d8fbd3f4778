"""The filesystem an instance sees.

The zygote builds one read-only *skeleton* root at start-up, inside a mount
namespace of its own (so nothing of it shows on the host, and it vanishes with
the zygote): read-only binds of the system directories and of the Python
installation, a short allow-list of ``/etc`` files (no ``shadow``, no keys, no
platform configuration), a minimal ``/dev``, and empty mount points for ``/code``,
``/tmp`` and ``/proc``.

Each child then needs only a handful of mounts in its own copy of that
namespace: a size-capped tmpfs on ``/tmp``, the function's code read-only on
``/code``, a fresh ``/proc``, and ``pivot_root`` onto the skeleton, which drops
every other path of the host (the data dir, other functions' code) from view.

Standard library only: runs in the zygote and its children.
"""

from __future__ import annotations

import os
import stat

from fcompute.sandbox.linux import libc

CODE_PATH = "/code"
# Where the platform's storage Unix socket shows inside every instance (the one file of
# the host's data dir that does): the relay of network-isolated instances connects to it.
STORAGE_SOCKET = "/run/fcompute/storage.sock"

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")

# What programs and libraries need from /etc, and nothing that holds a secret.
ETC_ALLOWED = (
    "passwd", "group", "hosts", "resolv.conf", "nsswitch.conf", "host.conf", "gai.conf",
    "localtime", "timezone", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl",
    "ca-certificates", "ca-certificates.conf", "mime.types", "protocols", "services",
    "os-release", "debian_version", "alternatives", "locale.alias", "networks",
)

# (name, major, minor): the character devices a function may use.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
             # POSIX shared memory and semaphores land in the instance's private /tmp.
             ("shm", "/tmp"))

_RO_BIND = libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV


def private_mount_namespace() -> None:
    """Moves the caller into its own mount namespace that shares no mount events."""
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount("none", "/", "", libc.MS_REC | libc.MS_PRIVATE)


def _bind_read_only(source: str, target: str) -> None:
    libc.mount(source, target, "", libc.MS_BIND | libc.MS_REC)
    libc.mount("none", target, "", _RO_BIND)


def _bind_path(source: str, target: str) -> None:
    """Binds a file or directory, creating the mount point inside the skeleton."""
    real = os.path.realpath(source)
    if os.path.isdir(real):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w"):
            pass
    _bind_read_only(real, target)


def build_skeleton(root: str, extra_read_only: list[str], storage_socket: str = "") -> None:
    """Builds the shared read-only root at ``root`` (an existing, empty directory).

    ``extra_read_only`` lists more host directories to show at the same path, such
    as the Python installation when it lives outside ``/usr``. ``storage_socket``, when
    given, is the platform's storage Unix socket, shown at ``STORAGE_SOCKET`` (connecting
    to a socket needs no write access to its mount).
    """
    libc.mount("tmpfs", root, "tmpfs", libc.MS_NOSUID, "size=4m,mode=0755")
    for name in ("code", "tmp", "proc", "dev", "etc"):
        os.mkdir(os.path.join(root, name), 0o755)
    for directory in SYSTEM_DIRS:
        if not os.path.lexists(directory):
            continue
        target = root + directory
        if os.path.islink(directory):
            # Merged-/usr systems: /bin -> usr/bin; keep the link, the bind of /usr serves it.
            os.symlink(os.readlink(directory), target)
        else:
            _bind_path(directory, target)
    for path in extra_read_only:
        if any(path == d or path.startswith(d + "/") for d in SYSTEM_DIRS):
            continue
        _bind_path(path, root + path)
    for name in ETC_ALLOWED:
        source = os.path.join("/etc", name)
        if os.path.exists(source):
            _bind_path(source, os.path.join(root, "etc", name))
    if storage_socket:
        _bind_path(storage_socket, root + STORAGE_SOCKET)
    dev = os.path.join(root, "dev")
    for name, major, minor in DEVICES:
        path = os.path.join(dev, name)
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(path, 0o666)  # mknod honours the umask
    for name, target in DEV_LINKS:
        os.symlink(target, os.path.join(dev, name))
    libc.mount("none", root, "", libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID)


def enter_root(root: str, code_dir: str, tmp_size_mb: int) -> None:
    """In a child's own mount namespace: its private mounts, then ``pivot_root`` onto them."""
    libc.mount("tmpfs", root + "/tmp", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV,
               f"size={tmp_size_mb}m,mode=1777")
    _bind_read_only(code_dir, root + CODE_PATH)
    libc.mount("proc", root + "/proc", "proc",
               libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
    os.chdir(root)
    # pivot_root(".", ".") stacks the old root on top of the new one; detaching "."
    # then drops the old root and everything below it (the whole host tree).
    libc.pivot_root(".", ".")
    libc.umount2(".", libc.MNT_DETACH)
    os.chdir("/")
