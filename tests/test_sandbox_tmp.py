"""/tmp and memory in the Linux sandbox: both budgets hold, as on FC.

An instance's /tmp is a tmpfs, so its files live in memory that the kernel charges to
the instance's memory cgroup. The cgroup's limit is therefore memorySize + the /tmp
size (docs/sandbox.md): a function can fill its /tmp up to diskSize and still have its
memorySize for itself, and memory beyond both is an out-of-memory error as before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.attacks.support import require_linux_sandbox
from tests.conftest import API, make_zip, unique
from tests.platform_process import PlatformProcess

# Writes `tmp` MB of files to /tmp (kept across invocations) and holds `memory` MB of its
# own (first, with "memory_first"), then counts what /tmp holds.
FILL = """
import json, os

def hold(mb):
    held = bytearray(mb * 1024 * 1024)
    for offset in range(0, len(held), 4096):  # touch every page: resident, not reserved
        held[offset] = 1
    return held

def handler(event, context):
    request = json.loads(event)
    held = hold(request["memory"]) if request.get("memory_first") else b""
    chunk = b"x" * (1024 * 1024)
    for n in range(request["tmp"]):
        with open(f"/tmp/fill-{request['name']}-{n}", "wb") as out:
            out.write(chunk)
    if not request.get("memory_first"):
        held = hold(request["memory"])
    used = sum(os.path.getsize("/tmp/" + name) for name in os.listdir("/tmp"))
    return json.dumps({"tmp_mb": used // (1024 * 1024), "held_mb": len(held) // 2**20})
"""


def deploy(platform: PlatformProcess, **fields: object) -> tuple[str, str]:
    service = unique("tmp")
    assert httpx.post(f"{platform.endpoint}{API}/services",
                      content=json.dumps({"serviceName": service})).status_code == 200
    body = {"functionName": "fill", "runtime": "python3", "handler": "index.handler",
            "memorySize": 128, "timeout": 60,
            "code": {"zipFile": base64.b64encode(make_zip({"index.py": FILL})).decode()},
            **fields}
    created = httpx.post(f"{platform.endpoint}{API}/services/{service}/functions",
                         content=json.dumps(body), timeout=60)
    assert created.status_code == 200, created.text
    return service, "fill"


def fill(platform: PlatformProcess, target: tuple[str, str], **request: object) -> httpx.Response:
    service, function = target
    return httpx.post(
        f"{platform.endpoint}{API}/services/{service}/functions/{function}/invocations",
        content=json.dumps(request), timeout=120,
    )


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(tmp_path_factory.mktemp("tmp") / "data",
                              "--sandbox", "linux").start()
    yield running
    running.stop()


@require_linux_sandbox()
def test_files_in_tmp_do_not_use_up_memory_size(sandboxed: PlatformProcess) -> None:
    # 128 MB of memory and the default 512 MB /tmp: 300 MB of files, twice the memory.
    target = deploy(sandboxed)
    first = fill(sandboxed, target, name="a", tmp=150, memory=64)
    assert "x-fc-error-type" not in first.headers, first.text
    assert first.json() == {"tmp_mb": 150, "held_mb": 64}
    # Same instance, /tmp still full of the first call's files, and more on top: the
    # function still has its memory.
    second = fill(sandboxed, target, name="b", tmp=150, memory=64)
    assert "x-fc-error-type" not in second.headers, second.text
    assert second.json() == {"tmp_mb": 300, "held_mb": 64}


@require_linux_sandbox()
def test_tmp_stays_capped_and_memory_beyond_both_is_out_of_memory(
    sandboxed: PlatformProcess,
) -> None:
    target = deploy(sandboxed)
    # More files than diskSize allows: the write fails (no space), the instance lives.
    full = fill(sandboxed, target, name="a", tmp=600, memory=0)
    assert full.headers.get("x-fc-error-type") == "UnhandledInvocationError", full.text
    assert full.json()["errorType"] == "OSError", full.text
    assert "No space left on device" in full.json()["errorMessage"]
    # /tmp holds its 512 MB; memory beyond memorySize on top of that is still refused.
    over = fill(sandboxed, target, name="b", tmp=0, memory=256)
    assert over.json()["errorType"] == "Runtime.OutOfMemory", over.text


@require_linux_sandbox()
def test_writes_to_tmp_that_run_out_of_memory_are_an_out_of_memory_error(
    sandboxed: PlatformProcess,
) -> None:
    # More memory than memorySize, which fits while /tmp is empty; then /tmp filled: the
    # writes are what runs out of memory, and it is reported as such.
    target = deploy(sandboxed)
    over = fill(sandboxed, target, name="a", tmp=500, memory=160, memory_first=True)
    assert over.headers.get("x-fc-error-type") == "UnhandledInvocationError", over.text
    assert over.json()["errorType"] == "Runtime.OutOfMemory", over.text


def test_the_memory_limit_holds_memory_size_and_tmp() -> None:
    from fcompute.sandbox.linux.cgroups import CgroupLimits

    assert CgroupLimits(memory_mb=128, pids_max=128, tmp_mb=512).memory_limit_mb == 640
    assert CgroupLimits(memory_mb=3072, pids_max=128, tmp_mb=0).memory_limit_mb == 3072
