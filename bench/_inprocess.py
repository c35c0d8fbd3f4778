"""The invoke path without HTTP: drives the platform's ASGI app directly, in this process.

    .venv/bin/python bench/_inprocess.py [--cpu 0] [--count 10000] [--qualifiers alias]
                                         [--profile]

It builds the platform exactly as ``fcompute serve`` does (process sandbox, temporary data
directory), deploys a no-op function through the app and then calls the invoke route
``--count`` times in a row, with synthetic ASGI messages instead of a socket. It prints the
platform process's CPU time and the wall time per warm invocation; the wall time includes the
round trip to the instance. With ``--cpu N`` the process and its instances are pinned to one
vCPU, which removes cross-CPU wake-ups and makes the figure steady enough to compare small
changes of the Python code. ``--profile`` adds a cProfile table of the same loop.

``--qualifiers alias`` (or ``all``) also publishes two versions of the same handler and
invokes through the weighted alias ``prod`` (and, with ``all``, the plain version
``bench.1``; see ``_qualifiers``). The targets then take turns in ``--blocks`` blocks of
``count / blocks`` invokes (LATEST, alias, LATEST, alias, ...), so that a drift of the
machine hits all of them alike, and each is printed with its ratio to LATEST.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import _qualifiers
from fcompute.api.app import FcApp
from fcompute.config import Settings
from fcompute.platform import build_platform

Message = MutableMapping[str, Any]
SERVICE, FUNCTION = "bench", "noop"
INVOKE = _qualifiers.invoke_path(SERVICE, "", FUNCTION)


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


def code_zip() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return b\"\"\n")
    return base64.b64encode(buffer.getvalue()).decode()


async def run(count: int, blocks: int, qualifiers: tuple[str, ...], profile: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="fcompute-inprocess-") as data_dir:
        await measure(Path(data_dir), count, blocks, qualifiers, profile)


async def invoke_many(app: FcApp, path: str, count: int) -> None:
    for _ in range(count):
        await call(app, "POST", path)


async def measure(data_dir: Path, count: int, blocks: int, qualifiers: tuple[str, ...],
                  profile: bool) -> None:
    platform = build_platform(Settings(data_dir=data_dir, sandbox="process"))
    app = platform.app
    await platform.start()
    try:
        await call(app, "POST", "/2016-08-15/services",
                   json.dumps({"serviceName": SERVICE}).encode())
        await call(app, "POST", f"/2016-08-15/services/{SERVICE}/functions", json.dumps({
            "functionName": FUNCTION, "runtime": "python3", "handler": "index.handler",
            "code": {"zipFile": code_zip()},
        }).encode())
        for step in _qualifiers.setup_requests(SERVICE, FUNCTION) if qualifiers else []:
            sent = await call(app, step.method, step.path, step.body)
            if sent[0]["status"] != 200:
                raise RuntimeError(f"{step.method} {step.path} failed: {sent}")
        targets = {"LATEST": INVOKE}
        targets.update({_qualifiers.label(q): _qualifiers.invoke_path(SERVICE, q, FUNCTION)
                        for q in qualifiers})
        for path in targets.values():
            first = await call(app, "POST", path)
            if first[0]["status"] != 200:
                raise RuntimeError(f"invoke failed: {first}")
            # Through the alias, enough for both versions to have a warm instance.
            await invoke_many(app, path, 500)
        if not qualifiers:
            blocks = 1
        per_block = max(1, count // blocks)
        cpu_us: dict[str, list[float]] = {name: [] for name in targets}
        wall_us: dict[str, list[float]] = {name: [] for name in targets}
        for block in range(blocks):
            # Alternate the order so that no target always runs right after another.
            order = list(targets.items()) if block % 2 == 0 else list(targets.items())[::-1]
            for name, path in order:
                cpu, wall = time.process_time(), time.perf_counter()
                await invoke_many(app, path, per_block)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                cpu_us[name].append(cpu / per_block * 1e6)
                wall_us[name].append(wall / per_block * 1e6)
        if not qualifiers:
            print(f"platform CPU per warm invoke {cpu_us['LATEST'][0]:.1f} us, "
                  f"wall {wall_us['LATEST'][0]:.1f} us ({per_block} invocations)")
        else:
            report(cpu_us, wall_us)
            print(f"({per_block * blocks} invocations each, in {blocks} blocks; "
                  "medians over the blocks)")
        if profile:
            for name, path in targets.items():
                profiler = cProfile.Profile()
                profiler.enable()
                await invoke_many(app, path, count)
                profiler.disable()
                print(f"\nprofile of {count} invocations through {name}")
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    finally:
        await platform.close()


def report(cpu_us: dict[str, list[float]], wall_us: dict[str, list[float]]) -> None:
    """Each target's CPU and wall per invoke, and its ratios to LATEST block by block."""
    base_cpu, base_wall = cpu_us["LATEST"], wall_us["LATEST"]
    for name in cpu_us:
        cpu, wall = statistics.median(cpu_us[name]), statistics.median(wall_us[name])
        line = f"{name:>10}: platform CPU per warm invoke {cpu:6.1f} us, wall {wall:6.1f} us"
        if name != "LATEST":
            cpu_ratios = [c / b for c, b in zip(cpu_us[name], base_cpu, strict=True)]
            wall_ratios = [w / b for w, b in zip(wall_us[name], base_wall, strict=True)]
            line += (f"; against LATEST: CPU x{statistics.median(cpu_ratios):.3f} "
                     f"({min(cpu_ratios):.3f}-{max(cpu_ratios):.3f}), "
                     f"wall x{statistics.median(wall_ratios):.3f}")
        print(line)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="warm invokes through the ASGI app, no HTTP")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--cpu", type=int, help="pin this process and its instances to a CPU")
    parser.add_argument("--qualifiers", choices=sorted(_qualifiers.CHOICES), default="none",
                        help="also invoke through the weighted alias (alias), and the plain "
                             "version 1 (all), next to LATEST")
    parser.add_argument("--blocks", type=int, default=10,
                        help="with --qualifiers: turns the targets take (default 10)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    qualifiers = _qualifiers.CHOICES[args.qualifiers]
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # instances inherit it when they start
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args.count, args.blocks, qualifiers, args.profile))
    else:
        uvloop.run(run(args.count, args.blocks, qualifiers, args.profile))


if __name__ == "__main__":
    main(sys.argv[1:])
