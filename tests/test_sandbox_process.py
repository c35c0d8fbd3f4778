"""The plain-process backend: no process a function starts outlives its instance.

A handler can leave processes behind by forking twice (the grandchild is orphaned),
and can take them out of the instance's process group and session with ``setsid``.
Whichever it does, once the instance ends (its function is deleted, or the platform
stops) none of them may still run.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable
from pathlib import Path

import fc2
import httpx
import pytest

from fcompute.runtime.protocol import FrameDecoder, Kind, encode
from fcompute.sandbox.base import ExitReason, InstanceSpec
from fcompute.sandbox.process import ProcessSandbox
from tests.conftest import API, deploy, processes_with, unique, wait_for
from tests.platform_process import PlatformProcess

MakePlatform = Callable[..., PlatformProcess]

# Forks a child that starts `sleep <witness>` and exits at once, so the sleeper is
# orphaned; with "setsid" the child first leaves the instance's session (a daemon's
# double fork) and the sleeper starts one of its own too.
DOUBLE_FORK = """
import os, subprocess

def handler(event, context):
    witness, how = event.decode().split()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        if how == "setsid":
            os.setsid()
        sleeper = subprocess.Popen(["sleep", witness], start_new_session=how == "setsid",
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        os.write(write, str(sleeper.pid).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    return os.read(read, 64)
"""


def witness() -> str:
    """A `sleep` argument no other process has: 300 seconds and a random fraction."""
    return f"300.{random.randrange(10**8, 10**9)}"


def start_orphans(platform: PlatformProcess, service: str, function: str) -> list[str]:
    url = f"{platform.endpoint}{API}/services/{service}/functions/{function}/invocations"
    witnesses = []
    for how in ("group", "setsid"):
        mark = witness()
        response = httpx.post(url, content=f"{mark} {how}".encode(), timeout=60)
        assert response.status_code == 200, response.text
        assert "x-fc-error-type" not in response.headers, response.text
        assert response.content.isdigit()
        # The orphan runs, outside the handler's process (and with setsid its session).
        assert processes_with(mark), how
        witnesses.append(mark)
    return witnesses


def gone(witnesses: list[str]) -> bool:
    return not any(processes_with(mark) for mark in witnesses)


@pytest.fixture
def process_platform(make_platform: MakePlatform) -> PlatformProcess:
    return make_platform("--sandbox", "process")


def test_orphans_end_with_their_instance_when_the_function_is_deleted(
    process_platform: PlatformProcess,
) -> None:
    sdk = fc2.Client(endpoint=process_platform.endpoint, accessKeyID="k", accessKeySecret="s")
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": DOUBLE_FORK})
    witnesses = start_orphans(process_platform, service, "fn")
    sdk.delete_function(service, "fn")  # retires its idle instance
    assert wait_for(lambda: gone(witnesses), 10), [processes_with(m) for m in witnesses]


def test_orphans_end_when_the_platform_stops(process_platform: PlatformProcess) -> None:
    sdk = fc2.Client(endpoint=process_platform.endpoint, accessKeyID="k", accessKeySecret="s")
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": DOUBLE_FORK})
    witnesses = start_orphans(process_platform, service, "fn")
    process_platform.stop()
    assert wait_for(lambda: gone(witnesses), 10), [processes_with(m) for m in witnesses]


def test_orphans_end_when_the_platform_is_killed(process_platform: PlatformProcess) -> None:
    sdk = fc2.Client(endpoint=process_platform.endpoint, accessKeyID="k", accessKeySecret="s")
    service = unique("svc")
    deploy(sdk, service, "fn", {"index.py": DOUBLE_FORK})
    witnesses = start_orphans(process_platform, service, "fn")
    process_platform.stop(sig=9)
    assert wait_for(lambda: gone(witnesses), 10), [processes_with(m) for m in witnesses]


# "spawn W" leaves one sleeper in the instance's group and one in a session of its own;
# "exit N" ends the agent with status N; "wait" waits to be killed.
LEAVES_SLEEPERS = """
import os, subprocess, time

def handler(event, context):
    what, argument = event.decode().split()
    if what == "spawn":
        subprocess.Popen(["sleep", argument])
        subprocess.Popen(["sleep", argument], start_new_session=True)
        return b"spawned"
    if what == "exit":
        os._exit(int(argument))
    time.sleep(60)
"""
META = {"codeDir": "", "handler": "index.handler", "environment": {}, "serviceName": "s",
        "functionName": "f", "memorySize": 128, "timeout": 60, "initializer": "",
        "initializationTimeout": 3, "region": "r", "accountId": "a", "qualifier": "LATEST",
        "logProject": "", "logStore": "", "credentials": {}}


def request(sock: socket.socket, kind: Kind, meta: dict[str, object],
            payload: bytes = b"") -> Kind | None:
    """Sends one frame and returns the kind of the first frame that answers it."""
    sock.setblocking(True)
    sock.sendall(encode(kind, meta, payload))
    decoder = FrameDecoder()
    while True:
        data = sock.recv(65536)
        if not data:
            return None
        frames = decoder.feed(data)
        if frames:
            return frames[0][0]


@pytest.mark.parametrize("end", ["wait 0", "exit 7"])
def test_the_backend_ends_every_process_of_an_instance(tmp_path: Path, end: str) -> None:
    """Killed (or exited by itself), an instance leaves nothing once ``wait`` returns."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(LEAVES_SLEEPERS)
    mark = witness()

    async def scenario() -> tuple[int, ExitReason]:
        process = await ProcessSandbox().start(
            InstanceSpec("i1", "f", code, tmp_path / "log", 128))
        try:
            meta = {**META, "codeDir": process.code_path}
            assert await asyncio.to_thread(request, process.socket, Kind.INIT,
                                           meta) is Kind.READY
            assert await asyncio.to_thread(request, process.socket, Kind.INVOKE,
                                           {"requestId": "r1"}, f"spawn {mark}".encode(),
                                           ) is Kind.RESULT
            assert len(processes_with(mark)) == 2
            process.socket.sendall(encode(Kind.INVOKE, {"requestId": "r2"}, end.encode()))
            if end.startswith("wait"):
                process.kill()
                process.kill()  # idempotent
            status = await asyncio.wait_for(process.wait(), 10)
            # wait() returned: no process of the instance is left.
            assert not processes_with(mark)
            return status, process.exit_reason()
        finally:
            process.kill()
            process.socket.close()

    status, reason = asyncio.run(scenario())
    if end.startswith("wait"):
        assert (status, reason) == (-9, ExitReason.KILLED)
    else:  # the agent's own status, as the keeper saw it
        assert (status, reason) == (7, ExitReason.EXITED)
