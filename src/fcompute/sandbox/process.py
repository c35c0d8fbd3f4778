"""Plain-process backend: each instance is a child process in its own session.

It isolates nothing (no namespaces, no cgroups, no read-only root): for development
machines without root or namespaces. The platform says so loudly at start-up.

What it does contain is the instance's processes: the instance's first process is a
keeper (``keeper.py``), a child subreaper that runs the agent in a forked child and,
when the agent ends or the platform lets go of it, kills every process left below it,
double-forked and ``setsid`` ones included. The platform holds the write end of the
keeper's *lifeline* pipe: closing it is the kill, and it closes by itself when the
platform dies, so instances never outlive the platform either.
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

KEEPER = Path(__file__).resolve().parent / "keeper.py"
# How long a killed instance's keeper gets to end its processes before the platform
# kills the keeper's process group itself (the keeper never needs that long).
KEEPER_GRACE_SECONDS = 5.0


def real_python(configured: str = "") -> str:
    """The interpreter binary itself, never a version-manager shim (it costs ~25 ms per start)."""
    if configured:
        return configured
    return os.path.realpath(sys.executable)


class PlainProcess:
    def __init__(self, popen: subprocess.Popen[bytes], sock: socket.socket,
                 code_path: str, lifeline: int) -> None:
        self._popen = popen
        self._code_path = code_path
        self._socket = sock
        self._lifeline = lifeline
        self._killed = False
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pidfd = os.pidfd_open(popen.pid)
        asyncio.get_running_loop().add_reader(self._pidfd, self._reap)

    @property
    def pid(self) -> int:
        """The keeper's pid: the root of the instance's process tree."""
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
        # The keeper ended everything below it; should it itself have been killed, its
        # session's process group still goes.
        self._killpg()
        self._let_go()
        if not self._exit.done():
            self._exit.set_result(code)

    def _killpg(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signal.SIGKILL)

    def _let_go(self) -> None:
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1

    def _overdue(self) -> None:
        if not self._exit.done():
            self._killpg()

    def kill(self) -> None:
        if self._exit.done() or self._killed:
            return
        self._killed = True
        # The keeper sees its lifeline close, kills the agent and everything left below it.
        self._let_go()
        asyncio.get_running_loop().call_later(KEEPER_GRACE_SECONDS, self._overdue)

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

    def share_storage(self, socket_path: Path, port: int) -> None:
        """Nothing to do: instances share the platform's network, and its storage port."""

    async def start(self, spec: InstanceSpec) -> PlainProcess:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Not inheritable: only this keeper gets the read end, and no process but the
        # platform ever holds the write end.
        lifeline_read, lifeline = os.pipe()
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
                [self._python, "-I", "-S", str(KEEPER), str(child.fileno()),
                 str(lifeline_read)],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                pass_fds=(child.fileno(), lifeline_read),
                cwd=spec.code_dir,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            os.close(lifeline)
            raise
        finally:
            os.close(log_fd)
            os.close(lifeline_read)
            child.close()
        parent.setblocking(False)
        return PlainProcess(popen, parent, str(spec.code_dir), lifeline)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None
