"""Starting, watching and stopping the servers a benchmark measures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

from _http import BlockingClient, build_request

BENCH_DIR = Path(__file__).resolve().parent


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together while chosen, so that
    the kernel cannot hand out one of them twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Server:
    """A server subprocess on a free loopback port; its output goes to ``log_path``."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self.host = "127.0.0.1"
        # The object store's port of a platform started with one (0: none, or unknown).
        self.storage_port = 0
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, cwd=BENCH_DIR.parent)

    def wait_ready(self, path: str = "/", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        request = build_request(self.host, self.port, "GET", path)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_path.read_text()}")
            try:
                client = BlockingClient(self.host, self.port)
            except OSError:
                time.sleep(0.05)
                continue
            try:
                client.call(request)
                return
            except OSError:  # accepted but dropped while the server was still starting
                time.sleep(0.05)
            finally:
                client.close()
        raise RuntimeError(f"{self.name} did not start:\n{self.log_path.read_text()}")

    def descendants(self) -> list[int]:
        """PIDs of the server's process tree below the server itself."""
        found: list[int] = []
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            for child in children:
                found.append(int(child))
                todo.append(int(child))
        return found

    @staticmethod
    def _cpu_of(pid: int) -> float:
        """CPU time of every thread of ``pid``, in seconds, with nanosecond resolution."""
        total = 0
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return 0.0
        for tid in tids:
            try:
                # schedstat(5): time on CPU (ns), time waiting to run, timeslices.
                total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
        return total / 1e9

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time used so far by (the server process, its live descendants)."""
        return self._cpu_of(self.proc.pid), sum(self._cpu_of(p) for p in self.descendants())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_platform(data_dir: Path, log_path: Path, extra_args: list[str],
                   env: dict[str, str] | None = None, cpus: str = "",
                   name: str = "platform") -> Server:
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPUTE_")}
    server_env.update(env or {})
    port, storage_port = free_ports(2)
    # taskset pins the whole tree: instances inherit the platform's CPU set.
    prefix = ["taskset", "-c", cpus] if cpus else []
    argv = [*prefix, sys.executable, "-m", "fcompute.cli.main", "serve", "--port", str(port),
            "--data-dir", str(data_dir)]
    # The checkout that runs (PYTHONPATH of a --compare export, else this one) is asked
    # which options its serve has, so that older trees still start.
    checkout = server_env.get("PYTHONPATH", "")
    chosen = any(arg.startswith("--sandbox") for arg in extra_args)
    if not chosen and _serve_accepts("--sandbox", checkout):
        argv += ["--sandbox", "process"]
    # The store's port defaults to 9001: platforms started side by side, or by benchmarks
    # running at the same time, would fight over it.
    given_storage_port = _option_value(extra_args, "--storage-port")
    if given_storage_port is None and _serve_accepts("--storage-port", checkout):
        argv += ["--storage-port", str(storage_port)]
    else:
        storage_port = int(given_storage_port or 0)
    server = Server(name, argv + extra_args, port, log_path, server_env)
    server.storage_port = storage_port
    server.wait_ready("/2016-08-15/services")
    return server


def _option_value(args: list[str], option: str) -> str | None:
    """The value given to ``option`` in ``args`` (``--opt=V`` or ``--opt V``), if any."""
    for index, arg in enumerate(args):
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
        if arg == option:
            return args[index + 1] if index + 1 < len(args) else ""
    return None


def start_floor(mode: str, log_path: Path, cpus: str = "") -> Server:
    port = free_port()
    prefix = ["taskset", "-c", cpus] if cpus else []
    argv = [*prefix, sys.executable, str(BENCH_DIR / "_floor_app.py"), mode, str(port)]
    server = Server(mode, argv, port, log_path)
    server.wait_ready()
    return server


def _serve_accepts(option: str, checkout: str = "") -> bool:
    """Whether ``fcompute serve`` of ``checkout`` (a PYTHONPATH; "" for this tree's)
    has ``option``."""
    return option in _serve_help(checkout)


@cache
def _serve_help(checkout: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if checkout:
        env["PYTHONPATH"] = checkout
    out = subprocess.run([sys.executable, "-m", "fcompute.cli.main", "serve", "--help"],
                         capture_output=True, text=True, check=False, env=env,
                         cwd=BENCH_DIR.parent)
    return out.stdout
