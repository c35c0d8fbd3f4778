"""cgroup limits of an instance, on the v1 (split hierarchies) and v2 (unified) layouts.

One small interface, :class:`Cgroups`, with one implementation per layout. Each
instance gets a cgroup named after it below ``fcompute-<zygote pid>``, itself below
the cgroup the zygote was started in, with:

- memory: the function's ``memorySize`` plus the size of its ``/tmp`` (swap included
  where it is accounted). ``/tmp`` is a tmpfs, whose files are memory the kernel charges
  to the instance's cgroup; the sum gives a function its whole ``memorySize`` however
  full its ``/tmp`` is, and its whole ``/tmp`` however much memory it uses, as FC's two
  separate budgets do (docs/sandbox.md has the trade-off);
- pids: a fixed cap, so a fork bomb stops inside its instance;
- cpu: a share proportional to memory, the FC/Lambda model (1 GiB weighs as much as
  an ordinary process: ``cpu.shares`` 1024 on v1, ``cpu.weight`` 100 on v2).

Standard library only: runs in the zygote.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass

ROOT = "/sys/fs/cgroup"
CONTROLLERS = ("memory", "cpu", "pids")
PARENT_PREFIX = "fcompute-"


@dataclass(frozen=True)
class CgroupLimits:
    memory_mb: int  # the function's memorySize: also what its CPU share follows
    pids_max: int
    tmp_mb: int = 0  # the size of its tmpfs /tmp, whose files count as memory

    @property
    def memory_limit_mb(self) -> int:
        """The cgroup's memory limit: room for memorySize and a full /tmp at once."""
        return self.memory_mb + self.tmp_mb


def cpu_shares(memory_mb: int) -> int:
    """cgroup v1 ``cpu.shares``: 1024 per GiB of memory (the kernel's minimum is 2)."""
    return max(2, memory_mb)


def cpu_weight(memory_mb: int) -> int:
    """cgroup v2 ``cpu.weight``: 100 per GiB of memory, within the kernel's 1..10000."""
    return min(10000, max(1, memory_mb * 100 // 1024))


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as source:
        return source.read()


def _counter(path: str, key: str) -> int:
    """A ``key value`` line of a flat-keyed cgroup file, 0 when absent."""
    try:
        for line in _read(path).splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except OSError:
        pass
    return 0


def _pids(procs_file: str) -> list[int]:
    try:
        return [int(line) for line in _read(procs_file).split()]
    except OSError:
        return []


def _rmdir(path: str) -> bool:
    """Removes a cgroup directory; the kernel may need a moment after the last exit."""
    for attempt in range(50):
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return False
            time.sleep(0.001 * (attempt + 1))
    return False


def _owner_alive(name: str) -> bool:
    pid = name[len(PARENT_PREFIX):]
    return pid.isdigit() and os.path.exists(f"/proc/{pid}")


class OomEvent:
    """A cgroup v1 OOM notification: an eventfd registered through ``cgroup.event_control``."""

    def __init__(self, memory_dir: str) -> None:
        self.fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._control = os.open(os.path.join(memory_dir, "memory.oom_control"),
                                os.O_RDONLY | os.O_CLOEXEC)
        try:
            _write(os.path.join(memory_dir, "cgroup.event_control"),
                   f"{self.fd} {self._control}")
        except OSError:
            self.close()
            raise

    def consume(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self.fd)

    def close(self) -> None:
        for fd in (self.fd, self._control):
            with contextlib.suppress(OSError):
                os.close(fd)


class InstanceCgroup:
    """The cgroup directories of one instance (one per hierarchy on v1, one on v2)."""

    def __init__(self, dirs: list[str], procs_files: list[str], oom_file: str,
                 kill_file: str, oom_event: OomEvent | None = None) -> None:
        self.dirs = dirs
        self.procs_files = procs_files
        self._oom_file = oom_file
        self._kill_file = kill_file
        # v1 only: readable when the kernel OOM-killed any process of the instance, so the
        # zygote can end the whole instance (v2 does that itself with memory.oom.group).
        self.oom_event = oom_event

    def open_procs(self) -> list[int]:
        """Write-only fds on ``cgroup.procs``: the child writes "0" to each to join."""
        return [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in self.procs_files]

    def oom_killed(self) -> bool:
        return _counter(self._oom_file, "oom_kill") > 0

    def pids(self) -> list[int]:
        return _pids(self.procs_files[-1])

    def kill(self) -> None:
        """Kills every process left in the cgroup (the pid namespace normally did already)."""
        if self._kill_file and os.path.exists(self._kill_file):
            try:
                _write(self._kill_file, "1")
                return
            except OSError:
                pass
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        if self.oom_event is not None:
            self.oom_event.close()
            self.oom_event = None
        removed = True
        for directory in self.dirs:
            if not _rmdir(directory):
                self.kill()
                removed = _rmdir(directory) and removed
        return removed


class Cgroups:
    """Creates and removes instance cgroups below one parent per zygote."""

    name = "none"

    def __init__(self, parents: list[str]) -> None:
        self.parents = parents

    def create(self, name: str, limits: CgroupLimits) -> InstanceCgroup:
        raise NotImplementedError

    def remove_parents(self) -> None:
        for parent in self.parents:
            _rmdir(parent)

    @staticmethod
    def _clean_stale(base: str) -> None:
        """Removes what a zygote that died without cleaning up left behind."""
        try:
            names = os.listdir(base)
        except OSError:
            return
        for name in names:
            if not name.startswith(PARENT_PREFIX) or _owner_alive(name):
                continue
            parent = os.path.join(base, name)
            for child in os.listdir(parent):
                path = os.path.join(parent, child)
                if os.path.isdir(path):
                    for pid in _pids(os.path.join(path, "cgroup.procs")):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    _rmdir(path)
            _rmdir(parent)


def _own_cgroups() -> dict[str, str]:
    """controller (or "" for the unified hierarchy) -> the caller's cgroup path."""
    result: dict[str, str] = {}
    for line in _read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            result[controller] = path
    return result


def _v1_mounts() -> dict[str, str]:
    """controller -> mount point of its v1 hierarchy."""
    mounts: dict[str, str] = {}
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields = right.split()
        if len(fields) < 3 or fields[0] != "cgroup":
            continue
        point = left.split()[4]
        for option in fields[2].split(","):
            if option in CONTROLLERS:
                mounts.setdefault(option, point)
    return mounts


class CgroupsV1(Cgroups):
    name = "v1"

    def __init__(self, owner_pid: int) -> None:
        own = _own_cgroups()
        mounts = _v1_mounts()
        self._bases = {c: mounts[c] + own.get(c, "/").rstrip("/") for c in CONTROLLERS}
        for base in self._bases.values():
            self._clean_stale(base)
        parent_name = f"{PARENT_PREFIX}{owner_pid}"
        self._parents = {c: os.path.join(b, parent_name) for c, b in self._bases.items()}
        super().__init__(list(self._parents.values()))
        for parent in self.parents:
            os.makedirs(parent, exist_ok=True)

    def create(self, name: str, limits: CgroupLimits) -> InstanceCgroup:
        dirs = {c: os.path.join(p, name) for c, p in self._parents.items()}
        for directory in dirs.values():
            os.mkdir(directory)
        memory = str(limits.memory_limit_mb * 1024 * 1024)
        _write(os.path.join(dirs["memory"], "memory.limit_in_bytes"), memory)
        swap = os.path.join(dirs["memory"], "memory.memsw.limit_in_bytes")
        if os.path.exists(swap):
            _write(swap, memory)
        _write(os.path.join(dirs["cpu"], "cpu.shares"), str(cpu_shares(limits.memory_mb)))
        _write(os.path.join(dirs["pids"], "pids.max"), str(limits.pids_max))
        # pids last: InstanceCgroup.pids() reads the last procs file.
        ordered = [dirs["memory"], dirs["cpu"], dirs["pids"]]
        return InstanceCgroup(
            ordered, [os.path.join(d, "cgroup.procs") for d in ordered],
            os.path.join(dirs["memory"], "memory.oom_control"), "",
            OomEvent(dirs["memory"]),
        )


class CgroupsV2(Cgroups):
    name = "v2"

    def __init__(self, owner_pid: int) -> None:
        base = ROOT + _own_cgroups().get("", "/").rstrip("/")
        self._clean_stale(base)
        self._enable_controllers(base)
        parent = os.path.join(base, f"{PARENT_PREFIX}{owner_pid}")
        super().__init__([parent])
        os.makedirs(parent, exist_ok=True)
        _write(os.path.join(parent, "cgroup.subtree_control"),
               " ".join(f"+{c}" for c in CONTROLLERS))

    @staticmethod
    def _enable_controllers(base: str) -> None:
        """Delegates the controllers below ``base``.

        v2 forbids processes in a cgroup whose children use controllers, so when the
        platform sits in ``base`` itself, its processes move to a leaf ``fcompute-host``.
        """
        wanted = " ".join(f"+{c}" for c in CONTROLLERS)
        control = os.path.join(base, "cgroup.subtree_control")
        try:
            _write(control, wanted)
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
        leaf = os.path.join(base, "fcompute-host")
        os.makedirs(leaf, exist_ok=True)
        for pid in _pids(os.path.join(base, "cgroup.procs")):
            with contextlib.suppress(OSError):  # exited, or a kernel thread
                _write(os.path.join(leaf, "cgroup.procs"), str(pid))
        _write(control, wanted)

    def create(self, name: str, limits: CgroupLimits) -> InstanceCgroup:
        directory = os.path.join(self.parents[0], name)
        os.mkdir(directory)
        memory = str(limits.memory_limit_mb * 1024 * 1024)
        _write(os.path.join(directory, "memory.max"), memory)
        for file, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            path = os.path.join(directory, file)
            if os.path.exists(path):
                _write(path, value)
        _write(os.path.join(directory, "cpu.weight"), str(cpu_weight(limits.memory_mb)))
        _write(os.path.join(directory, "pids.max"), str(limits.pids_max))
        return InstanceCgroup(
            [directory], [os.path.join(directory, "cgroup.procs")],
            os.path.join(directory, "memory.events"), os.path.join(directory, "cgroup.kill"),
        )


def layout() -> str:
    """"v2" when the controllers live on the unified hierarchy, "v1" when they are split
    (hybrid systems count as v1), "" when neither offers memory, cpu and pids."""
    try:
        available = _read(os.path.join(ROOT, "cgroup.controllers")).split()
        if all(c in available for c in CONTROLLERS):
            return "v2"
    except OSError:
        pass
    try:
        mounts = _v1_mounts()
    except OSError:
        return ""
    return "v1" if all(c in mounts for c in CONTROLLERS) else ""


def open_cgroups(owner_pid: int) -> Cgroups:
    kind = layout()
    if kind == "v2":
        return CgroupsV2(owner_pid)
    if kind == "v1":
        return CgroupsV1(owner_pid)
    raise OSError("no cgroup hierarchy offers the memory, cpu and pids controllers")
