from __future__ import annotations

import io
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest

from tests.platform_process import PlatformProcess


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[PlatformProcess]:
    """A fresh platform with default settings."""
    running = PlatformProcess(tmp_path / "data").start()
    yield running
    running.stop()


@pytest.fixture
def make_platform(tmp_path: Path) -> Iterator[object]:
    """Factory for platforms with custom arguments: make_platform("--keep-alive", "1")."""
    started: list[PlatformProcess] = []

    def make(*args: str, env: dict[str, str] | None = None, name: str = "data") -> PlatformProcess:
        running = PlatformProcess(tmp_path / name, *args, env=env).start()
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def client(platform: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=platform.endpoint, accessKeyID="test", accessKeySecret="test")


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


def write_code(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return directory
