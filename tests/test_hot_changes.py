"""Changes under load: LATEST code updates, publishing and alias moves while clients keep
invoking. No request may fail, and every answer must come from the code of the version
the platform says ran it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import fc2
import httpx
import pytest

from tests.conftest import deploy, unique
from tests.platform_process import PlatformProcess
from tests.versions_helpers import (
    VERSION_HEADER,
    invocation_url,
    publish,
    sdk_client,
    set_code,
    tiny,
)

CLIENT_THREADS = 16
# Bounds the whole test: the clients stop by then even if the changes are not done.
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(tmp_path_factory.mktemp("hot") / "data").start()
    yield running
    running.stop()


@dataclass(frozen=True)
class Outcome:
    qualifier: str
    started: float
    status: int
    version: str
    body: bytes
    error: str = ""


@dataclass(frozen=True)
class Change:
    """One change made by the main thread: when its call began and returned, and what the
    clients may run from then on (the alias's versions, the LATEST code's tag)."""

    began: float
    done: float
    alias_versions: frozenset[str]
    latest_tag: bytes


class Clients:
    """Threads invoking the same function through one qualifier each, without pause."""

    def __init__(self, platform: PlatformProcess, service: str, qualifiers: list[str]) -> None:
        self.stop = threading.Event()
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(platform, service, q))
                         for q in qualifiers]

    def _run(self, platform: PlatformProcess, service: str, qualifier: str) -> None:
        url = invocation_url(platform, service, "fn", qualifier)
        found: list[Outcome] = []
        deadline = time.monotonic() + DEADLINE_S
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    response = http.post(url)
                except httpx.HTTPError as exc:
                    found.append(Outcome(qualifier, started, 0, "", b"", repr(exc)))
                    continue
                found.append(Outcome(
                    qualifier, started, response.status_code,
                    response.headers.get(VERSION_HEADER, ""), response.content,
                    response.headers.get("x-fc-error-type", ""),
                ))
        with self._lock:
            self.outcomes += found

    def __enter__(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join()


def test_changes_under_load_fail_nothing_and_run_the_named_code(
    platform: PlatformProcess,
) -> None:
    sdk: fc2.Client = sdk_client(platform)
    service = unique("hot")
    deploy(sdk, service, "fn", tiny("code-0"))
    tags: dict[str, bytes] = {}  # version id -> the tag its code answers
    latest_history = [b"code-0"]
    tags[publish(sdk, service)] = b"code-0"
    sdk.create_alias(service, "live", "1")
    changes: list[Change] = []

    def change(action: Callable[[], object], alias: set[str] | None = None,
               latest: str | None = None) -> None:
        began = time.monotonic()
        action()
        done = time.monotonic()
        if latest:
            latest_history.append(latest.encode())
        changes.append(Change(began, done, frozenset(alias or changes[-1].alias_versions),
                              latest_history[-1]))
        time.sleep(0.6)

    def new_latest(tag: str) -> Callable[[], object]:
        return lambda: set_code(sdk, service, "fn", tiny(tag))

    def move(version: str, weights: dict[str, float]) -> Callable[[], object]:
        return lambda: sdk.update_alias(service, "live", version,
                                        additionalVersionWeight=weights)

    qualifiers = ["live"] * (CLIENT_THREADS // 2) + ["LATEST"] * (CLIENT_THREADS // 2)
    started = time.monotonic()
    with Clients(platform, service, qualifiers) as clients:
        change(lambda: None, alias={"1"})
        change(new_latest("code-1"), latest="code-1")
        tags[publish(sdk, service)] = b"code-1"  # version 2
        change(move("2", {}), alias={"2"})
        change(new_latest("code-2"), latest="code-2")
        tags[publish(sdk, service)] = b"code-2"  # version 3
        change(move("2", {"3": 0.5}), alias={"2", "3"})
        change(move("3", {"1": 0.3}), alias={"3", "1"})
        # A rollback: back to the first version, weights cleared.
        change(move("1", {}), alias={"1"})
        change(new_latest("code-3"), latest="code-3")
        change(move("3", {}), alias={"3"})
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S, elapsed
    assert set(tags) == {"1", "2", "3"}

    outcomes = clients.outcomes
    failed = [o for o in outcomes if o.status != 200 or o.error]
    assert failed == [], f"{len(failed)} of {len(outcomes)} failed, e.g. {failed[:5]}"

    wrong_code = [o for o in outcomes if o.version != "LATEST" and (
        o.version not in tags or o.body != tags[o.version])]
    assert wrong_code == [], wrong_code[:5]
    assert all(o.version == "LATEST" for o in outcomes if o.qualifier == "LATEST")
    assert all(o.version != "LATEST" for o in outcomes if o.qualifier == "live")
    assert all(o.body in latest_history for o in outcomes if o.qualifier == "LATEST")

    # Every change applies from the next request: a request started after the change
    # returned, and before the next one began, runs what the change says.
    def window(index: int) -> list[Outcome]:
        begin = changes[index].done
        until = changes[index + 1].began if index + 1 < len(changes) else float("inf")
        return [o for o in outcomes if begin < o.started < until]

    stale = []
    for index, made in enumerate(changes):
        for outcome in window(index):
            if outcome.qualifier == "live" and outcome.version not in made.alias_versions:
                stale.append((index, outcome))
            if outcome.qualifier == "LATEST" and outcome.body != made.latest_tag:
                stale.append((index, outcome))
    assert stale == [], stale[:5]

    # Every window had traffic on both qualifiers, so each check above saw something.
    for index in range(len(changes)):
        assert {o.qualifier for o in window(index)} == {"live", "LATEST"}, index
    weighted = {o.version for o in window(4) if o.qualifier == "live"}
    assert weighted == {"2", "3"}, weighted
