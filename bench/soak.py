"""Soak benchmark: steady load for a while, watching what the platform holds.

    .venv/bin/python bench/soak.py [--seconds 60] [--concurrency 16] [--json out.json]

It starts ``fcompute serve`` on a free loopback port with a temporary data directory,
deploys an echo function and runs a closed loop of ``--concurrency`` keep-alive clients,
each sending its next request as soon as the previous one is answered: sync invokes of a
small payload, with every ``--async-every``-th request an async invoke (202 expected).
Every second it samples the server process: resident memory (VmRSS), open descriptors
(``/proc/<pid>/fd``), threads, instances (sessions below it) and all the processes below
it, and the async invocations still pending (records Enqueued, Running or Retrying).

The report puts the first tenth of the run (the baseline, measured in the same run after
a warm-up) beside the last tenth: requests/s, errors, latency p50/p99, and each sampled
resource's first, last and maximum values, with the drift from baseline to end. A leak
shows as a drift that grows with ``--seconds``; noise does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx

from _http import _Framing, build_request
from _servers import Server, start_platform
from invoke_bench import code_zip, percentile

API = "/2016-08-15"
SERVICE = "soak"
FUNCTION = "echo"
ECHO_CODE = "def handler(event, context):\n    return event\n"
PENDING = ("Enqueued", "Running", "Retrying")
MAX_PENDING_PAGES = 10  # sampling stops counting at 1,000 pending (shown as ">=")


# load ---------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``call`` sends a request and waits for its status."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        frame = _Framing.split(buffer)
        if frame is None or self._waiter is None or self._waiter.done():
            return
        head = bytes(buffer[:frame[0]]).lower()
        status = int(buffer[9:12])
        del buffer[:frame[1]]
        # A function error is a 200 with x-fc-error-type: count it as an error too.
        self._waiter.set_result(-status if b"\r\nx-fc-error-type:" in head else status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("the server closed the connection"))

    async def call(self, request: bytes) -> int:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter


@dataclass
class Log:
    """Every request's end time (seconds into the run), latency and outcome."""

    ended: array[float] = field(default_factory=lambda: array("d"))
    latency: array[float] = field(default_factory=lambda: array("d"))
    failed: array[int] = field(default_factory=lambda: array("b"))
    asynchronous: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1


async def _client(host: str, port: int, requests: tuple[bytes, bytes], offset: int,
                  every: int, began: float, stop_at: float, log: Log | None) -> None:
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    sync_request, async_request = requests
    number = offset
    connection: _Connection | None = None
    while clock() < stop_at:
        if connection is None:
            _, connection = await loop.create_connection(_Connection, host, port)
        number += 1
        is_async = every > 0 and number % every == 0
        sent = clock()
        try:
            status = await connection.call(async_request if is_async else sync_request)
        except ConnectionError:
            status = 0
            connection = None
        done = clock()
        if log is None:
            continue
        ok = status == (202 if is_async else 200)
        if not ok:
            log.fail("connection closed" if status == 0 else
                     f"function error ({-status})" if status < 0 else f"status {status}")
        log.ended.append(done - began)
        log.latency.append(done - sent)
        log.failed.append(0 if ok else 1)
        log.asynchronous += is_async
    if connection is not None and connection.transport is not None:
        connection.transport.close()


async def _load(server: Server, args: argparse.Namespace, seconds: float, began: float,
                log: Log | None) -> None:
    path = f"{API}/services/{SERVICE}/functions/{FUNCTION}/invocations"
    payload = b'{"soak": "' + b"x" * max(0, args.payload_bytes - 12) + b'"}'
    headers = {"content-type": "application/json"}
    requests = (
        build_request(server.host, server.port, "POST", path, payload, headers),
        build_request(server.host, server.port, "POST", path, payload,
                      {**headers, "x-fc-invocation-type": "Async"}),
    )
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(
        _client(server.host, server.port, requests, index * args.async_every // max(
            1, args.concurrency), args.async_every, began, stop_at, log)
        for index in range(args.concurrency)))


def run_load(server: Server, args: argparse.Namespace, seconds: float, began: float,
             log: Log | None) -> None:
    try:
        import uvloop

        uvloop.run(_load(server, args, seconds, began, log))
    except ImportError:
        asyncio.run(_load(server, args, seconds, began, log))


# samples --------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float  # seconds into the run
    rss_mib: float
    fds: int
    threads: int
    processes: int  # below the server: instances and the sandbox's helpers
    instances: int
    async_pending: int
    cpu_s: float  # CPU time of the server process so far


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def _stat(pid: int) -> tuple[int, int]:
    """(parent, session) of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[3])


def count_processes(server: Server) -> tuple[int, int]:
    """(processes, instances) below the server.

    Every instance is a session of its own (the sandboxes start it with ``setsid``), so
    instances are the sessions led by a process below the server, except a session leader
    that is the parent of others: the Linux sandbox's zygote, which forks the instances.
    """
    leaders: set[int] = set()
    parents_of_leaders: set[int] = set()
    pids = server.descendants()
    for pid in pids:
        try:
            parent, session = _stat(pid)
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        if session == pid:
            leaders.add(pid)
            parents_of_leaders.add(parent)
    return len(pids), len(leaders - parents_of_leaders)


def async_pending(api: httpx.Client) -> int:
    """Async invocations of the echo function not finished yet (1,000 of each at most)."""
    return count_records(api, PENDING)


def count_records(api: httpx.Client, statuses: tuple[str, ...]) -> int:
    path = f"{API}/services/{SERVICE}/functions/{FUNCTION}/stateful-async-invocations"
    count = 0
    for status in statuses:
        token = ""
        for _ in range(MAX_PENDING_PAGES):
            params = {"status": status, "limit": "100", **({"nextToken": token} if token else {})}
            page = api.get(path, params=params)
            page.raise_for_status()
            data = page.json()
            count += len(data["invocations"])
            token = data.get("nextToken", "")
            if not token:
                break
    return count


def take_sample(server: Server, api: httpx.Client, began: float) -> Sample:
    pid = server.proc.pid
    processes, instances = count_processes(server)
    return Sample(
        at=time.perf_counter() - began,
        rss_mib=_status_field(pid, "VmRSS") / 1024,
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=_status_field(pid, "Threads"),
        processes=processes,
        instances=instances,
        async_pending=async_pending(api),
        cpu_s=Server._cpu_of(pid),
    )


class Sampler(threading.Thread):
    """Samples the server every ``interval`` seconds until stopped."""

    def __init__(self, server: Server, interval: float, began: float) -> None:
        super().__init__(name="sampler", daemon=True)
        self.server = server
        self.interval = interval
        self.began = began
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        base = f"http://{self.server.host}:{self.server.port}"
        with httpx.Client(base_url=base, timeout=10) as api:
            next_at = time.perf_counter()
            while not self._stop_event.is_set():
                try:
                    self.samples.append(take_sample(self.server, api, self.began))
                except (OSError, httpx.HTTPError, KeyError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                next_at += self.interval
                self._stop_event.wait(max(0.0, next_at - time.perf_counter()))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# report ---------------------------------------------------------------------------------


@dataclass
class Window:
    name: str
    begin: float
    end: float


def cpu_per_request(log: Log, samples: list[Sample], window: Window) -> float:
    """Server CPU per request (us) between the samples nearest the window's bounds.

    Unlike requests/s and latency, it hardly moves when other work takes the CPUs, so a
    change of it is the platform's own.
    """
    inside = [s for s in samples if window.begin <= s.at <= window.end]
    if len(inside) < 2:
        return float("nan")
    first, last = inside[0], inside[-1]
    answered = sum(1 for ended in log.ended if first.at <= ended < last.at)
    return (last.cpu_s - first.cpu_s) / answered * 1e6 if answered else float("nan")


def load_figures(log: Log, window: Window) -> dict[str, float]:
    latencies = sorted(lat for ended, lat in zip(log.ended, log.latency, strict=True)
                       if window.begin <= ended < window.end)
    errors = sum(failed for ended, failed in zip(log.ended, log.failed, strict=True)
                 if window.begin <= ended < window.end)
    span = window.end - window.begin
    return {
        "requests_per_s": len(latencies) / span if span > 0 else float("nan"),
        "errors": float(errors),
        "p50_ms": percentile(latencies, 0.50) * 1000 if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else float("nan"),
    }


RESOURCES: list[tuple[str, str, str]] = [
    ("rss_mib", "server RSS (MiB)", "{:.1f}"),
    ("fds", "server open descriptors", "{:.0f}"),
    ("threads", "server threads", "{:.0f}"),
    ("instances", "instances", "{:.0f}"),
    ("processes", "processes below the server", "{:.0f}"),
    ("async_pending", "async invocations pending", "{:.0f}"),
]


def resource_figures(samples: list[Sample], baseline: Window, end: Window) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if not samples:
        return figures
    for key, _label, _fmt in RESOURCES:
        values = [float(getattr(s, key)) for s in samples]
        # A short run may have no sample inside a window: its nearest one stands in.
        base = [float(getattr(s, key)) for s in samples
                if baseline.begin <= s.at < baseline.end] or values[:1]
        last = [float(getattr(s, key)) for s in samples
                if end.begin <= s.at <= end.end] or values[-1:]
        base_mean = statistics.fmean(base) if base else float("nan")
        end_mean = statistics.fmean(last) if last else float("nan")
        figures[key] = {
            "first": values[0], "last": values[-1], "max": max(values),
            "baseline_mean": base_mean, "end_mean": end_mean, "drift": end_mean - base_mean,
            "second_half_slope_per_min": second_half_slope(samples, key, end.end),
        }
    return figures


def second_half_slope(samples: list[Sample], key: str, run_end: float) -> float:
    """Least-squares change per minute over the second half of the run.

    Caches and allocator arenas grow at the start of a run and then level off; a leak
    keeps its slope.
    """
    half = [s for s in samples if s.at >= run_end / 2]
    if len(half) < 3:
        return float("nan")
    try:
        slope, _ = statistics.linear_regression([s.at for s in half],
                                                [float(getattr(s, key)) for s in half])
    except statistics.StatisticsError:  # constant times
        return float("nan")
    return slope * 60


def per_second(log: Log, seconds: float) -> list[int]:
    """Requests answered in each second of the run."""
    counts = [0] * max(1, math.ceil(seconds))
    for ended in log.ended:
        counts[min(len(counts) - 1, int(ended))] += 1
    return counts


def report(log: Log, samples: list[Sample], args: argparse.Namespace,
           sampler_errors: list[str], tail: dict[str, Any]) -> dict[str, Any]:
    run = Window("whole run", 0.0, args.seconds)
    tenth = args.seconds / 10
    baseline = Window("first 10%", 0.0, tenth)
    end = Window("last 10%", args.seconds - tenth, args.seconds)
    windows = [run, baseline, end]
    load = {w.name: load_figures(log, w) for w in windows}
    for w in windows:
        load[w.name]["cpu_us_per_request"] = cpu_per_request(log, samples, w)
    resources = resource_figures(samples, baseline, end)

    print()
    print(f"fcompute soak: {os.cpu_count()} vCPUs, {args.seconds:g} s after a "
          f"{args.warmup:g} s warm-up, {args.concurrency} keep-alive clients, "
          f"1 request in {args.async_every} async, {args.payload_bytes} B payload")
    print(f"  {len(log.latency)} requests ({log.asynchronous} async), "
          f"{len(samples)} samples")
    print()
    print(f"  {'':28}" + "".join(f"{w.name:>12}" for w in windows) + f"{'drift':>12}")
    rows = [("requests/s", "requests_per_s", "{:.0f}"), ("errors", "errors", "{:.0f}"),
            ("latency p50 (ms)", "p50_ms", "{:.2f}"), ("latency p99 (ms)", "p99_ms", "{:.2f}"),
            ("server CPU per request (us)", "cpu_us_per_request", "{:.0f}")]
    for label, key, fmt in rows:
        values = [load[w.name][key] for w in windows]
        drift = fmt.replace("{:", "{:+").format(values[2] - values[1]) if key != "errors" else ""
        print(f"  {label:28}" + "".join(f"{fmt.format(v):>12}" for v in values)
              + f"{drift:>12}")
    print()
    print(f"  {'':28}{'first':>9}{'last':>9}{'max':>9}{'base':>9}{'end':>9}"
          f"{'drift':>9}{'2nd half':>10}")
    for key, label, fmt in RESOURCES if resources else []:
        f = resources[key]
        cells = [f["first"], f["last"], f["max"], f["baseline_mean"], f["end_mean"]]
        print(f"  {label:28}" + "".join(f"{fmt.format(v):>9}" for v in cells)
              + f"{f['drift']:>+9.1f}{f['second_half_slope_per_min']:>+8.2f}/m")
    print("  (base, end: means of the samples in the first and last 10% of the run; drift: end")
    print("  less base; 2nd half: least-squares slope per minute over the second half)")
    print()
    print(f"  after the load: async pending {tail['pending']} after "
          f"{tail['drain_s']:.1f} s, async failed {tail['failed']}, server descriptors "
          f"{tail['fds']}, RSS {tail['rss_mib']:.1f} MiB, {tail['instances']} instances")
    if log.failures:
        print("  ERRORS: " + ", ".join(f"{why}: {n}" for why, n in sorted(log.failures.items())))
    if sampler_errors:
        print(f"  sampling failed {len(sampler_errors)} times, first: {sampler_errors[0]}")
    return {"cpus": os.cpu_count(), "seconds": args.seconds, "concurrency": args.concurrency,
            "async_every": args.async_every, "requests": len(log.latency),
            "async_requests": log.asynchronous, "failures": log.failures, "load": load,
            "resources": resources, "after_load": tail,
            "requests_per_second": per_second(log, args.seconds),
            "samples": [vars(s) for s in samples]}


def drain(server: Server, timeout: float) -> dict[str, Any]:
    """Waits for the async backlog to drain; what the server holds afterwards."""
    base = f"http://{server.host}:{server.port}"
    began = time.perf_counter()
    with httpx.Client(base_url=base, timeout=10) as api:
        pending = async_pending(api)
        while pending and time.perf_counter() - began < timeout:
            time.sleep(0.2)
            pending = async_pending(api)
        drained = time.perf_counter() - began
        failed = count_records(api, ("Failed", "Expired", "Stopped"))
        sample = take_sample(server, api, began)
    return {"pending": pending, "drain_s": drained, "failed": failed, "fds": sample.fds,
            "rss_mib": sample.rss_mib, "instances": sample.instances}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured run length")
    parser.add_argument("--warmup", type=float, default=3.0, help="unrecorded load first")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--async-every", type=int, default=20, metavar="N",
                        help="every N-th request is an async invoke (0: none)")
    parser.add_argument("--payload-bytes", type=int, default=64)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra argument for 'fcompute serve' (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the figures and samples here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="fcompute-soak-"))
    server: Server | None = None
    try:
        server = start_platform(tmp / "data", tmp / "platform.log", args.server_arg)
        with httpx.Client(base_url=f"http://{server.host}:{server.port}", timeout=60) as api:
            api.post(f"{API}/services", json={"serviceName": SERVICE}).raise_for_status()
            api.post(f"{API}/services/{SERVICE}/functions", json={
                "functionName": FUNCTION, "runtime": "python3", "handler": "index.handler",
                "memorySize": 128, "timeout": 30, "code": {"zipFile": code_zip(ECHO_CODE)},
            }).raise_for_status()
        print(f"warm-up {args.warmup:g} s, then {args.seconds:g} s measured", file=sys.stderr,
              flush=True)
        run_load(server, args, args.warmup, time.perf_counter(), None)
        began = time.perf_counter()
        sampler = Sampler(server, args.interval, began)
        sampler.start()
        log = Log()
        try:
            run_load(server, args, args.seconds, began, log)
        finally:
            sampler.stop()
        tail = drain(server, timeout=60.0)
        figures = report(log, sampler.samples, args, sampler.errors, tail)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 1 if log.failures or tail["pending"] or tail["failed"] else 0
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
