"""The attack battery: real functions try to escape the Linux sandbox, and must fail.

Every case is deployed through the API on a platform running ``--sandbox linux``;
after each, a neighbouring function must still answer and the platform must
still serve. The last test checks that nothing leaked once the instances are
gone: processes, cgroups, mounts, temporary directories.

Needs root, namespaces and cgroups: skipped without them, except in CI.
"""

from __future__ import annotations

import json
import os
import platform as host_platform
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fc2
import httpx
import pytest

from tests.attacks.support import (
    cgroup_children,
    mount_count,
    require_linux_sandbox,
    zygote_children,
    zygote_of,
)
from tests.conftest import API, unique, wait_for
from tests.platform_process import PlatformProcess

pytestmark = require_linux_sandbox()

ATTACKS = Path(__file__).parent / "attacks" / "functions"
TMP_MB = 16
PIDS_MAX = 128


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    host_mounts = mount_count(os.getpid())
    running = PlatformProcess(tmp_path_factory.mktemp("sandboxed") / "data",
                              "--sandbox", "linux", "--tmp-size", str(TMP_MB)).start()
    yield running
    running.stop()
    assert mount_count(os.getpid()) == host_mounts, "the platform left mounts on the host"


@pytest.fixture(scope="module")
def client(sandboxed: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=sandboxed.endpoint, accessKeyID="k", accessKeySecret="s")


@pytest.fixture(scope="module")
def services(client: fc2.Client) -> dict[str, str]:
    """One service with internet access (the default) and one without."""
    open_service, closed_service = unique("open"), unique("closed")
    client.create_service(open_service)
    client.create_service(closed_service, internetAccess=False)
    return {"open": open_service, "closed": closed_service}


def deploy(client: fc2.Client, service: str, handler: str, **options: Any) -> str:
    name = unique(handler.replace("_", "-"))
    options.setdefault("memorySize", 256)
    client.create_function(service, name, "python3", f"attacks.{handler}",
                           codeDir=str(ATTACKS), **options)
    return name


def invoke(platform: PlatformProcess, service: str, function: str,
           event: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(
        f"{platform.endpoint}{API}/services/{service}/functions/{function}/invocations",
        content=json.dumps(event or {}).encode(), timeout=60,
    )


@pytest.fixture(scope="module")
def victim(client: fc2.Client, services: dict[str, str]) -> tuple[str, str]:
    """The neighbouring function: it must keep serving whatever the attacker does."""
    return services["open"], deploy(client, services["open"], "victim")


def attack(platform: PlatformProcess, client: fc2.Client, service: str, handler: str,
           event: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    """Deploys and runs one attack; answers the attacker's own report."""
    function = deploy(client, service, handler, **options)
    response = invoke(platform, service, function, event)
    assert response.status_code == 200, response.text
    assert "x-fc-error-type" not in response.headers, response.text
    outcome: dict[str, Any] = response.json()
    return outcome


def neighbour_serves(platform: PlatformProcess, victim: tuple[str, str]) -> None:
    response = invoke(platform, *victim)
    assert response.status_code == 200, response.text
    assert response.json()["detail"] == "victim alive", response.text
    assert platform.proc is not None
    assert platform.proc.poll() is None


def test_cannot_read_other_functions_code(sandboxed: PlatformProcess, client: fc2.Client,
                                          services: dict[str, str],
        victim: tuple[str, str]) -> None:
    neighbour_serves(sandboxed, victim)  # its code is now extracted
    targets = [str(p) for p in (sandboxed.data_dir / "code").rglob("attacks.py")]
    assert targets, "the victim's code should exist on the host"
    outcome = attack(sandboxed, client, services["open"], "read_other_code",
                     {"paths": targets})
    assert outcome["denied"], outcome
    neighbour_serves(sandboxed, victim)


def test_cannot_read_platform_database_or_data_dir(sandboxed: PlatformProcess,
                                                   client: fc2.Client,
                                                   services: dict[str, str],
        victim: tuple[str, str]) -> None:
    data = sandboxed.data_dir.resolve()
    paths = [str(data / "meta.db"), str(data / "secret"), "/etc/shadow", "/root/.bashrc",
             "/proc/1/root/etc/shadow"]
    outcome = attack(sandboxed, client, services["open"], "read_platform_data",
                     {"paths": paths, "dirs": [str(data), str(data.parent), "/work"]})
    assert outcome["denied"], outcome
    neighbour_serves(sandboxed, victim)


def test_cannot_read_other_instances_tmp(sandboxed: PlatformProcess, client: fc2.Client,
                                         services: dict[str, str],
        victim: tuple[str, str]) -> None:
    neighbour_serves(sandboxed, victim)  # the victim wrote its secret
    outcome = attack(sandboxed, client, services["open"], "read_other_tmp")
    assert outcome["denied"], outcome
    neighbour_serves(sandboxed, victim)


def test_cannot_write_outside_tmp(sandboxed: PlatformProcess, client: fc2.Client,
                                  services: dict[str, str],
        victim: tuple[str, str]) -> None:
    outcome = attack(sandboxed, client, services["open"], "write_outside_tmp")
    assert outcome["denied"], outcome
    neighbour_serves(sandboxed, victim)


def test_tmp_is_capped(sandboxed: PlatformProcess, client: fc2.Client,
                       services: dict[str, str],
        victim: tuple[str, str]) -> None:
    outcome = attack(sandboxed, client, services["open"], "fill_tmp", {"mb": TMP_MB * 2},
                     memorySize=512)
    assert outcome["denied"], outcome
    assert f"stopped after {TMP_MB - 1} MB" in outcome["detail"] or \
        f"stopped after {TMP_MB} MB" in outcome["detail"], outcome


def test_memory_beyond_memory_size_is_an_out_of_memory_error(
    sandboxed: PlatformProcess, client: fc2.Client, services: dict[str, str],
    victim: tuple[str, str],
) -> None:
    service = services["open"]
    function = deploy(client, service, "allocate", memorySize=128)
    response = invoke(sandboxed, service, function, {"mb": 400})
    assert response.status_code == 200
    assert response.headers.get("x-fc-error-type") == "UnhandledInvocationError", response.text
    assert response.json()["errorType"] == "Runtime.OutOfMemory", response.text
    neighbour_serves(sandboxed, victim)
    # The next invocation gets a fresh instance that works within its limit.
    again = invoke(sandboxed, service, function, {"mb": 16})
    assert again.status_code == 200, again.text
    assert "x-fc-error-type" not in again.headers, again.text


def test_memory_hog_in_a_child_process_ends_the_whole_instance(
    sandboxed: PlatformProcess, client: fc2.Client, services: dict[str, str],
    victim: tuple[str, str],
) -> None:
    service = services["open"]
    function = deploy(client, service, "allocate_in_child", memorySize=128)
    response = invoke(sandboxed, service, function, {"mb": 400})
    assert response.status_code == 200
    assert response.headers.get("x-fc-error-type") == "UnhandledInvocationError", response.text
    assert response.json()["errorType"] == "Runtime.OutOfMemory", response.text
    neighbour_serves(sandboxed, victim)
    again = invoke(sandboxed, service, function, {"mb": 16})
    assert again.status_code == 200, again.text
    assert "child exited with 0" in again.json()["detail"], again.text


def test_fork_bomb_stops_at_the_pids_limit(sandboxed: PlatformProcess, client: fc2.Client,
                                           services: dict[str, str],
        victim: tuple[str, str]) -> None:
    outcome = attack(sandboxed, client, services["open"], "fork_bomb", {"limit": 5000})
    assert outcome["denied"], outcome
    forked = int(outcome["detail"].split()[2])
    assert forked < PIDS_MAX, outcome


def test_cannot_signal_or_trace_the_platform(sandboxed: PlatformProcess, client: fc2.Client,
                                             services: dict[str, str],
        victim: tuple[str, str]) -> None:
    assert sandboxed.proc is not None
    for pid in (sandboxed.proc.pid, zygote_of(sandboxed)):
        outcome = attack(sandboxed, client, services["open"], "kill_platform", {"pid": pid})
        assert outcome["denied"], outcome
    outcome = attack(sandboxed, client, services["open"], "ptrace_own_child")
    assert outcome["denied"], outcome
    neighbour_serves(sandboxed, victim)


def test_sees_no_host_processes(sandboxed: PlatformProcess, client: fc2.Client,
                                services: dict[str, str],
        victim: tuple[str, str]) -> None:
    outcome = attack(sandboxed, client, services["open"], "list_processes")
    assert outcome["denied"], outcome
    neighbour_serves(sandboxed, victim)


@pytest.fixture
def loopback_listener() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield int(server.getsockname()[1])


def test_no_loopback_without_internet_access(sandboxed: PlatformProcess, client: fc2.Client,
                                             services: dict[str, str],
                                             loopback_listener: int,
        victim: tuple[str, str]) -> None:
    event = {"port": loopback_listener}
    outcome = attack(sandboxed, client, services["closed"], "connect", event)
    assert outcome["denied"], outcome
    # The same function with internet access reaches the listener: the check is real.
    control = attack(sandboxed, client, services["open"], "connect", event)
    assert not control["denied"], control


def test_setuid_binaries_do_not_give_root(sandboxed: PlatformProcess, client: fc2.Client,
                                          services: dict[str, str],
        victim: tuple[str, str]) -> None:
    binaries = ["/usr/bin/passwd", "/usr/bin/chsh", "/usr/bin/newgrp", "/usr/bin/mount",
                "/usr/bin/su", "/bin/su"]
    outcome = attack(sandboxed, client, services["open"], "setuid_binary",
                     {"binaries": binaries})
    assert outcome["denied"], outcome
    neighbour_serves(sandboxed, victim)


def test_cannot_mount(sandboxed: PlatformProcess, client: fc2.Client,
                      services: dict[str, str],
        victim: tuple[str, str]) -> None:
    outcome = attack(sandboxed, client, services["open"], "mount_something")
    assert outcome["denied"], outcome
    neighbour_serves(sandboxed, victim)


@pytest.mark.skipif(host_platform.machine() != "x86_64", reason="syscall numbers of x86_64")
def test_cannot_load_a_kernel_module(sandboxed: PlatformProcess, client: fc2.Client,
                                     services: dict[str, str],
        victim: tuple[str, str]) -> None:
    outcome = attack(sandboxed, client, services["open"], "load_module")
    assert outcome["denied"], outcome
    neighbour_serves(sandboxed, victim)


def test_nothing_leaks_once_instances_are_gone(sandboxed: PlatformProcess, client: fc2.Client,
                                               services: dict[str, str],
        victim: tuple[str, str]) -> None:
    zygote = zygote_of(sandboxed)
    assert zygote_children(zygote), "the battery should have left warm instances"
    assert cgroup_children(zygote)
    for service in services.values():
        for function in client.list_functions(service).data["functions"]:
            client.delete_function(service, function["functionName"])
    assert wait_for(lambda: not zygote_children(zygote), 10), zygote_children(zygote)
    assert wait_for(lambda: not cgroup_children(zygote), 10), cgroup_children(zygote)
    # Instance mounts live and die in their own namespaces: the host gained none.
    state = sandboxed.data_dir / "sandbox"
    assert [p.name for p in state.iterdir()] == ["root"]
    assert not list((state / "root").iterdir())
    # And the platform still serves.
    fresh = deploy(client, services["open"], "victim")
    started = time.monotonic()
    assert invoke(sandboxed, services["open"], fresh).status_code == 200
    assert time.monotonic() - started < 10
