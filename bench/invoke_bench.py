"""Benchmark of the platform core: warm and first invocations through the FC invoke API.

    .venv/bin/python bench/invoke_bench.py [--rounds 5] [--qualifiers alias] [--json out.json]

It starts ``fcompute serve`` on a free loopback port with a temporary data directory,
deploys a no-op Python function through the API, and measures

- warm sync invoke latency (p50, p99) at concurrency 1, one keep-alive connection;
- invocations per second at concurrency 16 (wrk when installed, else a Python client);
- first-invoke latency of freshly created functions (each with its own code package).

The warm figures are taken for LATEST and, in the same rounds on the same platform, through
qualifiers (``--qualifiers``, see ``_qualifiers``): the weighted alias ``prod`` and, with
``all``, the plain version ``bench.1``. The report sets each beside LATEST, with the ratios.

Two reference servers run the same measurements in the same rounds, interleaved with the
platform's, so machine noise hits all of them alike (see ``_floor_app``): the front door
alone, and the front door plus one round trip to a worker process. Every figure is the
median over the rounds. See docs/benchmarks.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import _qualifiers
from _http import (
    BlockingClient,
    Requests,
    Throughput,
    build_request,
    measure_latency,
    python_throughput,
    wrk_available,
    wrk_throughput,
)
from _servers import Server, start_floor, start_platform

API = "/2016-08-15"
SERVICE = "bench"
FUNCTION = "noop"
NOOP_CODE = "def handler(event, context):\n    return b\"\"\n"

# The targets of the platform-core issue, on 2 vCPUs.
TARGET_P50_MS = 0.5
TARGET_RPS = 3000.0


@dataclass
class Target:
    name: str
    server: Server
    path: str
    base: Target | None = None  # for a qualified target: LATEST on the same platform
    # The control target "2 functions": this share of the requests goes to another path.
    split_path: str = ""
    split_share: float = 0.0
    latency_p50: list[float] = field(default_factory=list)
    latency_p99: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU per request, whole tree
    cpu_front_us: list[float] = field(default_factory=list)  # of that, the server process
    errors: int = 0
    clients: set[str] = field(default_factory=set)

    @property
    def request(self) -> Requests:
        """The request, or for a split target a fixed pseudo-random sequence of the two."""
        main = build_request(self.server.host, self.server.port, "POST", self.path)
        if not self.split_path:
            return main
        other = build_request(self.server.host, self.server.port, "POST", self.split_path)
        return _qualifiers.split(main, other, self.split_share)


def code_zip(source: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.py", source)
    return base64.b64encode(buffer.getvalue()).decode()


def create_function(api: httpx.Client, name: str, source: str) -> None:
    response = api.post(f"{API}/services/{SERVICE}/functions", json={
        "functionName": name, "runtime": "python3", "handler": "index.handler",
        "memorySize": 128, "timeout": 30, "code": {"zipFile": code_zip(source)},
    })
    response.raise_for_status()


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


INVOKE_PATH = _qualifiers.invoke_path(SERVICE, "", FUNCTION)


def deploy_platform(name: str, tmp: Path, args: argparse.Namespace,
                    env: dict[str, str]) -> tuple[Server, httpx.Client]:
    """Starts a platform and deploys the no-op function; returns it and an API client."""
    server = start_platform(tmp / f"{name}-data", tmp / f"{name}.log", args.server_arg, env,
                            args.platform_cpus, name=name)
    api = httpx.Client(base_url=f"http://{server.host}:{server.port}", timeout=60)
    api.post(f"{API}/services", json={"serviceName": SERVICE}).raise_for_status()
    create_function(api, FUNCTION, NOOP_CODE)
    return server, api


def deploy_qualifiers(api: httpx.Client) -> None:
    """Publishes the versions and creates the weighted alias the qualified targets use."""
    for step in _qualifiers.setup_requests(SERVICE, FUNCTION):
        api.request(step.method, step.path, content=step.body).raise_for_status()


def sample_versions(target: Target, count: int = 400) -> dict[str, int]:
    """How many of ``count`` sequential invokes each version answered (its response header)."""
    request = build_request(target.server.host, target.server.port, "POST", target.path)
    client = BlockingClient(target.server.host, target.server.port)
    seen: dict[str, int] = {}
    try:
        for _ in range(count):
            version = client.call(request).header("x-fc-invocation-service-version")
            seen[version] = seen.get(version, 0) + 1
    finally:
        client.close()
    return seen


def qualified_targets(base: Target, qualifiers: tuple[str, ...]) -> list[Target]:
    prefix = "" if base.name == "platform" else f"{base.name} "
    return [Target(prefix + _qualifiers.label(q), base.server,
                   _qualifiers.invoke_path(SERVICE, q, FUNCTION), base=base)
            for q in qualifiers]


def control_targets(base: Target, api: httpx.Client) -> list[Target]:
    """Two targets that take the alias apart (see ``_qualifiers.controls``): the weighted
    resolution on one pool, and the traffic split over two pools without an alias."""
    for step in _qualifiers.control_requests(SERVICE):
        api.request(step.method, step.path, content=step.body).raise_for_status()
    create_function(api, _qualifiers.TWIN, NOOP_CODE)
    prefix = "" if base.name == "platform" else f"{base.name} "
    return [
        Target(prefix + _qualifiers.label(_qualifiers.SOLO_ALIAS), base.server,
               _qualifiers.invoke_path(SERVICE, _qualifiers.SOLO_ALIAS, FUNCTION), base=base),
        Target(prefix + "2 functions", base.server, INVOKE_PATH, base=base,
               split_path=_qualifiers.invoke_path(SERVICE, "", _qualifiers.TWIN),
               split_share=_qualifiers.WEIGHT),
    ]


def source_root(path: Path) -> Path:
    """The directory holding the ``fcompute`` package in a checkout (``src``) or itself."""
    return path / "src" if (path / "src" / "fcompute").is_dir() else path


def run_latency(target: Target, seconds: float) -> None:
    samples = sorted(measure_latency(target.server.host, target.server.port, target.request,
                                     seconds))
    target.latency_p50.append(percentile(samples, 0.50) * 1000)
    target.latency_p99.append(percentile(samples, 0.99) * 1000)


def run_throughput(target: Target, client: str, concurrency: int, seconds: float,
                   record: bool = True) -> None:
    front_before, tree_before = target.server.cpu_seconds()
    result: Throughput
    if client == "wrk":
        split = (target.split_path, target.split_share) if target.split_path else None
        result = wrk_throughput(target.server.host, target.server.port, target.path,
                                concurrency, seconds, split)
    else:
        result = python_throughput(target.server.host, target.server.port, target.request,
                                   concurrency, seconds)
    front_after, tree_after = target.server.cpu_seconds()
    if not record:
        return
    target.clients.add(result.client)
    target.errors += result.errors
    target.rps.append(result.per_second)
    if result.requests:
        # Descendants that exited during the run are not counted; none do when warm.
        front = front_after - front_before
        tree = front + max(0.0, tree_after - tree_before)
        target.cpu_us.append(tree / result.requests * 1e6)
        target.cpu_front_us.append(front / result.requests * 1e6)


@dataclass
class FirstInvokes:
    total_ms: list[float] = field(default_factory=list)
    breakdown: dict[str, list[float]] = field(default_factory=dict)


def run_first_invoke(platform: Server, api: httpx.Client, out: FirstInvokes) -> None:
    """Creates a function with its own code package and times its first invoke."""
    name = f"fresh-{uuid.uuid4().hex[:12]}"
    # Distinct code: the first invoke includes extracting the package, as in real use.
    create_function(api, name, f"# {name}\n{NOOP_CODE}")
    request = build_request(platform.host, platform.port, "POST",
                            f"{API}/services/{SERVICE}/functions/{name}/invocations")
    client = BlockingClient(platform.host, platform.port)
    try:
        began = time.perf_counter()
        reply = client.call(request)
        elapsed = (time.perf_counter() - began) * 1000
    finally:
        client.close()
    if reply.status != 200 or reply.header("x-fc-cold-start") != "true":
        raise RuntimeError(f"first invoke of {name} failed: {reply.head!r}")
    out.total_ms.append(elapsed)
    for part in reply.header("server-timing").split(","):
        label, _, duration = part.strip().partition(";dur=")
        out.breakdown.setdefault(label, []).append(float(duration))
    # Delete it so its idle instance does not linger during later measurements.
    api.delete(f"{API}/services/{SERVICE}/functions/{name}").raise_for_status()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Observed:
    """What the run saw besides the timings."""

    processes_after_warmup: int = 0  # below the platform server (instances and helpers)
    processes_after_load: int = 0
    # qualified target -> version that answered (response header) -> count
    versions_seen: dict[str, dict[str, int]] = field(default_factory=dict)


def ratios(values: list[float], bases: list[float]) -> list[float]:
    """Per-round ratios: both targets measured in the same round, side by side."""
    return [value / base for value, base in zip(values, bases, strict=True) if base]


# Warm p50 and c=16 throughput through an alias within 5 % of LATEST, measured side by side.
QUALIFIER_TOLERANCE = 0.05


def report_qualified(target: Target, observed: Observed) -> dict[str, Any]:
    """Prints a qualified target beside LATEST; returns the ratios for the JSON."""
    base = target.base
    assert base is not None
    rows: list[tuple[str, str, list[float], list[float], str]] = [
        ("p50", "warm invoke p50, c=1 (ms)", target.latency_p50, base.latency_p50, "{:.3f}"),
        ("p99", "warm invoke p99, c=1 (ms)", target.latency_p99, base.latency_p99, "{:.3f}"),
        ("rps", "invocations/s, c=16", target.rps, base.rps, "{:.0f}"),
        ("cpu", "server CPU per request (us)", target.cpu_us, base.cpu_us, "{:.1f}"),
        ("front_cpu", "  of which front door (us)", target.cpu_front_us, base.cpu_front_us,
         "{:.1f}"),
    ]
    print()
    print(f"  {target.name} against LATEST, same platform, same rounds:")
    print(f"  {'':30}{'LATEST':>10}{target.name:>14}{'ratio':>8}"
          f"{'per-round ratios: median (min-max)':>38}")
    figures: dict[str, Any] = {}
    for key, label, values, bases, fmt in rows:
        paired = ratios(values, bases)
        ratio = median(values) / median(bases) if bases and median(bases) else float("nan")
        spread = (f"{median(paired):.3f} ({min(paired):.3f}-{max(paired):.3f})"
                  if paired else "")
        print(f"  {label:30}{fmt.format(median(bases)):>10}{fmt.format(median(values)):>14}"
              f"{ratio:>8.3f}{spread:>38}")
        figures[key] = {"ratio_of_medians": ratio, "per_round": paired}
    seen = observed.versions_seen.get(target.name, {})
    if seen:
        total = sum(seen.values())
        split = ", ".join(f"version {v}: {n / total:.0%}" for v, n in sorted(seen.items()))
        print(f"  versions that answered {total} sequential invokes: {split}")
        figures["versions_seen"] = seen
    if _qualifiers.label(_qualifiers.ALIAS) in target.name:
        p50 = figures["p50"]["ratio_of_medians"]
        rps = figures["rps"]["ratio_of_medians"]
        print(f"  target: alias within {QUALIFIER_TOLERANCE:.0%} of LATEST: "
              f"p50 {'met' if p50 <= 1 + QUALIFIER_TOLERANCE else 'MISSED'} (x{p50:.3f}), "
              f"throughput {'met' if rps >= 1 - QUALIFIER_TOLERANCE else 'MISSED'} (x{rps:.3f})")
    return figures


def report(targets: list[Target], first: dict[str, FirstInvokes], args: argparse.Namespace,
           observed: Observed, elapsed: float) -> dict[str, Any]:
    platform = targets[0]
    # Platforms and floors; qualified targets are set beside their LATEST separately.
    others = [t for t in targets[1:] if t.base is None]
    qualified = [t for t in targets if t.base is not None]
    clients = sorted(set().union(*(t.clients for t in targets)))
    print()
    print(f"fcompute invoke benchmark: {os.cpu_count()} vCPUs, {args.rounds} rounds "
          f"(median shown), {elapsed:.0f} s")
    print(f"  latency client: Python, 1 keep-alive connection, {args.latency_seconds:g} s "
          "per round")
    print(f"  throughput client: {', '.join(clients)}, {args.concurrency} connections, "
          f"{args.throughput_seconds:g} s per round")
    print()
    width = max(14, *(len(t.name) + 2 for t in targets))
    header = f"  {'':34}" + "".join(f"{t.name:>{width}}" for t in targets)
    print(header)
    rows: list[tuple[str, list[float], str]] = [
        ("warm invoke p50, c=1 (ms)", [median(t.latency_p50) for t in targets], "{:.3f}"),
        ("warm invoke p99, c=1 (ms)", [median(t.latency_p99) for t in targets], "{:.3f}"),
        (f"invocations/s, c={args.concurrency}", [median(t.rps) for t in targets], "{:.0f}"),
        (f"server CPU per request, c={args.concurrency} (us)",
         [median(t.cpu_us) for t in targets], "{:.0f}"),
        ("  of which front-door process (us)",
         [median(t.cpu_front_us) for t in targets], "{:.0f}"),
    ]
    for label, values, fmt in rows:
        print(f"  {label:34}" + "".join(f"{fmt.format(v):>{width}}" for v in values))
        if label.startswith("warm invoke p50"):
            # Where the processes land on the CPUs changes from round to round and moves
            # the p50 between two levels: show the spread, not only the median.
            spreads = [f"{min(t.latency_p50):.3f}-{max(t.latency_p50):.3f}" for t in targets]
            print(f"  {'  min-max over rounds':34}" + "".join(f"{v:>{width}}" for v in spreads))
    print()
    for other in others:
        p50 = median(platform.latency_p50) / median(other.latency_p50)
        p99 = median(platform.latency_p99) / median(other.latency_p99)
        rps = median(platform.rps) / median(other.rps)
        print(f"  platform vs {other.name}: p50 x{p50:.2f}, p99 x{p99:.2f}, "
              f"throughput x{rps:.2f}")
    print(f"  processes below the platform after the warm-up: "
          f"{observed.processes_after_warmup}, after the c={args.concurrency} runs: "
          f"{observed.processes_after_load}")
    if any(t.errors for t in targets):
        print("  ERRORS: " + ", ".join(f"{t.name}: {t.errors}" for t in targets))
    for name, fresh in first.items():
        parts = ", ".join(f"{label} {median(values):.1f}"
                          for label, values in fresh.breakdown.items())
        print(f"  {name}: first invoke of a fresh function: {median(fresh.total_ms):.1f} ms, "
              f"median of {len(fresh.total_ms)} (server-timing medians, ms: {parts})")
    qualified_figures = {t.name: report_qualified(t, observed) for t in qualified}
    print()
    p50 = median(platform.latency_p50)
    rps = median(platform.rps)
    print(f"  target warm p50 <= {TARGET_P50_MS} ms: {'met' if p50 <= TARGET_P50_MS else 'MISSED'}"
          f" ({p50:.3f} ms)")
    print(f"  target >= {TARGET_RPS:.0f} invocations/s at c=16: "
          f"{'met' if rps >= TARGET_RPS else 'MISSED'} ({rps:.0f}/s)")
    return {
        "cpus": os.cpu_count(), "rounds": args.rounds, "concurrency": args.concurrency,
        "clients": clients, "instances_after_load": observed.processes_after_load,
        "processes_after_warmup": observed.processes_after_warmup,
        "targets": {t.name: {
            "path": t.path, "p50_ms": t.latency_p50, "p99_ms": t.latency_p99, "rps": t.rps,
            "cpu_us_per_request": t.cpu_us, "front_cpu_us_per_request": t.cpu_front_us,
            "errors": t.errors,
        } for t in targets},
        "qualified_against_latest": qualified_figures,
        "first_invoke_ms": {name: f.total_ms for name, f in first.items()},
        "first_invoke_breakdown_ms": {name: f.breakdown for name, f in first.items()},
    }


def parse_cpus(text: str) -> set[int]:
    """A taskset-style list: ``0``, ``0,1``, ``0-1``."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-seconds", type=float, default=1.5)
    parser.add_argument("--throughput-seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fresh", type=int, default=5, help="fresh functions for first invokes")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                        help="throughput client (auto: wrk when installed)")
    parser.add_argument("--no-floors", action="store_true", help="measure the platform only")
    parser.add_argument("--qualifiers", choices=sorted(_qualifiers.CHOICES), default="alias",
                        help="also invoke through the weighted alias (alias), and the plain "
                             "version 1 (all), in the same rounds as LATEST (default: alias)")
    parser.add_argument("--controls", action="store_true",
                        help="also measure a weighted alias that keeps to one version and "
                             "a 70/30 split over two LATEST functions (what an alias costs)")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra argument for 'fcompute serve' (repeatable)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment variable for the platform (repeatable)")
    parser.add_argument("--platform-cpus", default="", metavar="LIST",
                        help="run the platform and its instances on these CPUs (taskset list)")
    parser.add_argument("--client-cpus", default="", metavar="LIST",
                        help="run the measuring clients on these CPUs (taskset list)")
    parser.add_argument("--compare", type=Path, metavar="CHECKOUT",
                        help="also measure the platform from another checkout (before/after)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if wrk_available() else "python"
    if args.client_cpus:
        # wrk, started later, inherits this process's CPU set.
        os.sched_setaffinity(0, parse_cpus(args.client_cpus))
    began = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="fcompute-bench-"))
    servers: list[Server] = []
    try:
        env = dict(item.split("=", 1) for item in args.server_env)
        qualifiers = _qualifiers.CHOICES[args.qualifiers]
        platform, api = deploy_platform("platform", tmp, args, env)
        apis = {"platform": api}
        servers.append(platform)
        latest = Target("platform", platform, INVOKE_PATH)
        # A qualified target runs right after its LATEST in each round (and right before
        # it in the reversed rounds): the pair shares the machine's noise most closely.
        targets = [latest]
        if qualifiers or args.controls:
            deploy_qualifiers(api)
            targets += qualified_targets(latest, qualifiers)
        if args.controls:
            targets += control_targets(latest, api)
        if args.compare:
            # Another source tree (e.g. a worktree of an older commit), measured in the
            # same rounds so that before/after figures share the machine's noise.
            compare_env = dict(env, PYTHONPATH=str(source_root(args.compare)))
            other, other_api = deploy_platform("compare", tmp, args, compare_env)
            apis["compare"] = other_api
            servers.append(other)
            compare = Target("compare", other, INVOKE_PATH)
            targets.append(compare)
            if qualifiers:
                try:
                    deploy_qualifiers(other_api)
                except httpx.HTTPStatusError as error:  # a tree from before versions
                    print(f"compare: no qualified targets ({error.response.status_code} "
                          f"from {error.request.url.path})", file=sys.stderr)
                else:
                    targets += qualified_targets(compare, qualifiers)
        if not args.no_floors:
            for mode, label in (("frontdoor", "front door"), ("hop", "door+hop")):
                floor = start_floor(mode, tmp / f"{mode}.log", args.platform_cpus)
                servers.append(floor)
                targets.append(Target(label, floor, "/"))
        # Warm-up, not recorded: the first invoke starts an instance; the concurrent run
        # lets the pool grow to whatever it keeps for that load.
        for target in targets:
            measure_latency(target.server.host, target.server.port, target.request, 0.3)
            run_throughput(target, client, args.concurrency, 1.0, record=False)
        observed = Observed(processes_after_warmup=len(platform.descendants()))
        for target in targets:
            if target.base is not None and not target.split_path:
                observed.versions_seen[target.name] = sample_versions(target)
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr, flush=True)
            # Alternate the order so that no server always runs right after another.
            ordered = targets if round_number % 2 == 0 else targets[::-1]
            for target in ordered:
                run_latency(target, args.latency_seconds)
            for target in ordered:
                run_throughput(target, client, args.concurrency, args.throughput_seconds)
        observed.processes_after_load = len(platform.descendants())
        first: dict[str, FirstInvokes] = {}
        for _ in range(args.fresh):  # alternate between platforms, one function at a time
            for target in targets:
                if target.base is None and target.name in apis:
                    run_first_invoke(target.server, apis[target.name],
                                     first.setdefault(target.name, FirstInvokes()))
        for client_api in apis.values():
            client_api.close()
        figures = report(targets, first, args, observed, time.monotonic() - began)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 0
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
