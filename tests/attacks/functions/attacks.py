"""Handlers of the sandbox attack battery: each tries one escape and reports what happened.

Deployed as real functions by ``tests/test_sandbox_attacks.py``. Every handler
answers JSON ``{"denied": bool, "detail": str}``; the event is a JSON object with
whatever host paths, pids or ports the attack aims at.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import time
from typing import Any

LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
PTRACE_ATTACH = 16
SYS_PTRACE = 101
SYS_INIT_MODULE = 175
SYS_FINIT_MODULE = 313


def answer(denied: bool, detail: str) -> str:
    return json.dumps({"denied": denied, "detail": detail})


def event_of(raw: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(raw or b"{}")
    return parsed


def try_read(paths: list[str]) -> str:
    """'' when every path stays unreadable, else the first one that could be read."""
    for path in paths:
        try:
            with open(path, "rb") as source:
                source.read(16)
            return path
        except OSError:
            continue
    return ""


def victim(event: bytes, context: Any) -> str:
    """The neighbour: keeps a secret in its /tmp and answers as long as it lives."""
    with open("/tmp/victim-secret", "w") as handle:
        handle.write("secret")
    return answer(False, "victim alive")


def read_other_code(event: bytes, context: Any) -> str:
    request = event_of(event)
    hit = try_read(request["paths"])
    return answer(not hit, hit or "code of others is out of sight")


def read_platform_data(event: bytes, context: Any) -> str:
    request = event_of(event)
    hit = try_read(request["paths"])
    visible = [p for p in request["dirs"] if os.path.exists(p)]
    return answer(not hit and not visible, hit or ",".join(visible) or "no platform path")


def read_other_tmp(event: bytes, context: Any) -> str:
    seen = os.listdir("/tmp")
    return answer("victim-secret" not in seen, repr(seen))


def write_outside_tmp(event: bytes, context: Any) -> str:
    written = []
    for path in ("/code/x", "/etc/x", "/usr/x", "/x", "/dev/x", "/proc/x"):
        try:
            with open(path, "w") as handle:
                handle.write("x")
            written.append(path)
        except OSError:
            continue
    with open("/tmp/allowed", "w") as handle:  # /tmp itself is writable
        handle.write("x")
    return answer(not written, repr(written))


def fill_tmp(event: bytes, context: Any) -> str:
    chunk = b"\0" * (1 << 20)
    written = 0
    try:
        with open("/tmp/fill", "wb") as handle:
            for _ in range(event_of(event)["mb"]):
                handle.write(chunk)
                written += 1
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        os.unlink("/tmp/fill")
        return answer(exc.errno == errno.ENOSPC, f"stopped after {written} MB: {exc}")
    return answer(False, f"wrote {written} MB")


def allocate(event: bytes, context: Any) -> str:
    hoard = []
    for _ in range(event_of(event)["mb"]):
        block = bytearray(1 << 20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
        hoard.append(block)
    return answer(False, f"allocated {len(hoard)} MB")


def fork_bomb(event: bytes, context: Any) -> str:
    children = 0
    try:
        for _ in range(event_of(event)["limit"]):
            if os.fork() == 0:
                time.sleep(3600)
                os._exit(0)
            children += 1
    except OSError as exc:
        return answer(True, f"stopped after {children} children: {exc}")
    return answer(False, f"forked {children} children")


def kill_platform(event: bytes, context: Any) -> str:
    pid = event_of(event)["pid"]
    outcomes = []
    for sig in (0, signal.SIGKILL):
        try:
            os.kill(pid, sig)
            outcomes.append(f"signal {sig} delivered")
        except OSError as exc:
            outcomes.append(f"signal {sig}: {exc.strerror}")
    try:
        os.kill(-1, signal.SIGKILL)  # everything this instance may signal: only itself
    except OSError as exc:
        outcomes.append(f"kill(-1): {exc.strerror}")
    traced = LIBC.syscall(SYS_PTRACE, PTRACE_ATTACH, pid, 0, 0)
    outcomes.append(f"ptrace: {traced} errno {ctypes.get_errno()}")
    return answer(not any("delivered" in o for o in outcomes) and traced != 0,
                  "; ".join(outcomes))


def ptrace_own_child(event: bytes, context: Any) -> str:
    child = subprocess.Popen(["sleep", "30"])
    try:
        traced = LIBC.syscall(SYS_PTRACE, PTRACE_ATTACH, child.pid, 0, 0)
        return answer(traced != 0, f"ptrace returned {traced}, errno {ctypes.get_errno()}")
    finally:
        child.kill()
        child.wait()


def list_processes(event: bytes, context: Any) -> str:
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    commands = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as source:
                commands.append(source.read().replace(b"\0", b" ").decode())
        except OSError:
            continue
    host = [c for c in commands if "fcompute" in c or "pytest" in c or "zygote" in c]
    return answer(pids == [1] and not host, f"pids {pids}: {commands}")


def connect(event: bytes, context: Any) -> str:
    port = event_of(event)["port"]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"hello")
        return answer(False, f"connected to 127.0.0.1:{port}")
    except OSError as exc:
        return answer(True, f"connect failed: {exc}")


def setuid_binary(event: bytes, context: Any) -> str:
    report = []
    for path in event_of(event)["binaries"]:
        if not os.path.exists(path):
            continue
        child = subprocess.Popen([path, "--help"], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Popen returns once the exec happened; until it is reaped /proc keeps its status.
        with open(f"/proc/{child.pid}/status") as source:
            uids = next(line for line in source if line.startswith("Uid:")).split()[1:]
        child.kill()
        child.wait()
        report.append(f"{path}: uids {uids}")
        if "0" in uids:
            return answer(False, "; ".join(report))
    with open("/proc/self/status") as source:
        status = dict(line.split(":", 1) for line in source if ":" in line)
    hardened = (status["NoNewPrivs"].strip() == "1"
                and int(status["CapBnd"], 16) == 0 and int(status["CapEff"], 16) == 0
                and int(status["CapPrm"], 16) == 0 and int(status["CapInh"], 16) == 0)
    report.append(f"hardened: {hardened}, uid {os.getuid()}")
    return answer(bool(report) and hardened and os.getuid() != 0, "; ".join(report))


def mount_something(event: bytes, context: Any) -> str:
    outcomes = []
    result = LIBC.mount(b"none", b"/tmp", b"tmpfs", 0, None)
    outcomes.append(("mount", result, ctypes.get_errno()))
    result = LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    outcomes.append(("unshare", result, ctypes.get_errno()))
    result = LIBC.umount2(b"/code", 2)
    outcomes.append(("umount", result, ctypes.get_errno()))
    return answer(all(r != 0 for _, r, _ in outcomes), repr(outcomes))


def load_module(event: bytes, context: Any) -> str:
    image = ctypes.create_string_buffer(b"\x7fELF" + b"\0" * 60)
    first = LIBC.syscall(SYS_INIT_MODULE, image, len(image), b"")
    first_errno = ctypes.get_errno()
    fd = os.open("/dev/null", os.O_RDONLY)
    second = LIBC.syscall(SYS_FINIT_MODULE, fd, b"", 0)
    second_errno = ctypes.get_errno()
    os.close(fd)
    return answer(first != 0 and second != 0 and errno.EPERM in (first_errno, second_errno),
                  f"init_module errno {first_errno}, finit_module errno {second_errno}")


def allocate_in_child(event: bytes, context: Any) -> str:
    """The memory hog is a child process: the kill must still take the whole instance."""
    script = ("hoard = []\n"
              f"for _ in range({event_of(event)['mb']}):\n"
              "    block = bytearray(1 << 20)\n"
              "    block[::4096] = b'x' * len(block[::4096])\n"
              "    hoard.append(block)\n")
    done = subprocess.run(["python3", "-c", script], check=False)
    return answer(False, f"child exited with {done.returncode}")
