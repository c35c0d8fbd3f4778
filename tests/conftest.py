from __future__ import annotations

import io
import tempfile
import textwrap
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fc2
import httpx
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


API = "/2016-08-15"


@pytest.fixture(scope="module")
def shared_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """One platform for a whole test module: for tests that only need distinct names."""
    running = PlatformProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared_client(shared_platform: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=shared_platform.endpoint, accessKeyID="test",
                      accessKeySecret="test")


def unique(prefix: str) -> str:
    """A resource name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def deploy(
    client: fc2.Client, service: str, function: str, files: dict[str, str], *,
    handler: str = "index.handler", **options: Any,
) -> dict[str, Any]:
    """Creates ``service`` when missing and ``function`` from source files; returns its JSON."""
    try:
        client.get_service(service)
    except fc2.FcError:
        client.create_service(service)
    with tempfile.TemporaryDirectory() as code:
        response = client.create_function(
            service, function, "python3", handler, codeDir=str(write_code(Path(code), files)),
            **options,
        )
    data: dict[str, Any] = response.data
    return data


@contextmanager
def raises_fc(status: int, code: str | None = None) -> Iterator[pytest.ExceptionInfo[fc2.FcError]]:
    """Expects the fc2 SDK to raise FcError with this HTTP status (and FC error code)."""
    with pytest.raises(fc2.FcError) as info:
        yield info
    assert info.value.status_code == status, info.value.message
    if code is not None:
        assert info.value.err_code == code, info.value.message
    assert info.value.request_id not in ("", "unknown")


def assert_fc_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An FC error answer: the status, a JSON ErrorCode/ErrorMessage body, a request id."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("x-fc-request-id")
    assert response.headers.get("content-type", "").startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["ErrorCode"] == code, body
    assert isinstance(body["ErrorMessage"], str)
    assert body["ErrorMessage"]
    return body


def processes_with(token: str) -> list[int]:
    """Host PIDs of running processes whose command line holds ``token``.

    Sandboxes may give instances their own PID namespace, so tests find processes by a
    unique word in their command line, seen from the host (zombies count as gone).
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def function_log(platform: PlatformProcess, service: str, function: str) -> str:
    """The function's log file under the data directory ('' before its first line)."""
    path = platform.data_dir / "logs" / service / f"{function}.log"
    return path.read_text() if path.exists() else ""


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Polls ``condition`` until it holds or ``timeout`` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fuzz", "the API fuzz suite (tests/fuzz, docs/testing.md)")
    group.addoption("--fuzz-examples", type=int, default=None, metavar="N",
                    help="examples per fuzz batch (default: each batch's CI budget)")
    group.addoption("--fuzz-seed", type=int, default=None, metavar="SEED",
                    help="explore with this seed instead of the fixed, derandomized one")
