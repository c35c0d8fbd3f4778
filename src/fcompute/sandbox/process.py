"""Plain-process backend: each instance is a child process in its own session.

It isolates nothing (no namespaces, no cgroups, no read-only root): for development
machines without root or namespaces. The platform says so loudly at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from fcompute.sandbox.base import ExitReason, InstanceSpec

AGENT = Path(__file__).resolve().parent.parent / "runtime" / "agent.py"


def real_python(configured: str = "") -> str:
    """The interpreter binary itself, never a version-manager shim (it costs ~25 ms per start)."""
    if configured:
        return configured
    return os.path.realpath(sys.executable)


class PlainProcess:
    def __init__(self, popen: subprocess.Popen[bytes], sock: socket.socket,
                 code_path: str) -> None:
        self._popen = popen
        self._code_path = code_path
        self._socket = sock
        self._killed = False
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pidfd = os.pidfd_open(popen.pid)
        asyncio.get_running_loop().add_reader(self._pidfd, self._reap)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def socket(self) -> socket.socket:
        return self._socket

    @property
    def code_path(self) -> str:
        return self._code_path

    def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        code = self._popen.wait()
        # The agent may have left children behind in its session: end them too.
        self._killpg()
        if not self._exit.done():
            self._exit.set_result(code)

    def _killpg(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signal.SIGKILL)

    def kill(self) -> None:
        if self._exit.done():
            return
        self._killed = True
        self._killpg()

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    def exit_reason(self) -> ExitReason:
        if not self._exit.done():
            return ExitReason.RUNNING
        return ExitReason.KILLED if self._killed else ExitReason.EXITED


class ProcessSandbox:
    name = "process"
    isolates = False

    def __init__(self, python: str = "") -> None:
        self._python = real_python(python)

    async def start(self, spec: InstanceSpec) -> PlainProcess:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_fd = os.open(spec.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": "/tmp",
            "PYTHONUNBUFFERED": "1",
        }
        try:
            # Popen uses vfork+exec here: about a millisecond, cheaper than a thread hop.
            popen = subprocess.Popen(  # noqa: ASYNC220
                [self._python, "-I", "-S", str(AGENT), str(child.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                pass_fds=(child.fileno(),),
                cwd=spec.code_dir,
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
            child.close()
        parent.setblocking(False)
        return PlainProcess(popen, parent, str(spec.code_dir))

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None
