"""The connection table's eviction order and the connection cap derived from the file limit."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from fcompute.serving.capacity import connection_capacity
from fcompute.serving.table import ConnectionTable


class Connection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True

    def __repr__(self) -> str:
        return self.name


def admitted(table: ConnectionTable[Connection], *names: str) -> list[Connection]:
    connections = [Connection(name) for name in names]
    for connection in connections:
        assert table.admit(connection)
    return connections


def test_at_the_cap_the_longest_waiting_head_goes_first() -> None:
    table: ConnectionTable[Connection] = ConnectionTable(3)
    first, second, third = admitted(table, "first", "second", "third")
    table.waiting.pop(first)  # its head arrived
    newcomer = Connection("newcomer")
    assert table.admit(newcomer)
    assert [c.evicted for c in (first, second, third)] == [False, True, False]
    assert table.evicted == 1
    table.release(second)  # its close completes
    assert table.open == 3


def test_resting_keep_alive_connections_go_only_after_the_waiting_ones() -> None:
    table: ConnectionTable[Connection] = ConnectionTable(3)
    idle, slow, busy = admitted(table, "idle", "slow", "busy")
    table.waiting.pop(idle)
    table.resting[idle] = None
    table.waiting.pop(busy)
    assert table.admit(Connection("a"))
    assert (slow.evicted, idle.evicted) == (True, False)
    table.release(slow)
    # Now "a" waits for its head: it goes before the resting one, newest waiter or not.
    assert table.admit(Connection("b"))
    assert not idle.evicted


def test_a_new_head_on_a_keep_alive_connection_waits_at_the_back() -> None:
    table: ConnectionTable[Connection] = ConnectionTable(2)
    old, returning = admitted(table, "old", "returning")
    table.waiting.pop(returning)
    table.resting[returning] = None
    table.resting.pop(returning)
    table.waiting[returning] = None  # began its next request after "old" began waiting
    assert table.admit(Connection("new"))
    assert (old.evicted, returning.evicted) == (True, False)


def test_when_every_connection_is_working_new_ones_are_refused() -> None:
    table: ConnectionTable[Connection] = ConnectionTable(2)
    for connection in admitted(table, "a", "b"):
        table.waiting.pop(connection)
    assert not table.admit(Connection("c"))
    assert (table.refused, table.open) == (1, 2)


def test_an_evicted_connection_is_not_chosen_twice() -> None:
    table: ConnectionTable[Connection] = ConnectionTable(2)
    a, b = admitted(table, "a", "b")
    # Two arrivals before either victim's close completes: each takes a different victim.
    assert table.admit(Connection("c"))
    assert table.admit(Connection("d"))
    assert (a.evicted, b.evicted) == (True, True)
    assert table.open == 4
    table.release(a)
    table.release(b)
    assert table.open == 2


@pytest.mark.parametrize(("limit", "capacity"), [
    (1024, 768), (4096, 3072), (65536, 49152), (1 << 20, 786432), (256, 128), (2, 1),
])
def test_the_cap_leaves_a_reserve_of_descriptors(limit: int, capacity: int) -> None:
    assert connection_capacity(limit) == capacity


def test_serving_raises_the_soft_file_limit_to_the_hard_one() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 512:
        pytest.skip("needs a finite hard limit of at least 512")
    code = ("import resource; from fcompute.serving.capacity import raise_file_limit; "
            "limit = raise_file_limit(); "
            "print(limit.before, limit.now, resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    ).stdout.split()
    assert out == ["256", str(hard), str(hard)]
