"""The warm pool under random arrivals, deadlines, cancellations, deaths and config changes.

The pool runs for real; only the sandbox behind it is scripted (instances are objects with
no process), and time is virtual (``tests.virtual_time``), so a few hundred scenarios of
many simulated seconds each run in a few seconds. What must hold in every scenario:

- a function never has more instances than its cap, and no instance serves two requests;
- every request is answered exactly once: an instance, a 429, a failed start, or its own
  cancellation;
- no slot is lost: once the traffic is over, every live instance is idle (or reaped), no
  waiter is left behind, and a new request gets an instance at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcompute.errors import ResourceExhausted
from fcompute.pool.connection import InstanceConnection
from fcompute.pool.factory import InstanceFactory, LaunchSpec
from fcompute.pool.instance import Instance, InstanceFailure, InstanceState, StartInfo
from fcompute.pool.pool import FunctionPool, InstancePool, PoolLimits
from fcompute.sandbox.base import ExitReason
from tests.virtual_time import run_virtual


class ScriptedProcess:
    """Stands in for a sandboxed process tree: it only records that it was killed."""

    def __init__(self) -> None:
        self.killed = False

    @property
    def pid(self) -> int:
        return 0

    @property
    def socket(self) -> socket.socket:
        raise NotImplementedError

    @property
    def code_path(self) -> str:
        return "/code"

    def kill(self) -> None:
        self.killed = True

    async def wait(self) -> int:
        return 0

    def exit_reason(self) -> ExitReason:
        return ExitReason.KILLED


class ScriptedFactory(InstanceFactory):
    """Starts take ``start_seconds``; the starts numbered in ``failing`` fail."""

    def __init__(self, start_seconds: float, failing: frozenset[int]) -> None:
        self.start_seconds = start_seconds
        self.failing = failing
        self.started: list[Instance] = []
        self.attempts = 0

    async def start(self, launch: LaunchSpec, request_id: str) -> tuple[Instance, StartInfo]:
        attempt = self.attempts
        self.attempts += 1
        await asyncio.sleep(self.start_seconds)
        if attempt in self.failing:
            raise InstanceFailure("Runtime.StartFailed", "scripted start failure")
        instance = Instance(f"i{attempt}", launch.function_key, ScriptedProcess(),
                            InstanceConnection())
        instance.state = InstanceState.IDLE
        self.started.append(instance)
        return instance, StartInfo(0, self.start_seconds * 1000, 0)


def launch(key: str) -> LaunchSpec:
    return LaunchSpec(function_key=key, code_digest="0" * 64, memory_mb=128,
                      internet_access=True, log_path=Path("/dev/null"),
                      initialization_timeout=1, has_initializer=False, init_meta={})


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds after the scenario starts
    hold: float  # how long the handler runs
    cancel_after: float | None  # the client gives up this long after arriving
    dies: bool  # the instance dies during this request


@dataclass(frozen=True)
class Scenario:
    max_instances: int
    wait_seconds: float
    start_seconds: float
    failing_starts: frozenset[int]
    arrivals: list[Arrival]
    config_changes: list[float]  # moments the function's configuration changes
    idle_deaths: list[float]  # moments an idle instance dies


# Times on a coarse grid, a few milliseconds off at most, so that releases, deadlines and
# starts often fall due in the same loop iteration: the races this test is for.
moments = st.builds(lambda tick, offset: tick / 4 + offset / 1000,
                    st.integers(min_value=0, max_value=12), st.integers(min_value=0, max_value=5))
durations = st.sampled_from([0.0, 0.5, 1.0, 2.0])

scenarios = st.builds(
    Scenario,
    max_instances=st.integers(min_value=1, max_value=3),
    wait_seconds=durations,
    start_seconds=st.sampled_from([0.0, 0.25, 0.5]),
    failing_starts=st.frozensets(st.integers(min_value=0, max_value=12), max_size=3),
    arrivals=st.lists(
        st.builds(Arrival, at=moments, hold=durations,
                  cancel_after=st.one_of(st.none(), durations), dies=st.booleans()),
        min_size=1, max_size=25,
    ),
    config_changes=st.lists(moments, max_size=2),
    idle_deaths=st.lists(moments, max_size=3),
)


@dataclass
class Ledger:
    outcomes: dict[int, str] = field(default_factory=dict)
    leased: set[str] = field(default_factory=set)

    def answer(self, number: int, outcome: str) -> None:
        assert number not in self.outcomes, f"request {number} answered twice"
        self.outcomes[number] = outcome


def check_caps(pools: InstancePool, limit: int) -> None:
    for key, stats in pools.stats().items():
        assert stats["size"] <= limit, (key, stats)
        pool = pools.get(key)
        assert pool is not None
        assert len(pool.idle) + len(pool.busy) <= pool.size, key
        assert not set(pool.idle) & pool.busy, key


async def play(scenario: Scenario) -> None:
    factory = ScriptedFactory(scenario.start_seconds, scenario.failing_starts)
    limits = PoolLimits(max_instances=scenario.max_instances,
                        wait_seconds=scenario.wait_seconds, keep_alive_seconds=1000)
    pools = InstancePool(factory, limits)
    generation = {"key": "f@0"}
    ledger = Ledger()

    def current() -> FunctionPool:
        return pools.get(generation["key"]) or pools.create("f", launch(generation["key"]))

    async def request(number: int, arrival: Arrival) -> None:
        try:
            await asyncio.sleep(arrival.at)
        except asyncio.CancelledError:
            ledger.answer(number, "cancelled-before-arriving")
            raise
        pool = current()
        try:
            instance, _ = await pool.acquire(str(number))
        except ResourceExhausted:
            ledger.answer(number, "throttled")
            return
        except InstanceFailure:
            ledger.answer(number, "start-failed")
            return
        except asyncio.CancelledError:
            ledger.answer(number, "cancelled-waiting")
            raise
        assert instance.id not in ledger.leased, f"{instance.id} leased twice"
        assert instance.alive
        ledger.leased.add(instance.id)
        healthy = False
        try:
            check_caps(pools, scenario.max_instances)
            await asyncio.sleep(arrival.hold)
            if arrival.dies:
                instance.kill()
            else:
                healthy = True
            ledger.answer(number, "served")
        except asyncio.CancelledError:
            ledger.answer(number, "cancelled-running")
            raise
        finally:
            ledger.leased.discard(instance.id)
            pool.release(instance, healthy)
            check_caps(pools, scenario.max_instances)

    async def client(number: int, arrival: Arrival) -> None:
        task = asyncio.ensure_future(request(number, arrival))
        if arrival.cancel_after is None:
            await task
            return
        await asyncio.sleep(arrival.at + arrival.cancel_after)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def change_config(at: float, number: int) -> None:
        await asyncio.sleep(at)
        generation["key"] = f"f@{number}"
        current()

    async def kill_idle(at: float) -> None:
        await asyncio.sleep(at)
        pool = current()
        if pool.idle:
            pool.idle[0].kill()

    await asyncio.gather(
        *(client(n, a) for n, a in enumerate(scenario.arrivals)),
        *(change_config(at, n + 1) for n, at in enumerate(scenario.config_changes)),
        *(kill_idle(at) for at in scenario.idle_deaths),
    )

    assert sorted(ledger.outcomes) == list(range(len(scenario.arrivals)))
    for key in pools.stats():
        pool = pools.get(key)
        assert pool is not None
        assert not pool.busy, key
        assert not any(not waiter.done() for waiter in pool._waiters), key
        assert pool.size == len(pool.idle), (key, pool.size, len(pool.idle))
        if pool.retired:
            assert not pool.idle, key
    # Every instance the factory made is either idle in the current pool or stopped.
    current_pool = current()
    for instance in factory.started:
        if instance not in current_pool.idle:
            assert instance.state is InstanceState.DEAD, instance.id
    # No slot lost: the full cap is available again, at once.
    factory.failing = frozenset()
    leases = [await current_pool.acquire(f"after-{n}") for n in range(scenario.max_instances)]
    for instance, _ in leases:
        current_pool.release(instance)
    pools.reap()
    for key in pools.stats():
        pool = pools.get(key)
        assert pool is not None
        pool.reap(time.monotonic() + 10_000)
        assert pool.size == 0, key


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(scenarios, st.integers(min_value=0, max_value=2**32))
def test_pool_invariants_hold_under_random_traffic(scenario: Scenario, clock_seed: int) -> None:
    run_virtual(play(scenario), seed=clock_seed)


def test_an_instance_released_at_a_waiters_deadline_is_not_lost() -> None:
    """The release and the deadline fire in the same loop iteration, release first."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pools = InstancePool(ScriptedFactory(0, frozenset()),
                             PoolLimits(max_instances=1, wait_seconds=2, keep_alive_seconds=60))
        pool = pools.create("f", launch("f@0"))
        first, _ = await pool.acquire("first")
        # Scheduled before the waiter arms its own deadline timer for the same instant.
        loop.call_at(loop.time() + 2, pool.release, first)
        second, _ = await pool.acquire("second")
        assert second is first
        pool.release(second)
        third, _ = await pool.acquire("third")
        assert third is first
        assert pool.size == 1

    run_virtual(main())


def test_an_instance_handed_to_a_cancelled_waiter_goes_to_the_next() -> None:
    async def main() -> None:
        pools = InstancePool(ScriptedFactory(0, frozenset()),
                             PoolLimits(max_instances=1, wait_seconds=5, keep_alive_seconds=60))
        pool = pools.create("f", launch("f@0"))
        first, _ = await pool.acquire("first")
        gives_up = asyncio.ensure_future(pool.acquire("gives-up"))
        patient = asyncio.ensure_future(pool.acquire("patient"))
        await asyncio.sleep(1)
        pool.release(first)  # answers the first waiter...
        gives_up.cancel()  # ...whose client leaves before it runs again
        handed, _ = await patient
        assert handed is first
        assert gives_up.cancelled()

    run_virtual(main())
