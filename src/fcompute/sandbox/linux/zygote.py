"""The zygote: a pre-initialised process that forks isolated instances on request.

It starts once per platform (as root), imports the runtime agent and everything
the agent needs, builds the read-only root skeleton and the cgroup parents, then
waits on its control socket (see ``wire``). For each ``start`` it:

1. creates the instance's cgroups and opens their ``cgroup.procs`` files;
2. forks, after ``gc.freeze()`` so the child shares the zygote's heap pages
   instead of dirtying them, with the child born as init of a new pid namespace;
3. replies with the child's host pid and a pidfd, the only safe handle on it.

The child joins its cgroups, enters its own mount/ipc/uts/cgroup (and net)
namespaces, pivots onto the skeleton with its private mounts, drops to an
unprivileged uid with no capabilities and installs the seccomp filter; then it
becomes the runtime agent. Nothing is exec'd: a cold start costs a fork, a few
syscalls and the handler's import.

When a child exits (its pid namespace, and so every process of the instance,
is gone by then) the zygote reads its OOM counter, removes its cgroups and
reports ``exited``. End of the control stream kills every instance and exits.

Standard library only. Run as ``python -I -S zygote.py <control-fd>``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import gc
import os
import selectors
import signal
import socket
import sys
import traceback
from typing import Any

if __name__ == "__main__":  # started as a script: make the package importable, then hide it
    _root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    sys.path.insert(0, _root)
    import fcompute.runtime.agent
    import fcompute.sandbox.linux.wire
    sys.path.remove(_root)

# Everything the agent might import later: after pivot_root the package's
# source tree is out of sight, so it must already sit in sys.modules.
import json  # noqa: F401
import logging  # noqa: F401

import fcompute.runtime.wsgi  # noqa: F401
from fcompute.runtime import errors
from fcompute.runtime.agent import Agent
from fcompute.runtime.protocol import Kind, encode
from fcompute.sandbox.linux import (
    cgroups,
    credentials,
    forwarder,
    libc,
    mounts,
    namespaces,
    wire,
)
from fcompute.sandbox.linux.seccomp import SeccompProgram

# Exit status of a child whose sandbox set-up failed before the agent ran.
SETUP_FAILED = 121
AGENT_FD = 3
# The storage relay's listening socket, between confine() and the relay's fork.
RELAY_FD = 4
# Where it waits meanwhile (at or above): clear of the descriptors 0-4 set in confine().
_PARKED_FD = 256


class Instance:
    def __init__(self, pid: int, pidfd: int, cgroup: cgroups.InstanceCgroup, slot: int) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.cgroup = cgroup
        self.slot = slot
        # Killed by the zygote because its cgroup ran out of memory (cgroup v1).
        self.oom = False


class Zygote:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.instances: dict[int, Instance] = {}  # by pidfd
        self.oom_events: dict[int, Instance] = {}  # by OOM eventfd (cgroup v1)
        self.free_slots: list[int] = []

    # set-up ------------------------------------------------------------------

    def configure(self, config: dict[str, Any]) -> None:
        mounts.private_mount_namespace()
        self.skeleton: str = config["skeleton"]
        # The interpreter and its standard library must stay reachable after pivot_root.
        prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
        extra = sorted(p for p in prefixes if p != "/") + list(config.get("readOnly", []))
        # The platform's storage socket ("" when it has none): instances without internet
        # access reach the store through it, and through nothing else.
        storage_socket = str(config.get("storageSocket", ""))
        self.storage_port = int(config.get("storagePort", 0)) if storage_socket else 0
        mounts.build_skeleton(self.skeleton, extra, storage_socket)
        self.cgroups = cgroups.open_cgroups(os.getpid())
        self.seccomp = SeccompProgram(base64.b64decode(config["seccomp"]))
        self.pids_max = int(config["pidsMax"])
        self.uid_base = int(config["uidBase"])
        self.free_slots = list(range(int(config["uidCount"]) - 1, -1, -1))
        self.cap_last = credentials.last_capability()
        self.pid_namespaces = namespaces.PidNamespaces()

    # main loop ---------------------------------------------------------------

    def run(self) -> None:
        self.selector.register(self.control, selectors.EVENT_READ, None)
        while True:
            events = self.selector.select()
            # Start requests first: a cold start waits on them, an exit report does not.
            for key, _ in events:
                if key.data is None and not self.on_control():
                    return
            for key, _ in events:
                if key.fd in self.oom_events:
                    self.on_oom(self.oom_events[key.fd])
                elif key.data is not None and key.fd in self.instances:
                    self.on_exit(self.instances[key.fd])

    def on_control(self) -> bool:
        received = wire.receive(self.control)
        if received is None:
            return False
        message, fds = received
        if message.get("op") == "start":
            self.start(message, fds)
        else:
            for fd in fds:
                os.close(fd)
        return True

    # instances ---------------------------------------------------------------

    def start(self, request: dict[str, Any], fds: list[int]) -> None:
        request_id = request["id"]
        if len(fds) != 2 or not self.free_slots:
            for fd in fds:
                os.close(fd)
            wire.send(self.control, {"op": "error", "id": request_id,
                                     "error": "no uid left or bad descriptors"})
            return
        sock_fd, log_fd = fds
        slot = self.free_slots.pop()
        cgroup: cgroups.InstanceCgroup | None = None
        procs: list[int] = []
        try:
            cgroup = self.cgroups.create(
                f"i-{request['instance']}",
                cgroups.CgroupLimits(int(request["memoryMb"]), self.pids_max,
                                     tmp_mb=int(request["tmpMb"])),
            )
            procs = cgroup.open_procs()
            gc.freeze()
            self.pid_namespaces.before_fork()
            try:
                pid = os.fork()
                if pid == 0:
                    self.child(request, sock_fd, log_fd, procs, self.uid_base + slot)
            finally:
                self.pid_namespaces.after_fork()
            pidfd = os.pidfd_open(pid)
        except OSError as exc:
            self.free_slots.append(slot)
            if cgroup is not None:
                cgroup.remove()
            wire.send(self.control, {"op": "error", "id": request_id, "error": str(exc)})
            return
        finally:
            for fd in (*procs, sock_fd, log_fd):
                os.close(fd)
        instance = self.instances[pidfd] = Instance(pid, pidfd, cgroup, slot)
        self.selector.register(pidfd, selectors.EVENT_READ, pid)
        if cgroup.oom_event is not None:
            self.oom_events[cgroup.oom_event.fd] = instance
            self.selector.register(cgroup.oom_event.fd, selectors.EVENT_READ, pid)
        wire.send(self.control, {"op": "started", "id": request_id, "pid": pid}, [pidfd])

    def on_oom(self, instance: Instance) -> None:
        """The kernel killed a process of the instance for memory: the instance ends whole.

        Otherwise a handler whose child process was the victim would live on in an instance
        that broke its memory limit; ending it gives the caller ``Runtime.OutOfMemory`` and
        the next request a fresh instance, as when the agent itself is the victim.
        """
        event = instance.cgroup.oom_event
        if event is not None:
            event.consume()
        # Remembered, not left to the oom_kill counter: the notification can come before
        # the kernel kills anything (a write to /tmp failing to charge, say), and once this
        # kill is through the kernel never needs to.
        instance.oom = True
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(instance.pidfd, signal.SIGKILL)

    def on_exit(self, instance: Instance) -> None:
        self.selector.unregister(instance.pidfd)
        del self.instances[instance.pidfd]
        event = instance.cgroup.oom_event
        if event is not None:
            self.selector.unregister(event.fd)
            del self.oom_events[event.fd]
        _, status = os.waitpid(instance.pid, 0)
        os.close(instance.pidfd)
        oom = instance.oom or instance.cgroup.oom_killed()
        instance.cgroup.remove()
        self.free_slots.append(instance.slot)
        wire.send(self.control, {"op": "exited", "pid": instance.pid,
                                 "status": os.waitstatus_to_exitcode(status), "oom": oom})

    def shutdown(self) -> None:
        for instance in list(self.instances.values()):
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(instance.pidfd, signal.SIGKILL)
        for instance in list(self.instances.values()):
            with contextlib.suppress(OSError):
                self.on_exit(instance)
        self.cgroups.remove_parents()

    # the child -----------------------------------------------------------------

    def child(self, request: dict[str, Any], sock_fd: int, log_fd: int, procs: list[int],
              uid: int) -> None:
        """Runs in the forked child: confine it, then become the runtime agent. Never returns."""
        try:
            relay = self.confine(request, sock_fd, log_fd, procs, uid)
            if relay:
                self.fork_relay()
        except BaseException as exc:
            self.report_setup_failure(exc, sock_fd, log_fd)
            os._exit(SETUP_FAILED)
        status = 0
        try:
            Agent(socket.socket(fileno=AGENT_FD)).serve()
        except BaseException:
            traceback.print_exc()  # into the function's log: the agent itself failed
            status = 1
        finally:
            # Skip interpreter teardown: user threads must not keep a dead instance alive.
            os._exit(status)

    def confine(self, request: dict[str, Any], sock_fd: int, log_fd: int, procs: list[int],
                uid: int) -> bool:
        """Confines the child; True when it is to fork the storage relay (at RELAY_FD)."""
        os.setsid()
        for fd in procs:
            os.write(fd, b"0")
        private_network = not request["internetAccess"]
        namespaces.enter_instance_namespaces(
            private_network=private_network,
            hostname=f"fc-{request['instance'][:12]}",
        )
        relay = private_network and self.storage_port > 0
        listener = -1
        if relay:
            # Bound now, in the instance's own network, before privileges go (a port
            # below 1024 would need them); kept clear of the descriptors moved below.
            with forwarder.listen(self.storage_port) as sock:
                listener = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, _PARKED_FD)
        mounts.enter_root(self.skeleton, request["codeDir"], int(request["tmpMb"]))
        # The descriptors the agent keeps: /dev/null, the log twice, its socket (and the
        # relay's listener until the relay has it).
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.dup2(sock_fd, AGENT_FD)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        if relay:
            os.dup2(listener, RELAY_FD)
        self.control.detach()  # its descriptor goes with closerange below
        os.closerange((RELAY_FD if relay else AGENT_FD) + 1, 1 << 20)
        credentials.drop_privileges(uid, uid, self.cap_last)
        # Dies with the zygote even if the platform could not kill it (set after the
        # uid change, which resets it).
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        self.seccomp.install()
        return relay

    @staticmethod
    def fork_relay() -> None:
        """Forks the storage relay (confined like the agent, whose child it is)."""
        pid = os.fork()
        if pid == 0:
            os.close(AGENT_FD)
            forwarder.serve(socket.socket(fileno=RELAY_FD), mounts.STORAGE_SOCKET)
        os.close(RELAY_FD)

    @staticmethod
    def report_setup_failure(exc: BaseException, sock_fd: int, log_fd: int) -> None:
        message = f"the sandbox could not be set up: {type(exc).__name__}: {exc}"
        for fd in (log_fd, 2):
            with contextlib.suppress(OSError):
                os.write(fd, f"fcompute: {message}\n".encode())
        frame = encode(Kind.INIT_FAILED, {
            "errorType": errors.START_FAILED, "errorMessage": message, "stackTrace": []})
        for fd in (sock_fd, AGENT_FD):  # before or after the move to AGENT_FD
            try:
                os.write(fd, frame)
                return
            except OSError:
                pass


def main(argv: list[str]) -> None:
    # Dies with the platform: instances must never outlive it.
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
    control = socket.socket(fileno=int(argv[1]))
    libc.rename_process("fc-runtime")
    zygote = Zygote(control)
    received = wire.receive(control)
    if received is None:
        return
    try:
        zygote.configure(received[0])
    except BaseException as exc:
        wire.send(control, {"op": "failed", "error": f"{type(exc).__name__}: {exc}"})
        return
    wire.send(control, {"op": "ready", "pid": os.getpid()})
    try:
        zygote.run()
    finally:
        zygote.shutdown()


if __name__ == "__main__":
    main(sys.argv)
