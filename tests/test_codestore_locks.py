"""Unpacking one code package never waits for another: locks are per digest, and code that
is already unpacked is handed out without any lock.

A big package is held inside its unpacking by wrapping the real unpacker with a gate (an
event the test opens), so the tests observe ordering with events, not timings.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fcompute.codestore.local import LocalCodeStore
from fcompute.codestore.unpack import unpack_zip
from tests.conftest import make_zip

WAIT_S = 30  # only a bound for a broken test; never reached when it passes

BIG = make_zip({f"pkg/m{i}.py": f"X = {i}\n" for i in range(200)})
SMALL = make_zip({"index.py": "def handler(event, context):\n    return 'small'\n"})


class Gate:
    """The real unpacker, stopping inside the unpacking of one chosen package."""

    def __init__(self, held: bytes) -> None:
        self.held_digest = hashlib.sha256(held).hexdigest()
        self.inside = threading.Event()
        self.open = threading.Event()
        self.calls: list[str] = []

    def __call__(self, zip_path: Path, dest: Path, max_bytes: int) -> None:
        digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
        self.calls.append(digest)
        if digest == self.held_digest:
            self.inside.set()
            assert self.open.wait(WAIT_S), "the gate was never opened"
        unpack_zip(zip_path, dest, max_bytes)


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate(BIG)
    yield g
    g.open.set()  # never leave a thread stuck if an assertion failed


def in_thread(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def drop_tree(root: Path, digest: str) -> None:
    """Deletes an unpacked tree from disk, as if it had never been unpacked."""
    tree = root / "trees" / digest
    for directory, _dirs, _files in os.walk(tree):
        os.chmod(directory, 0o755)
    shutil.rmtree(tree)


def test_uploading_a_small_package_does_not_wait_for_a_big_one(
    tmp_path: Path, gate: Gate
) -> None:
    store = LocalCodeStore(tmp_path, unpacker=gate)
    big = in_thread(lambda: store.put(BIG))
    assert gate.inside.wait(WAIT_S)
    info = store.put(SMALL)  # the big one is still inside its unpacking
    assert (store.extracted(info.digest) / "index.py").is_file()
    assert big.is_alive()
    gate.open.set()
    big.join(WAIT_S)
    assert (store.extracted(gate.held_digest) / "pkg" / "m199.py").is_file()


def test_a_cold_start_does_not_wait_for_another_package_being_unpacked(
    tmp_path: Path, gate: Gate
) -> None:
    gate.open.set()
    store = LocalCodeStore(tmp_path, unpacker=gate)
    big_digest = store.put(BIG).digest
    small_digest = store.put(SMALL).digest
    # Both trees gone (as after they were removed while the zips stayed): the next cold
    # start of each unpacks again from the zip.
    drop_tree(tmp_path, big_digest)
    drop_tree(tmp_path, small_digest)
    gate.open.clear()
    big = in_thread(lambda: store.extracted(big_digest))
    assert gate.inside.wait(WAIT_S)
    assert (store.extracted(small_digest) / "index.py").is_file()
    assert big.is_alive()
    gate.open.set()
    big.join(WAIT_S)
    assert (tmp_path / "trees" / big_digest / "pkg" / "m0.py").is_file()


def test_concurrent_cold_starts_of_one_package_unpack_it_once(
    tmp_path: Path, gate: Gate
) -> None:
    gate.open.set()
    store = LocalCodeStore(tmp_path, unpacker=gate)
    digest = store.put(BIG).digest
    drop_tree(tmp_path, digest)
    gate.open.clear()
    gate.inside.clear()
    results: list[Path] = []
    first = in_thread(lambda: results.append(store.extracted(digest)))
    assert gate.inside.wait(WAIT_S)
    second = in_thread(lambda: results.append(store.extracted(digest)))
    gate.open.set()
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert results == [tmp_path / "trees" / digest] * 2
    assert gate.calls.count(digest) == 2  # once at upload, once after the tree was dropped
    assert not [p for p in (tmp_path / "trees").iterdir() if p.name.startswith(".")]
