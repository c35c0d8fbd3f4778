"""The invoke path without HTTP: drives the platform's ASGI app directly, in this process.

    .venv/bin/python bench/_inprocess.py [--cpu 0] [--count 10000] [--qualifiers alias]
                                         [--controls] [--resolve] [--profile]

It builds the platform exactly as ``fcompute serve`` does (process sandbox, temporary data
directory), deploys a no-op function through the app and then calls the invoke route
``--count`` times in a row, with synthetic ASGI messages instead of a socket. It prints the
platform process's CPU time and the wall time per warm invocation; the wall time includes the
round trip to the instance. With ``--cpu N`` the process and its instances are pinned to one
vCPU, which removes cross-CPU wake-ups and makes the figure steady enough to compare small
changes of the Python code. ``--profile`` adds a cProfile table of the same loop.

``--qualifiers alias`` (or ``all``) also publishes two versions of the same handler and
invokes through the weighted alias ``prod`` (and, with ``all``, the plain version
``bench.1``; see ``_qualifiers``). ``--controls`` adds the alias ``solo`` (the weighted
resolution on one pool) and a 70/30 split over two LATEST functions (two pools, no alias).
The targets then take turns in ``--blocks`` blocks of ``count / blocks`` invokes (LATEST,
alias, LATEST, alias, ...), so that a drift of the machine hits all of them alike, and
each is printed with its ratio to LATEST, block by block. ``--resolve`` also times
``FunctionCatalog.resolve`` alone for each qualifier, on a catalog of its own over the
platform's store, with a warm cache.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import functools
import io
import itertools
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _qualifiers
from fcompute.api.app import FcApp
from fcompute.config import Settings
from fcompute.invoke.catalog import FunctionCatalog, FunctionRef
from fcompute.platform import Platform, build_platform

Message = MutableMapping[str, Any]
SERVICE, FUNCTION = "bench", "noop"
API = _qualifiers.API
INVOKE = _qualifiers.invoke_path(SERVICE, "", FUNCTION)


@dataclass(frozen=True)
class Options:
    count: int
    blocks: int
    qualifiers: tuple[str, ...]
    controls: bool
    resolve: bool
    profile: bool


async def call(app: FcApp, method: str, path: str, body: bytes = b"") -> list[Message]:
    """One request through the app; returns the messages it sent."""
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 9000),
        "headers": [(b"host", b"127.0.0.1:9000"), (b"content-length", b"%d" % len(body))],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def call_ok(app: FcApp, method: str, path: str, body: bytes = b"") -> None:
    sent = await call(app, method, path, body)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"{method} {path} failed: {sent}")


def code_zip() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return b\"\"\n")
    return base64.b64encode(buffer.getvalue()).decode()


async def create_function(app: FcApp, name: str) -> None:
    await call_ok(app, "POST", f"{API}/services/{SERVICE}/functions", json.dumps({
        "functionName": name, "runtime": "python3", "handler": "index.handler",
        "code": {"zipFile": code_zip()},
    }).encode())


async def invoke_many(app: FcApp, paths: Sequence[str], count: int) -> None:
    """``count`` invokes, cycling through ``paths`` (one path, or a pre-drawn split)."""
    if len(paths) == 1:
        path = paths[0]
        for _ in range(count):
            await call(app, "POST", path)
        return
    for path in itertools.islice(itertools.cycle(paths), count):
        await call(app, "POST", path)


async def deploy(app: FcApp, options: Options) -> dict[str, Sequence[str]]:
    """Deploys what the options ask for; returns the targets: name -> paths to cycle."""
    await call_ok(app, "POST", f"{API}/services", json.dumps({"serviceName": SERVICE}).encode())
    await create_function(app, FUNCTION)
    targets: dict[str, Sequence[str]] = {"LATEST": [INVOKE]}
    if options.qualifiers or options.controls:
        for step in _qualifiers.setup_requests(SERVICE, FUNCTION):
            await call_ok(app, step.method, step.path, step.body)
    for qualifier in options.qualifiers:
        targets[_qualifiers.label(qualifier)] = [
            _qualifiers.invoke_path(SERVICE, qualifier, FUNCTION)]
    if options.controls:
        for step in _qualifiers.control_requests(SERVICE):
            await call_ok(app, step.method, step.path, step.body)
        await create_function(app, _qualifiers.TWIN)
        targets[_qualifiers.label(_qualifiers.SOLO_ALIAS)] = [
            _qualifiers.invoke_path(SERVICE, _qualifiers.SOLO_ALIAS, FUNCTION)]
        targets["2 functions"] = _qualifiers.split(
            INVOKE, _qualifiers.invoke_path(SERVICE, "", _qualifiers.TWIN))
    return targets


async def run(options: Options) -> None:
    with tempfile.TemporaryDirectory(prefix="fcompute-inprocess-") as data_dir:
        platform = build_platform(Settings(data_dir=Path(data_dir), sandbox="process"))
        await platform.start()
        try:
            await measure(platform, options)
        finally:
            await platform.close()


async def measure(platform: Platform, options: Options) -> None:
    app = platform.app
    targets = await deploy(app, options)
    for paths in targets.values():
        for path in sorted(set(paths)):
            await call_ok(app, "POST", path)
        # Through the alias, enough for both versions to have a warm instance.
        await invoke_many(app, paths, 500)
    blocks = options.blocks if len(targets) > 1 else 1
    per_block = max(1, options.count // blocks)
    cpu_us: dict[str, list[float]] = {name: [] for name in targets}
    wall_us: dict[str, list[float]] = {name: [] for name in targets}
    for block in range(blocks):
        # Alternate the order so that no target always runs right after another.
        order = list(targets.items()) if block % 2 == 0 else list(targets.items())[::-1]
        for name, paths in order:
            cpu, wall = time.process_time(), time.perf_counter()
            await invoke_many(app, paths, per_block)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            cpu_us[name].append(cpu / per_block * 1e6)
            wall_us[name].append(wall / per_block * 1e6)
    if len(targets) == 1:
        print(f"platform CPU per warm invoke {cpu_us['LATEST'][0]:.1f} us, "
              f"wall {wall_us['LATEST'][0]:.1f} us ({per_block} invocations)")
    else:
        report(cpu_us, wall_us)
        print(f"({per_block * blocks} invocations each, in {blocks} blocks; "
              "medians over the blocks)")
    if options.resolve:
        await time_resolve(platform, options)
    if options.profile:
        for name, paths in targets.items():
            profiler = cProfile.Profile()
            profiler.enable()
            await invoke_many(app, paths, options.count)
            profiler.disable()
            print(f"\nprofile of {options.count} invocations through {name}")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def report(cpu_us: dict[str, list[float]], wall_us: dict[str, list[float]]) -> None:
    """Each target's CPU and wall per invoke, and its ratios to LATEST block by block."""
    base_cpu, base_wall = cpu_us["LATEST"], wall_us["LATEST"]
    width = max(len(name) for name in cpu_us)
    for name in cpu_us:
        cpu, wall = statistics.median(cpu_us[name]), statistics.median(wall_us[name])
        line = (f"{name:>{width}}: platform CPU per warm invoke {cpu:6.1f} us, "
                f"wall {wall:6.1f} us")
        if name != "LATEST":
            cpu_ratios = [c / b for c, b in zip(cpu_us[name], base_cpu, strict=True)]
            wall_ratios = [w / b for w, b in zip(wall_us[name], base_wall, strict=True)]
            line += (f"; against LATEST: CPU x{statistics.median(cpu_ratios):.3f} "
                     f"({min(cpu_ratios):.3f}-{max(cpu_ratios):.3f}), "
                     f"wall x{statistics.median(wall_ratios):.3f}")
        print(line)


async def best_ns(step: Callable[[], Awaitable[object]], count: int = 100_000,
                  repeat: int = 5) -> float:
    """Nanoseconds per awaited ``step``: the best of ``repeat`` loops of ``count``."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        for _ in range(count):
            await step()
        best = min(best, (time.perf_counter() - began) / count * 1e9)
    return best


async def time_resolve(platform: Platform, options: Options) -> None:
    """``FunctionCatalog.resolve`` alone, cache warm, for each qualifier deployed."""
    # A long cache lifetime: the loops time the hot path, not reloads from the store.
    catalog = FunctionCatalog(platform.store, ttl=3600.0)
    qualifiers = ["LATEST", *options.qualifiers]
    if options.controls:
        qualifiers.append(_qualifiers.SOLO_ALIAS)
    print("\nFunctionCatalog.resolve alone, cache warm (best of 5 x 100,000):")
    for qualifier in qualifiers:
        path = SERVICE if qualifier == "LATEST" else f"{SERVICE}.{qualifier}"
        ref = FunctionRef.parse(path, FUNCTION)
        await catalog.resolve(ref)

        async def parse_and_resolve(path: str = path) -> object:
            return await catalog.resolve(FunctionRef.parse(path, FUNCTION))

        resolve_ns = await best_ns(functools.partial(catalog.resolve, ref))
        both_ns = await best_ns(parse_and_resolve)
        print(f"  {qualifier:>8}: resolve {resolve_ns:5.0f} ns, "
              f"FunctionRef.parse + resolve {both_ns:5.0f} ns")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="warm invokes through the ASGI app, no HTTP")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--cpu", type=int, help="pin this process and its instances to a CPU")
    parser.add_argument("--qualifiers", choices=sorted(_qualifiers.CHOICES), default="none",
                        help="also invoke through the weighted alias (alias), and the plain "
                             "version 1 (all), next to LATEST")
    parser.add_argument("--controls", action="store_true",
                        help="also a weighted alias that keeps to one version, and a 70/30 "
                             "split over two LATEST functions")
    parser.add_argument("--blocks", type=int, default=10,
                        help="with several targets: turns they take (default 10)")
    parser.add_argument("--resolve", action="store_true",
                        help="also time FunctionCatalog.resolve alone for each qualifier")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    options = Options(args.count, args.blocks, _qualifiers.CHOICES[args.qualifiers],
                      args.controls, args.resolve, args.profile)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # instances inherit it when they start
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(options))
    else:
        uvloop.run(run(options))


if __name__ == "__main__":
    main(sys.argv[1:])
