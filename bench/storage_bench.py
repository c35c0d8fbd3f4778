"""Benchmark of the embedded object store (the S3 front door on ``--storage-port``).

    .venv/bin/python bench/storage_bench.py [--size 256] [--repeat 3] [--json out.json]

It starts ``fcompute serve`` on free loopback ports (the FC API and the store) with a
temporary data directory, and prints, as medians over ``--repeat`` repetitions:

- PUT and GET throughput of one ``--size`` MiB object (256 by default) through the store,
  next to a plain copy of the same file on the same disk (``shutil.copyfile``, then
  ``fsync``: a PUT's 200 too means the object is on disk). The store is measured with a
  raw HTTP client (``_s3raw``: unsigned, ``UNSIGNED-PAYLOAD``, the upload sent with
  ``sendfile``, the download received and dropped), so that the figure is the store's and
  not the client's; boto3's ``upload_file`` / ``download_file`` are measured beside it;
- the platform's peak RSS during those transfers, as growth over its idle RSS;
- small-object (4 KB) PUTs per second at concurrency 16, bounded in count and time;
- the delay from a PUT's 200 to the start of the function its oss trigger runs, p50/p99.

Then whether the targets are met: PUT and GET at least half the plain copy's throughput,
RSS growth under 64 MB, trigger delay p50 under 10 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from _rss import RssPeak, idle_rss
from _s3raw import Connection, put_many, small_put_requests
from _servers import Server, start_platform
from _storage_trigger import deploy as deploy_trigger
from _storage_trigger import trigger_delays

MB = 1_000_000  # throughput in MB/s (decimal, as disks and networks are quoted)
MIB = 1 << 20
DEFAULT_STORAGE_PORT = 9001  # what an older serve listens on when not told
LARGE, SMALL, TRIGGERED = "bench-large", "bench-small", "bench-trigger"

# The targets of the object-store issue.
TARGET_THROUGHPUT_RATIO = 0.5
TARGET_RSS_GROWTH = 64 * MIB
TARGET_TRIGGER_P50_MS = 10.0


@dataclass
class Figures:
    copy_fsync: list[float] = field(default_factory=list)  # MB/s
    copy_plain: list[float] = field(default_factory=list)
    put: list[float] = field(default_factory=list)
    get: list[float] = field(default_factory=list)
    boto3_put: list[float] = field(default_factory=list)
    boto3_get: list[float] = field(default_factory=list)
    idle_rss: int = 0
    put_cpu: list[float] = field(default_factory=list)  # platform CPU seconds, all threads
    get_cpu: list[float] = field(default_factory=list)
    put_rss: list[int] = field(default_factory=list)  # peak bytes
    get_rss: list[int] = field(default_factory=list)
    boto3_rss: list[int] = field(default_factory=list)
    after_rss: int = 0
    small_puts: list[float] = field(default_factory=list)  # per second
    small_counts: list[int] = field(default_factory=list)
    small_cpu_us: list[float] = field(default_factory=list)  # platform CPU per PUT
    trigger_ms: list[float] = field(default_factory=list)
    trigger_attempt_ms: list[float] = field(default_factory=list)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# the bytes ----------------------------------------------------------------------------


def write_source(path: Path, size: int) -> None:
    """``size`` bytes of random data, on disk and in the page cache (as every reader
    of it then finds it)."""
    block = os.urandom(MIB)
    with open(path, "wb") as file:
        left = size
        while left > 0:
            file.write(block[:min(left, MIB)])
            left -= MIB
        file.flush()
        os.fsync(file.fileno())


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def plain_copies(source: Path, directory: Path, size: int, figures: Figures) -> None:
    """The baseline: a copy of the file on the same disk with its fsync, and without."""
    target = directory / "copy.bin"

    def copy_and_sync() -> None:
        shutil.copyfile(source, target)
        fsync_path(target)

    figures.copy_fsync.append(size / timed(copy_and_sync) / MB)
    target.unlink()
    figures.copy_plain.append(size / timed(lambda: shutil.copyfile(source, target)) / MB)
    fsync_path(target)  # not timed: leaves no dirty pages behind for the next figure
    target.unlink()


# through the store ------------------------------------------------------------------


def raw_transfers(server: Server, store: Connection, source: Path, size: int,
                  figures: Figures) -> None:
    with RssPeak(server.proc.pid) as sampled:
        cpu_before = server.cpu_seconds()[0]
        began = time.perf_counter()
        reply = store.put_file(f"/{LARGE}/big.bin", source)
        seconds = time.perf_counter() - began
        figures.put_cpu.append(server.cpu_seconds()[0] - cpu_before)
    if reply.status != 200:
        raise RuntimeError(f"PUT answered {reply.status}: {reply.body[:300]!r}")
    figures.put.append(size / seconds / MB)
    figures.put_rss.append(sampled.peak)
    with RssPeak(server.proc.pid) as sampled:
        cpu_before = server.cpu_seconds()[0]
        began = time.perf_counter()
        status, received = store.get_discard(f"/{LARGE}/big.bin")
        seconds = time.perf_counter() - began
        figures.get_cpu.append(server.cpu_seconds()[0] - cpu_before)
    if status != 200 or received != size:
        raise RuntimeError(f"GET answered {status} with {received} of {size} bytes")
    figures.get.append(size / seconds / MB)
    figures.get_rss.append(sampled.peak)


def boto3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    # Any key: a platform without access keys checks no signature on loopback.
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                        aws_secret_access_key="bench", region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


def boto3_transfers(server: Server, s3: Any, source: Path, directory: Path, size: int,
                    figures: Figures) -> None:
    """boto3's managed transfers with their defaults: multipart in 8 MB parts on 10
    threads, a CRC32 per part; the download written to a file on the same disk."""
    target = directory / "download.bin"
    with RssPeak(server.proc.pid) as sampled:
        figures.boto3_put.append(
            size / timed(lambda: s3.upload_file(str(source), LARGE, "boto3.bin")) / MB)
        figures.boto3_get.append(
            size / timed(lambda: s3.download_file(LARGE, "boto3.bin", str(target))) / MB)
    figures.boto3_rss.append(sampled.peak)
    fsync_path(target)  # not timed, as for the plain copy without fsync
    target.unlink()


def small_puts(server: Server, storage_port: int, args: argparse.Namespace,
               round_number: int, figures: Figures) -> None:
    requests = small_put_requests(server.host, storage_port, SMALL, f"r{round_number}/",
                                  args.small_count, args.small_size)
    cpu_before = server.cpu_seconds()[0]
    result = put_many(server.host, storage_port, requests, args.concurrency,
                      args.small_seconds)
    cpu = server.cpu_seconds()[0] - cpu_before
    if result.errors:
        raise RuntimeError(f"{result.errors} small PUTs were not answered 200")
    figures.small_puts.append(result.per_second)
    figures.small_counts.append(result.completed)
    figures.small_cpu_us.append(cpu / max(1, result.completed) * 1e6)


# report -----------------------------------------------------------------------------


def mib(value: float) -> str:
    return f"{value / MIB:.1f} MiB"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(figures: Figures, args: argparse.Namespace, loads: list[float]) -> dict[str, Any]:
    copy_fsync, copy_plain = median(figures.copy_fsync), median(figures.copy_plain)
    put, get = median(figures.put), median(figures.get)
    peak = max(figures.put_rss + figures.get_rss)
    growth = peak - figures.idle_rss
    p50 = percentile(figures.trigger_ms, 0.50)
    p99 = percentile(figures.trigger_ms, 0.99)
    print()
    print(f"fcompute object store benchmark: {os.cpu_count()} vCPUs, {args.size} MiB object, "
          f"{args.repeat} repetitions (medians), load average {loads[0]:.2f} before, "
          f"{loads[1]:.2f} after")
    print(f"  plain copy on the same disk, with fsync:   {copy_fsync:7.0f} MB/s   "
          f"(without fsync {copy_plain:.0f} MB/s)")
    print(f"  PUT through the store (raw client):        {put:7.0f} MB/s   "
          f"x{put / copy_fsync:.2f} of the copy with fsync; platform CPU "
          f"{median(figures.put_cpu):.2f} s")
    print(f"  GET through the store (raw client):        {get:7.0f} MB/s   "
          f"x{get / copy_fsync:.2f} of the copy with fsync, x{get / copy_plain:.2f} without; "
          f"platform CPU {median(figures.get_cpu):.2f} s")
    if figures.boto3_put:
        print(f"  boto3 upload_file / download_file:         {median(figures.boto3_put):7.0f}"
              f" / {median(figures.boto3_get):.0f} MB/s   (peak RSS "
              f"+{mib(max(figures.boto3_rss) - figures.idle_rss)})")
    print(f"  platform RSS: idle {mib(figures.idle_rss)}, peak during the PUT "
          f"{mib(max(figures.put_rss))}, during the GET {mib(max(figures.get_rss))}: "
          f"growth {mib(growth)}; idle after them {mib(figures.after_rss)}")
    print(f"  small PUTs ({args.small_size} B, c={args.concurrency}, at most "
          f"{args.small_count} or {args.small_seconds:g} s per repetition): "
          f"{median(figures.small_puts):.0f}/s (counts {figures.small_counts}), platform CPU "
          f"{median(figures.small_cpu_us):.0f} us per PUT")
    print(f"  trigger delay, PUT 200 -> handler start, {len(figures.trigger_ms)} probes: "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"    (cross-check: the record's attempt startedTime, when the dispatcher claimed "
          f"the event, in whole ms truncated: p50 "
          f"{percentile(figures.trigger_attempt_ms, 0.5):.1f} ms)")
    print()
    print(f"  target PUT >= {TARGET_THROUGHPUT_RATIO:g} x plain copy: "
          f"{verdict(put >= TARGET_THROUGHPUT_RATIO * copy_fsync)} "
          f"({put:.0f} against {TARGET_THROUGHPUT_RATIO * copy_fsync:.0f} MB/s)")
    print(f"  target GET >= {TARGET_THROUGHPUT_RATIO:g} x plain copy: "
          f"{verdict(get >= TARGET_THROUGHPUT_RATIO * copy_fsync)} "
          f"({get:.0f} against {TARGET_THROUGHPUT_RATIO * copy_fsync:.0f} MB/s)")
    print(f"  target RSS growth < {mib(TARGET_RSS_GROWTH)}: "
          f"{verdict(growth < TARGET_RSS_GROWTH)} ({mib(growth)})")
    print(f"  target trigger delay p50 < {TARGET_TRIGGER_P50_MS:g} ms: "
          f"{verdict(p50 < TARGET_TRIGGER_P50_MS)} ({p50:.2f} ms)")
    return {
        "cpus": os.cpu_count(), "size_mb": args.size, "repeat": args.repeat,
        "load_average": loads, "copy_fsync_mb_s": figures.copy_fsync,
        "copy_plain_mb_s": figures.copy_plain, "put_mb_s": figures.put,
        "get_mb_s": figures.get, "put_cpu_s": figures.put_cpu, "get_cpu_s": figures.get_cpu,
        "boto3_put_mb_s": figures.boto3_put,
        "boto3_get_mb_s": figures.boto3_get, "idle_rss": figures.idle_rss,
        "put_rss": figures.put_rss, "get_rss": figures.get_rss,
        "boto3_rss": figures.boto3_rss, "after_rss": figures.after_rss,
        "small_puts_per_s": figures.small_puts, "small_counts": figures.small_counts,
        "small_cpu_us_per_put": figures.small_cpu_us,
        "trigger_delay_ms": figures.trigger_ms,
        "trigger_attempt_delay_ms": figures.trigger_attempt_ms,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=256,
                        help="MiB of the large object (default 256)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each figure")
    parser.add_argument("--no-boto3", dest="boto3", action="store_false",
                        help="skip the boto3 transfers")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--small-size", type=int, default=4096, help="bytes per small PUT")
    parser.add_argument("--small-count", type=int, default=3000,
                        help="small PUTs per repetition at most")
    parser.add_argument("--small-seconds", type=float, default=4.0,
                        help="seconds per repetition of small PUTs at most")
    parser.add_argument("--probes", type=int, default=200, help="trigger-delay probes")
    parser.add_argument("--probe-gap", type=float, default=0.02,
                        help="seconds between trigger probes (the platform idles between)")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra argument for 'fcompute serve' (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def run(server: Server, tmp: Path, args: argparse.Namespace) -> Figures:
    storage_port = server.storage_port or DEFAULT_STORAGE_PORT
    endpoint = f"http://{server.host}:{storage_port}"
    figures = Figures()
    size = args.size * MIB
    source = tmp / "source.bin"
    write_source(source, size)
    store = Connection(server.host, storage_port)
    for bucket in (LARGE, SMALL, TRIGGERED):
        created = store.call("PUT", f"/{bucket}")
        if created.status != 200:
            raise RuntimeError(f"creating bucket {bucket} answered {created.status}")
    s3 = boto3_client(endpoint) if args.boto3 else None
    figures.idle_rss = idle_rss(server.proc.pid)
    for repetition in range(args.repeat):
        print(f"repetition {repetition + 1}/{args.repeat}", file=sys.stderr, flush=True)
        # The copy and the store take turns going first, so that both see the same noise.
        if repetition % 2 == 0:
            plain_copies(source, tmp, size, figures)
            raw_transfers(server, store, source, size, figures)
        else:
            raw_transfers(server, store, source, size, figures)
            plain_copies(source, tmp, size, figures)
    figures.after_rss = idle_rss(server.proc.pid)
    # After the raw transfers: what boto3's transfers leave in the platform's memory (its
    # ten parts in flight) would otherwise be counted in theirs.
    for _ in range(args.repeat if s3 is not None else 0):
        boto3_transfers(server, s3, source, tmp, size, figures)
    source.unlink()
    for repetition in range(args.repeat):
        small_puts(server, storage_port, args, repetition, figures)
    api = httpx.Client(base_url=f"http://{server.host}:{server.port}", timeout=60)
    try:
        deploy_trigger(api, "sbench", "stamp", TRIGGERED)
        probes = trigger_delays(api, store, "sbench", "stamp", TRIGGERED, args.probes,
                                args.probe_gap)
    finally:
        api.close()
        store.close()
    figures.trigger_ms = [probe.delay_ms for probe in probes]
    figures.trigger_attempt_ms = [probe.attempt_delay_ms for probe in probes]
    return figures


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="fcompute-storage-bench-"))
    server: Server | None = None
    try:
        load_before = os.getloadavg()[0]
        server = start_platform(tmp / "data", tmp / "platform.log", args.server_arg)
        figures = run(server, tmp, args)
        data = report(figures, args, [load_before, os.getloadavg()[0]])
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
