"""Benchmark of durable async invocation.

    .venv/bin/python bench/async_bench.py [--rounds 3] [--json out.json]

It starts ``fcompute serve`` on a free loopback port with a temporary data directory
and deploys two Python functions: a no-op, and one that returns the time its handler
started. Each round measures

- acknowledgements per second: ``x-fc-invocation-type: Async`` requests with a small
  payload at concurrency 16 (wrk when installed, else a Python client). Every 202 means
  the event was committed to disk (SQLite WAL, ``synchronous=FULL``). The dispatcher
  runs the acknowledged events meanwhile, as it would in production;
- end-to-end throughput: a batch of events for the no-op function submitted at
  concurrency 16, from the first request to the moment none is left pending;
- dispatch delay on an idle platform: one event at a time, from the client receiving
  the 202 to the handler's first line (both clocks are this machine's wall clock).

Every figure printed is the median over the rounds.
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

from _http import (
    BlockingClient,
    build_request,
    python_throughput,
    send_count,
    wrk_available,
)
from _servers import Server, start_platform

API = "/2016-08-15"
SERVICE = "abench"
NOOP = "def handler(event, context):\n    return b\"\"\n"
STAMP = "import time\n\ndef handler(event, context):\n    return str(time.time_ns())\n"
PAYLOAD = b'{"id": 1, "kind": "benchmark"}'
ASYNC_HEADERS = {"x-fc-invocation-type": "Async", "content-type": "application/json"}

# The targets of the async issue, on 2 vCPUs.
TARGET_ACKS = 2000.0
TARGET_P50_MS = 5.0


def code_zip(source: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.py", source)
    return base64.b64encode(buffer.getvalue()).decode()


def create_function(api: httpx.Client, name: str, source: str) -> None:
    api.post(f"{API}/services/{SERVICE}/functions", json={
        "functionName": name, "runtime": "python3", "handler": "index.handler",
        "memorySize": 128, "timeout": 30, "code": {"zipFile": code_zip(source)},
    }).raise_for_status()


def invoke_path(function: str) -> str:
    return f"{API}/services/{SERVICE}/functions/{function}/invocations"


def records_path(function: str) -> str:
    return f"{API}/services/{SERVICE}/functions/{function}/stateful-async-invocations"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# acknowledgements -------------------------------------------------------------


def _wrk_script(body: bytes) -> str:
    headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in ASYNC_HEADERS.items())
    return f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n{headers}'


def wrk_acks(server: Server, path: str, connections: int, seconds: float) -> tuple[int, float]:
    import re
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "async.lua"
        script.write_text(_wrk_script(PAYLOAD))
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s",
             str(script), f"http://{server.host}:{server.port}{path}"],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    elapsed = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    return int(total.group(1)), elapsed


def python_acks(server: Server, path: str, connections: int,
                seconds: float) -> tuple[int, float]:
    request = build_request(server.host, server.port, "POST", path, PAYLOAD, ASYNC_HEADERS)
    result = python_throughput(server.host, server.port, request, connections, seconds,
                               expect=b"202")
    if result.errors:
        raise RuntimeError(f"{result.errors} async requests were not acknowledged with 202")
    return result.requests, result.seconds


# end to end -------------------------------------------------------------------


def pending(api: httpx.Client, function: str) -> bool:
    for status in ("Enqueued", "Retrying", "Running"):
        found = api.get(records_path(function), params={"status": status, "limit": "1"})
        found.raise_for_status()
        if found.json()["invocations"]:
            return True
    return False


def wait_idle(api: httpx.Client, function: str, timeout: float = 600.0) -> float:
    """Seconds until no event of ``function`` is pending (polled every 20 ms)."""
    began = time.perf_counter()
    while pending(api, function):
        if time.perf_counter() - began > timeout:
            raise RuntimeError("the async queue did not drain")
        time.sleep(0.02)
    return time.perf_counter() - began


def submit_all(server: Server, path: str, count: int, connections: int) -> None:
    """Sends ``count`` async requests over ``connections`` keep-alive connections."""
    request = build_request(server.host, server.port, "POST", path, PAYLOAD, ASYNC_HEADERS)
    errors = send_count(server.host, server.port, request, count, connections, expect=b"202")
    if errors:
        raise RuntimeError(f"{errors} async requests were not acknowledged with 202")


def end_to_end(server: Server, api: httpx.Client, count: int, connections: int) -> float:
    began = time.perf_counter()
    submit_all(server, invoke_path("noop"), count, connections)
    wait_idle(api, "noop")
    return count / (time.perf_counter() - began)


# dispatch delay -----------------------------------------------------------------


def dispatch_delays(server: Server, api: httpx.Client, probes: int) -> list[float]:
    """Milliseconds from the 202 reaching the client to the handler's first line."""
    client = BlockingClient(server.host, server.port)
    delays: list[float] = []
    try:
        for index in range(probes + 3):
            invocation_id = f"probe-{uuid.uuid4().hex}"
            request = build_request(server.host, server.port, "POST", invoke_path("stamp"),
                                    PAYLOAD, {**ASYNC_HEADERS,
                                              "x-fc-stateful-async-invocation-id": invocation_id})
            reply = client.call(request)
            acked_ns = time.time_ns()
            if reply.status != 202:
                raise RuntimeError(f"async invoke answered {reply.status}: {reply.body!r}")
            while True:
                time.sleep(0.01)
                record = api.get(f"{records_path('stamp')}/{invocation_id}").json()
                if record["status"] == "Succeeded":
                    break
                if record["status"] not in ("Enqueued", "Running"):
                    raise RuntimeError(f"probe ended {record['status']}: {record['error']}")
            if index >= 3:  # the first ones start the instance
                delays.append((int(record["returnPayload"]) - acked_ns) / 1e6)
    finally:
        client.close()
    return delays


# report -------------------------------------------------------------------------


@dataclass
class Figures:
    acks: list[float] = field(default_factory=list)
    drain_after_acks_s: list[float] = field(default_factory=list)
    e2e: list[float] = field(default_factory=list)
    delay_p50: list[float] = field(default_factory=list)
    delay_p99: list[float] = field(default_factory=list)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(figures: Figures, args: argparse.Namespace, client: str) -> dict[str, Any]:
    acks, e2e = median(figures.acks), median(figures.e2e)
    p50, p99 = median(figures.delay_p50), median(figures.delay_p99)
    print()
    print(f"fcompute async benchmark: {os.cpu_count()} vCPUs, {args.rounds} rounds "
          "(median shown)")
    print(f"  async acknowledgements/s, c={args.concurrency}, {len(PAYLOAD)} B payload "
          f"({client}, {args.ack_seconds:g} s): {acks:.0f}")
    print(f"    then draining that backlog took {median(figures.drain_after_acks_s):.1f} s")
    print(f"  end-to-end events completed/s, no-op function, {args.events} events at "
          f"c={args.concurrency}: {e2e:.0f}")
    print(f"  dispatch delay, 202 received -> handler start, idle platform, {args.probes} "
          f"probes: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print()
    print(f"  target >= {TARGET_ACKS:.0f} acknowledgements/s: "
          f"{'met' if acks >= TARGET_ACKS else 'MISSED'} ({acks:.0f}/s)")
    print(f"  target dispatch delay p50 < {TARGET_P50_MS:g} ms: "
          f"{'met' if p50 < TARGET_P50_MS else 'MISSED'} ({p50:.2f} ms)")
    return {"cpus": os.cpu_count(), "rounds": args.rounds, "client": client,
            "acks_per_s": figures.acks, "drain_after_acks_s": figures.drain_after_acks_s,
            "e2e_per_s": figures.e2e, "dispatch_p50_ms": figures.delay_p50,
            "dispatch_p99_ms": figures.delay_p99}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ack-seconds", type=float, default=3.0)
    parser.add_argument("--events", type=int, default=3000, help="events per end-to-end run")
    parser.add_argument("--probes", type=int, default=200, help="dispatch-delay probes")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra argument for 'fcompute serve' (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if wrk_available() else "python"
    tmp = Path(tempfile.mkdtemp(prefix="fcompute-async-bench-"))
    server: Server | None = None
    try:
        server = start_platform(tmp / "data", tmp / "platform.log", args.server_arg)
        api = httpx.Client(base_url=f"http://{server.host}:{server.port}", timeout=60)
        api.post(f"{API}/services", json={"serviceName": SERVICE}).raise_for_status()
        create_function(api, "noop", NOOP)
        create_function(api, "stamp", STAMP)
        # Warm-up: start the instances every phase uses.
        submit_all(server, invoke_path("noop"), 200, args.concurrency)
        wait_idle(api, "noop")
        figures = Figures()
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr, flush=True)
            measure = wrk_acks if client == "wrk" else python_acks
            done, seconds = measure(server, invoke_path("noop"), args.concurrency,
                                    args.ack_seconds)
            figures.acks.append(done / seconds)
            figures.drain_after_acks_s.append(wait_idle(api, "noop"))
            figures.e2e.append(end_to_end(server, api, args.events, args.concurrency))
            delays = dispatch_delays(server, api, args.probes)
            figures.delay_p50.append(percentile(delays, 0.50))
            figures.delay_p99.append(percentile(delays, 0.99))
        api.close()
        data = report(figures, args, client)
        if args.json:
            args.json.write_text(json.dumps(data, indent=2) + "\n")
        return 0
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
