"""The invoke path without HTTP: drives the platform's ASGI app directly, in this process.

    .venv/bin/python bench/_inprocess.py [--cpu 0] [--count 10000] [--profile]

It builds the platform exactly as ``fcompute serve`` does (process sandbox, temporary data
directory), deploys a no-op function through the app and then calls the invoke route
``--count`` times in a row, with synthetic ASGI messages instead of a socket. It prints the
platform process's CPU time and the wall time per warm invocation; the wall time includes the
round trip to the instance. With ``--cpu N`` the process and its instances are pinned to one
vCPU, which removes cross-CPU wake-ups and makes the figure steady enough to compare small
changes of the Python code. ``--profile`` adds a cProfile table of the same loop.
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
import sys
import tempfile
import time
import zipfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from fcompute.api.app import FcApp
from fcompute.config import Settings
from fcompute.platform import build_platform

Message = MutableMapping[str, Any]
INVOKE = "/2016-08-15/services/bench/functions/noop/invocations"


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


async def run(count: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="fcompute-inprocess-") as data_dir:
        await measure(Path(data_dir), count, profile)


async def measure(data_dir: Path, count: int, profile: bool) -> None:
    platform = build_platform(Settings(data_dir=data_dir, sandbox="process"))
    app = platform.app
    await platform.start()
    try:
        await call(app, "POST", "/2016-08-15/services",
                   json.dumps({"serviceName": "bench"}).encode())
        await call(app, "POST", "/2016-08-15/services/bench/functions", json.dumps({
            "functionName": "noop", "runtime": "python3", "handler": "index.handler",
            "code": {"zipFile": code_zip()},
        }).encode())
        first = await call(app, "POST", INVOKE)
        if first[0]["status"] != 200:
            raise RuntimeError(f"invoke failed: {first}")
        for _ in range(500):
            await call(app, "POST", INVOKE)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            await call(app, "POST", INVOKE)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"platform CPU per warm invoke {cpu / count * 1e6:.1f} us, "
              f"wall {wall / count * 1e6:.1f} us ({count} invocations)")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(count):
                await call(app, "POST", INVOKE)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    finally:
        await platform.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="warm invokes through the ASGI app, no HTTP")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--cpu", type=int, help="pin this process and its instances to a CPU")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # instances inherit it when they start
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args.count, args.profile))
    else:
        uvloop.run(run(args.count, args.profile))


if __name__ == "__main__":
    main(sys.argv[1:])
