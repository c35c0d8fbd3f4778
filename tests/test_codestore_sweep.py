"""Code packages nothing uses any more are removed from the data directory: after a code
change or a function's deletion, and once the last instance still running old code ends.
A package still referenced, still running, or on its way to a function row stays."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import threading
from pathlib import Path

import httpx

from fcompute.codestore.collector import CodeCollector, CollectorTiming
from fcompute.codestore.local import LocalCodeStore
from tests.conftest import API, make_zip, unique, wait_for
from tests.platform_process import PlatformProcess
from tests.test_async_api import accepted_id, invoke_async, put_config, replay, wait_record

GONE_S = 30  # bound for a broken test: a package goes within linger (3 s) + a tick or two


def code(version: str) -> bytes:
    return make_zip({"index.py": f"def handler(event, context):\n    return '{version}'\n"})


# Tells the test it is running (by connecting to it), then waits for one byte from it:
# an invocation the test ends when it wants, with no sleeping.
BLOCKING = make_zip({"index.py": """
    import socket

    def handler(event, context):
        with socket.create_connection(("127.0.0.1", int(event))) as conn:
            conn.sendall(b"in")
            conn.recv(1)
        return "blocking"
"""})


def digest(zipped: bytes) -> str:
    return hashlib.sha256(zipped).hexdigest()


def stored(platform: PlatformProcess, zipped: bytes) -> tuple[bool, bool]:
    """(zip present, unpacked tree present) in ``<data-dir>/code``."""
    root = platform.data_dir / "code"
    d = digest(zipped)
    return (root / "zips" / f"{d}.zip").exists(), (root / "trees" / d).is_dir()


def gone(platform: PlatformProcess, zipped: bytes) -> bool:
    return stored(platform, zipped) == (False, False)


class Api:
    def __init__(self, platform: PlatformProcess) -> None:
        self.base = f"{platform.endpoint}{API}"
        self.service = unique("svc")
        assert httpx.post(f"{self.base}/services", json={"serviceName": self.service},
                          timeout=10).status_code == 200

    def create(self, name: str, zipped: bytes) -> None:
        body = {"functionName": name, "runtime": "python3", "handler": "index.handler",
                "code": {"zipFile": base64.b64encode(zipped).decode()}}
        response = httpx.post(f"{self.base}/services/{self.service}/functions",
                              content=json.dumps(body), timeout=60)
        assert response.status_code == 200, response.text

    def update(self, name: str, zipped: bytes) -> None:
        body = {"code": {"zipFile": base64.b64encode(zipped).decode()}}
        response = httpx.put(f"{self.base}/services/{self.service}/functions/{name}",
                             content=json.dumps(body), timeout=60)
        assert response.status_code == 200, response.text

    def delete(self, name: str) -> None:
        response = httpx.delete(f"{self.base}/services/{self.service}/functions/{name}",
                                timeout=10)
        assert response.status_code == 204, response.text

    def invoke(self, name: str, event: bytes = b"") -> bytes:
        response = httpx.post(
            f"{self.base}/services/{self.service}/functions/{name}/invocations",
            content=event, timeout=60,
        )
        assert response.status_code == 200, response.text
        assert "x-fc-error-type" not in response.headers, response.text
        return response.content


def test_old_packages_are_removed_after_code_changes(platform: PlatformProcess) -> None:
    api = Api(platform)
    v1, v2, v3 = code("v1"), code("v2"), code("v3")
    api.create("fn", v1)
    assert stored(platform, v1) == (True, True)  # unpacked at upload
    assert api.invoke("fn") == b"v1"
    api.update("fn", v2)
    # Right after the change the old code lingers a little (for invocations that resolved
    # the function just before the change).
    assert stored(platform, v1) == (True, True)
    assert api.invoke("fn") == b"v2"
    api.update("fn", v3)
    assert api.invoke("fn") == b"v3"
    assert wait_for(lambda: gone(platform, v1) and gone(platform, v2), GONE_S)
    assert stored(platform, v3) == (True, True)
    assert api.invoke("fn") == b"v3"
    trees = platform.data_dir / "code" / "trees"
    assert sorted(p.name for p in trees.iterdir()) == [digest(v3)]
    assert sorted(p.name for p in (platform.data_dir / "code" / "zips").iterdir()) == [
        f"{digest(v3)}.zip"
    ]


def test_deleting_functions_removes_only_packages_nobody_references(
    platform: PlatformProcess,
) -> None:
    api = Api(platform)
    shared, own = code("shared"), code("own")
    api.create("a", shared)
    api.create("b", shared)
    api.create("c", own)
    assert api.invoke("a") == b"shared"
    api.delete("a")
    api.delete("c")
    assert wait_for(lambda: gone(platform, own), GONE_S)
    assert stored(platform, shared) == (True, True)  # "b" still runs it
    assert api.invoke("b") == b"shared"


def test_a_busy_instance_keeps_its_code_until_it_ends(platform: PlatformProcess) -> None:
    api = Api(platform)
    later, latest = code("later"), code("latest")
    api.create("fn", BLOCKING)
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(GONE_S)
        port = server.getsockname()[1]
        answers: list[bytes] = []
        invocation = threading.Thread(
            target=lambda: answers.append(api.invoke("fn", str(port).encode())), daemon=True)
        invocation.start()
        conn, _ = server.accept()  # the instance is busy inside the handler
        with conn:
            assert conn.recv(2) == b"in"
            api.update("fn", later)  # retires the pool; its busy instance runs on
            api.update("fn", latest)
            # "later" was never run: it goes. The blocking code stays, tree and zip: a
            # retired pool's instance still runs it with its tree mounted.
            assert wait_for(lambda: gone(platform, later), GONE_S)
            assert stored(platform, BLOCKING) == (True, True)
            assert invocation.is_alive()
            conn.sendall(b"x")
        invocation.join(GONE_S)
    assert answers == [b"blocking"]
    # The last instance of the old code ended: a later sweep removes it.
    assert wait_for(lambda: gone(platform, BLOCKING), GONE_S)
    assert api.invoke("fn") == b"latest"


def test_code_a_failed_async_invocation_ran_on_stays_for_its_replay(
    platform: PlatformProcess,
) -> None:
    api = Api(platform)
    failing = make_zip({"index.py": "def handler(event, context):\n"
                                    "    raise ValueError('old code fails')\n"})
    unused, fixed = code("unused"), code("fixed")
    api.create("fn", failing)
    assert put_config(platform, api.service, "fn", maxAsyncRetryAttempts=0).status_code == 200
    failed = wait_record(platform, api.service, "fn",
                         accepted_id(invoke_async(platform, api.service, "fn", b"e", "orig")))
    assert failed["status"] == "Failed"
    api.update("fn", unused)
    api.update("fn", fixed)
    assert wait_for(lambda: gone(platform, unused), GONE_S)
    # The failed record may still be replayed on the code it ran: that code stays.
    assert stored(platform, failing) == (True, True)
    response = replay(platform, api.service, "fn", "orig", target="original")
    assert response.status_code == 202, response.text
    rerun = wait_record(platform, api.service, "fn", response.json()["invocationId"])
    assert rerun["error"]["errorMessage"] == "old code fails"
    assert api.invoke("fn") == b"fixed"


class GatedStore(LocalCodeStore):
    """The real store, with removal held at its start until the test opens the gate."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.removing = threading.Event()
        self.go_on = threading.Event()

    def remove_unused(self, in_use: set[str]) -> int:
        self.removing.set()
        assert self.go_on.wait(GONE_S)
        return super().remove_unused(in_use)


def test_an_upload_that_overlaps_a_collection_is_never_removed(tmp_path: Path) -> None:
    """The race: a package is stored, then its function row is written; a collection that
    read the rows before the write must not remove it."""
    store = GatedStore(tmp_path)
    store.go_on.set()
    rows: set[str] = set()
    package = code("racing")

    async def scenario() -> None:
        reading, go_on = asyncio.Event(), asyncio.Event()

        async def referenced() -> set[str]:
            snapshot = set(rows)  # read before the row below is written
            reading.set()
            await go_on.wait()
            return snapshot

        collector = CodeCollector(store, [referenced], set, CollectorTiming(linger_s=0))
        collecting = asyncio.create_task(collector.collect())
        await reading.wait()
        async with collector.upload(lambda: package) as info:
            rows.add(info.digest)  # the function row
        go_on.set()
        assert await collecting == 0
        assert store.zip_path(digest(package)).exists()

        # An upload whose row is written while a removal runs is held past that removal.
        rows.clear()
        store.go_on.clear()
        store.removing.clear()
        collecting = asyncio.create_task(collector.collect())
        await asyncio.to_thread(store.removing.wait, GONE_S)
        # The removal listed its candidates from rows without this package; the package
        # is stored again (same content) and referenced while that removal is held.
        async with collector.upload(lambda: package):
            rows.add(digest(package))
        store.go_on.set()
        await collecting
        assert (tmp_path / "trees" / digest(package)).is_dir()
        assert store.zip_path(digest(package)).exists()

        # With nothing overlapping, an unreferenced package goes.
        rows.clear()
        assert await collector.collect() == 1
        assert not (tmp_path / "trees" / digest(package)).exists()

    asyncio.run(scenario())
