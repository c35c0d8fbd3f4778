"""The Linux sandbox's parts: policy values, the zygote wire, and the backend on its own."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from fcompute.runtime.protocol import FrameDecoder, Kind, encode
from fcompute.sandbox.base import ExitReason, InstanceSpec
from fcompute.sandbox.linux import cgroups, mounts, wire
from tests.attacks.support import require_linux_sandbox


def test_cpu_share_is_proportional_to_memory() -> None:
    assert cgroups.cpu_shares(1024) == 1024  # one GiB weighs as much as a plain process
    assert cgroups.cpu_shares(2048) == 2 * cgroups.cpu_shares(1024)
    assert cgroups.cpu_weight(1024) == 100
    assert cgroups.cpu_weight(3072) == 300
    assert cgroups.cpu_weight(1) == 1
    assert cgroups.cpu_weight(10**9) == 10000


def test_etc_allow_list_holds_no_secrets() -> None:
    for secret in ("shadow", "gshadow", "sudoers", "ssh", "machine-id"):
        assert secret not in mounts.ETC_ALLOWED


def test_wire_carries_messages_and_descriptors() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    read_end, write_end = os.pipe()
    try:
        wire.send(ours, {"op": "start", "id": 7}, [write_end])
        received = wire.receive(theirs)
        assert received is not None
        message, fds = received
        assert message == {"op": "start", "id": 7}
        os.write(fds[0], b"through")
        assert os.read(read_end, 16) == b"through"
        os.close(fds[0])
        ours.close()
        assert wire.receive(theirs) is None
    finally:
        for fd in (read_end, write_end):
            os.close(fd)
        theirs.close()


def test_seccomp_policy_compiles() -> None:
    pytest.importorskip("pyseccomp")
    from fcompute.sandbox.linux.seccomp import SeccompProgram, build_filter

    program = build_filter()
    assert len(program) % 8 == 0
    SeccompProgram(program)  # accepted as a filter
    with pytest.raises(ValueError, match="8-byte"):
        SeccompProgram(b"\0" * 7)


HANDLER = """
import os, subprocess, time
def handler(event, context):
    for _ in range(3):
        subprocess.Popen(["sleep", "60"])
    time.sleep(60)
"""


def request(sock: socket.socket, kind: Kind, meta: dict[str, object]) -> Kind | None:
    sock.setblocking(True)
    sock.sendall(encode(kind, meta))
    decoder = FrameDecoder()
    while True:
        data = sock.recv(65536)
        if not data:
            return None
        frames = decoder.feed(data)
        if frames:
            return frames[0][0]


@require_linux_sandbox()
def test_kill_ends_the_whole_tree_and_releases_everything(tmp_path: Path) -> None:
    from fcompute.sandbox.linux.backend import LinuxSandbox
    from tests.attacks.support import children

    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(HANDLER)
    meta = {"codeDir": "/code", "handler": "index.handler", "environment": {},
            "serviceName": "s", "functionName": "f", "memorySize": 128, "timeout": 60,
            "initializer": "", "initializationTimeout": 3, "region": "r", "accountId": "a",
            "qualifier": "LATEST", "logProject": "", "logStore": "", "credentials": {}}

    async def scenario() -> list[int]:
        sandbox = LinuxSandbox(tmp_path / "state")
        await sandbox.open()
        process = await sandbox.start(InstanceSpec("i1", "f", code, tmp_path / "log", 128))
        assert process.code_path == "/code"
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, request, process.socket, Kind.INIT,
                                          meta) is Kind.READY
        process.socket.setblocking(True)
        process.socket.sendall(encode(Kind.INVOKE, {"requestId": "r1"}))

        def tree() -> list[int]:
            found, todo = [], [process.pid]
            while todo:
                pid = todo.pop()
                found.append(pid)
                todo += children(pid)
            return found

        for _ in range(100):
            if len(tree()) >= 4:
                break
            await asyncio.sleep(0.05)
        members = tree()
        assert len(members) >= 4, members  # the agent and its three sleepers
        process.kill()
        process.kill()  # idempotent
        await asyncio.wait_for(process.wait(), 10)
        assert process.exit_reason() is ExitReason.KILLED
        # wait() returned: no process of the instance is left.
        assert not await asyncio.to_thread(
            lambda: [p for p in members if os.path.exists(f"/proc/{p}")])
        process.socket.close()
        await sandbox.close()
        return members

    assert len(asyncio.run(scenario())) >= 4
    assert not list((tmp_path / "state").glob("*/*"))

