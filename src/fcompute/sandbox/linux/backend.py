"""The Linux sandbox backend: instances forked by a zygote into namespaces and cgroups.

The platform side of the zygote protocol (``wire``): it boots the zygote on
``open`` (or the first ``start``), hands it each instance's socket and log file,
and turns its ``started``/``exited`` reports into :class:`LinuxProcess` objects.
Kills go straight to the instance through a pidfd, so a busy zygote never delays
a timeout; killing the pid-namespace init takes every process of the instance with it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

from fcompute.sandbox.base import ExitReason, InstanceSpec
from fcompute.sandbox.linux import wire
from fcompute.sandbox.linux.mounts import CODE_PATH
from fcompute.sandbox.process import real_python

log = logging.getLogger(__name__)

ZYGOTE = Path(__file__).resolve().parent / "zygote.py"
DEFAULT_PIDS_MAX = 128
# Instances run as uid/gid UID_BASE + n, one n per live instance: no instance can
# signal, trace or share files with another, nor with anything on the host.
UID_BASE = 200000
UID_COUNT = 65536
BOOT_TIMEOUT_SECONDS = 30.0


class SandboxUnavailable(OSError):
    """The zygote could not start or configure itself (no root, no namespaces, ...)."""


class LinuxProcess:
    def __init__(self, pid: int, pidfd: int, sock: socket.socket) -> None:
        self._pid = pid
        self._pidfd = pidfd
        self._socket = sock
        self._killed = False
        self._oom = False
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def pid(self) -> int:
        """The host pid of the instance's init (it sees itself as pid 1)."""
        return self._pid

    @property
    def socket(self) -> socket.socket:
        return self._socket

    @property
    def code_path(self) -> str:
        return CODE_PATH

    def kill(self) -> None:
        if self._exit.done() or self._pidfd < 0:
            return
        self._killed = True
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    def exit_reason(self) -> ExitReason:
        if not self._exit.done():
            return ExitReason.RUNNING
        if self._oom:
            return ExitReason.OUT_OF_MEMORY
        return ExitReason.KILLED if self._killed else ExitReason.EXITED

    def exited(self, status: int, oom: bool) -> None:
        """The zygote reaped the instance and released its cgroups."""
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        self._oom = oom
        if not self._exit.done():
            self._exit.set_result(status)


class LinuxSandbox:
    """Isolated instances on Linux; needs root, namespaces and cgroups (see ``probe``)."""

    name = "linux"
    isolates = True

    def __init__(self, state_dir: Path, python: str = "", pids_max: int = DEFAULT_PIDS_MAX,
                 tmp_size_mb: int | None = None) -> None:
        self._state_dir = state_dir
        # The object store's Unix socket and its port (``share_storage``).
        self._storage_socket: Path | None = None
        self._storage_port = 0
        self._python = real_python(python)
        self._pids_max = pids_max
        self._tmp_size_mb = tmp_size_mb
        self._seccomp: bytes | None = None
        self._zygote: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._booting: asyncio.Lock | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._pending: dict[int, tuple[asyncio.Future[LinuxProcess], socket.socket]] = {}
        self._processes: dict[int, LinuxProcess] = {}
        self._next_id = 0

    def share_storage(self, socket_path: Path, port: int) -> None:
        """Instances without internet access find the store at ``127.0.0.1:<port>`` in
        their own network, relayed to ``socket_path`` (``forwarder``). Before ``open``."""
        self._storage_socket = socket_path
        self._storage_port = port

    # zygote lifecycle ------------------------------------------------------------

    async def open(self) -> None:
        """Boots the zygote unless it runs already; idempotent."""
        if self._control is not None:
            return
        if self._booting is None:
            self._booting = asyncio.Lock()
        async with self._booting:
            if self._control is None:
                await self._boot()

    async def _boot(self) -> None:
        from fcompute.sandbox.linux.seccomp import build_filter

        if self._seccomp is None:
            self._seccomp = await asyncio.to_thread(build_filter)
        root = self._state_dir / "root"
        root.mkdir(parents=True, exist_ok=True)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": "/tmp",
            "PYTHONUNBUFFERED": "1",
        }
        try:
            # Started from the event loop's thread: the zygote's parent-death signal
            # follows the thread that forked it, and this one lives as long as the platform.
            # Its own session keeps a terminal's Ctrl-C away from it: the platform stops it.
            self._zygote = subprocess.Popen(  # noqa: ASYNC220 - a one-off, at boot
                [self._python, "-I", "-S", str(ZYGOTE), str(theirs.fileno())],
                stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), env=env, cwd="/",
                start_new_session=True,
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._control = ours
        loop.add_reader(ours.fileno(), self._on_readable)
        wire.send(ours, {
            "op": "configure", "skeleton": str(root), "seccomp": base64.b64encode(
                self._seccomp).decode(), "pidsMax": self._pids_max, "uidBase": UID_BASE,
            "uidCount": UID_COUNT, "readOnly": [], "storageSocket": self._storage_socket_path(),
            "storagePort": self._storage_port,
        })
        try:
            reply = await asyncio.wait_for(asyncio.shield(self._ready), BOOT_TIMEOUT_SECONDS)
        except (TimeoutError, OSError) as exc:
            self._lost()
            raise SandboxUnavailable(f"the sandbox zygote did not start: {exc}") from exc
        if reply.get("op") != "ready":
            self._lost()
            raise SandboxUnavailable(f"the sandbox zygote failed: {reply.get('error')}")
        log.info("linux sandbox ready: zygote pid %s", reply.get("pid"))

    def _storage_socket_path(self) -> str:
        socket_path = self._storage_socket
        if socket_path is None or not self._storage_port:
            return ""
        if not socket_path.is_socket():
            log.warning("no object-store socket at %s: functions without internet access "
                        "will not reach the store", socket_path)
            return ""
        return str(socket_path)

    async def close(self) -> None:
        control, zygote = self._control, self._zygote
        if control is None:
            return
        asyncio.get_running_loop().remove_reader(control.fileno())
        self._control = None
        # End of stream tells the zygote to kill every instance and clean up.
        control.close()
        if zygote is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(zygote.wait), 15)
            except TimeoutError:
                zygote.kill()
                await asyncio.to_thread(zygote.wait)
        self._forget_all()

    def _lost(self) -> None:
        """The zygote is gone (or never came up): fail whatever waits on it."""
        control = self._control
        self._control = None
        if control is not None:
            asyncio.get_running_loop().remove_reader(control.fileno())
            control.close()
        if self._zygote is not None:
            if self._zygote.poll() is None:
                self._zygote.kill()
            self._zygote.wait()
            self._zygote = None
        self._forget_all()

    def _forget_all(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(SandboxUnavailable("the sandbox zygote exited"))
        for future, sock in self._pending.values():
            sock.close()
            if not future.done():
                future.set_exception(SandboxUnavailable("the sandbox zygote exited"))
        self._pending.clear()
        for process in self._processes.values():
            process.kill()
            process.exited(-int(signal.SIGKILL), False)
        self._processes.clear()

    # instances -------------------------------------------------------------------

    async def start(self, spec: InstanceSpec) -> LinuxProcess:
        await self.open()
        control = self._control
        if control is None:
            raise SandboxUnavailable("the sandbox zygote is not running")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_fd = os.open(spec.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[LinuxProcess] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, parent)
        tmp_mb = self._tmp_size_mb if self._tmp_size_mb is not None else spec.tmp_size_mb
        try:
            await self._send(control, {
                "op": "start", "id": request_id, "instance": spec.instance_id,
                "codeDir": str(spec.code_dir), "memoryMb": spec.memory_mb, "tmpMb": tmp_mb,
                "internetAccess": spec.internet_access,
            }, [child.fileno(), log_fd])
        except OSError:
            self._pending.pop(request_id, None)
            parent.close()
            raise
        finally:
            os.close(log_fd)
            child.close()
        return await future

    async def _send(self, control: socket.socket, message: dict[str, Any],
                    fds: list[int]) -> None:
        while True:
            try:
                wire.send(control, message, fds)
                return
            except BlockingIOError:
                loop = asyncio.get_running_loop()
                writable: asyncio.Future[None] = loop.create_future()
                loop.add_writer(control.fileno(), writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(control.fileno())

    def _on_readable(self) -> None:
        control = self._control
        if control is None:
            return
        while True:
            try:
                received = wire.receive(control)
            except BlockingIOError:
                return
            except OSError:
                received = None
            if received is None:
                log.error("the sandbox zygote exited; instances were killed")
                self._lost()
                return
            self._dispatch(*received)

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        op = message.get("op")
        if op in ("ready", "failed"):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message)
        elif op == "started":
            future, sock = self._pending.pop(message["id"])
            sock.setblocking(False)
            process = LinuxProcess(message["pid"], fds[0], sock)
            self._processes[process.pid] = process
            if not future.done():
                future.set_result(process)
            else:
                process.kill()
            return
        elif op == "error":
            future, sock = self._pending.pop(message["id"])
            sock.close()
            if not future.done():
                future.set_exception(OSError(f"the sandbox could not start: {message['error']}"))
        elif op == "exited":
            exited = self._processes.pop(message["pid"], None)
            if exited is not None:
                exited.exited(int(message["status"]), bool(message["oom"]))
        for fd in fds:
            os.close(fd)
