"""One platform (with access keys) and its world for the whole fuzz suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.contract import Budget, Checker
from tests.fuzz.world import KEY_ID, SECRET, SignedClient, World
from tests.platform_process import PlatformProcess


@pytest.fixture(scope="package")
def fuzz_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(
        tmp_path_factory.mktemp("fuzz") / "data", "--sandbox", "process",
        env={"FCOMPUTE_ACCESS_KEY_ID": KEY_ID, "FCOMPUTE_ACCESS_KEY_SECRET": SECRET},
    ).start()
    yield running
    running.stop()


@pytest.fixture(scope="package")
def world(fuzz_platform: PlatformProcess) -> Iterator[World]:
    client = SignedClient(fuzz_platform.endpoint)
    yield World(client).build()
    client.http.close()


@pytest.fixture(scope="package")
def checker(fuzz_platform: PlatformProcess, world: World) -> Iterator[Checker]:
    running = Checker(fuzz_platform)
    yield running
    running.http.close()


@pytest.fixture
def budget(request: pytest.FixtureRequest) -> Budget:
    return Budget(request.config.getoption("--fuzz-examples"),
                  request.config.getoption("--fuzz-seed"))
