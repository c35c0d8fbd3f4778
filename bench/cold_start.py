"""Cold starts and warm latency: the Linux sandbox beside the plain-process backend.

Starts ``fcompute serve`` twice (``--sandbox linux`` and ``--sandbox process``) and,
for a hello-world Python handler, measures on each:

- cold start: a request for a function with no warm instance -> its response
  (every sample uses a function of its own, all sharing one code package);
- cold starts per second, sustained, with several clients at once;
- warm invoke latency, the two backends measured interleaved;
- PSS of an idle warm instance (its whole process tree, from /proc/<pid>/smaps_rollup).

Run as root: ``.venv/bin/python bench/cold_start.py [--cold 300] [--warm 2000]``.
Targets on 2 vCPUs: cold p50 <= 10 ms, p99 <= 30 ms; warm within 10 % of plain
processes; idle instance <= 3 MiB PSS. They are printed, not asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.platform_process import PlatformProcess  # noqa: E402

API = "/2016-08-15"
HANDLER = "def handler(event, context):\n    return 'hello world'\n"


class Client:
    """A keep-alive HTTP/1.1 connection: the client's own cost stays out of the figures."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        self.connection.request(method, path, body=body,
                                headers={"content-type": "application/json"})
        response = self.connection.getresponse()
        return response.status, response.read()

    def invoke(self, service: str, function: str) -> float:
        started = time.perf_counter()
        status, body = self.call("POST", f"{API}/services/{service}/functions/{function}"
                                 "/invocations")
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or body != b"hello world":
            raise RuntimeError(f"invocation failed: {status} {body[:200]!r}")
        return elapsed


def deploy(client: Client, prefix: str, count: int, code_zip: str) -> list[tuple[str, str]]:
    """``count`` functions of one code package, spread over services of 50 (FC's limit)."""
    functions = []
    for i in range(count):
        service = f"{prefix}-{i // 50}"
        if i % 50 == 0:
            client.call("POST", f"{API}/services", json.dumps({"serviceName": service}).encode())
        status, body = client.call("POST", f"{API}/services/{service}/functions", json.dumps({
            "functionName": f"f{i}", "runtime": "python3", "handler": "index.handler",
            "memorySize": 128, "code": {"zipFile": code_zip}}).encode())
        if status != 200:
            raise RuntimeError(f"deploy failed: {status} {body[:200]!r}")
        functions.append((service, f"f{i}"))
    return functions


def code_zip() -> str:
    import base64
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", HANDLER)
    return base64.b64encode(buffer.getvalue()).decode()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def pss_kib(pid: int) -> int:
    """PSS of a process and all its descendants."""
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            total += int(line.split()[1])
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return total + sum(pss_kib(int(child)) for child in children)


def instance_pids(platform: PlatformProcess) -> list[int]:
    """The instances' top processes: the zygote's children, or the server's keepers."""
    assert platform.proc is not None
    server = platform.proc.pid
    found = []
    for child in Path(f"/proc/{server}/task/{server}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if cmdline.startswith(b"fc-runtime"):  # the zygote
            found += [int(p) for p in
                      Path(f"/proc/{child}/task/{child}/children").read_text().split()]
        elif b"keeper.py" in cmdline or b"agent.py" in cmdline:  # a plain-process instance
            found.append(int(child))
    return found


class Run:
    def __init__(self, backend: str, data: Path, args: argparse.Namespace) -> None:
        self.backend = backend
        self.platform = PlatformProcess(data / backend, "--sandbox", backend,
                                        "--keep-alive", "600", "--max-instances", "4")
        self.args = args
        self.results: dict[str, float] = {}

    def start(self) -> None:
        self.platform.start()
        self.client = Client(self.platform.port)
        zipped = code_zip()
        self.cold_functions = deploy(self.client, "bench", self.args.cold + 1, zipped)
        self.rate_functions = deploy(self.client, "rate", self.args.rate, zipped)
        # Warm the code store and the platform's own paths once.
        self.client.invoke(*self.cold_functions[0])

    def cold(self) -> None:
        samples = []
        for function in self.cold_functions[1:]:
            samples.append(self.client.invoke(*function))
            # The previous instance stays warm; give the machine a breath between samples
            # so each one measures a start, not a queue.
            time.sleep(0.005)
        self.results["cold_p50"] = statistics.median(samples)
        self.results["cold_p99"] = percentile(samples, 0.99)

    def rate(self) -> None:
        names = list(self.rate_functions)
        lock = threading.Lock()

        def worker() -> None:
            client = Client(self.platform.port)
            while True:
                with lock:
                    if not names:
                        return
                    function = names.pop()
                client.invoke(*function)

        threads = [threading.Thread(target=worker) for _ in range(self.args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.results["cold_per_s"] = len(self.rate_functions) / (time.perf_counter() - started)

    def pss(self) -> None:
        time.sleep(1)  # let the instances settle into idleness
        pids = instance_pids(self.platform)[:50]
        self.results["idle_pss_mib"] = statistics.median(pss_kib(p) for p in pids) / 1024

    def stop(self) -> None:
        self.platform.stop()


def warm(runs: list[Run], count: int) -> None:
    """Interleaved, so both backends see the same machine noise."""
    samples: dict[str, list[float]] = {run.backend: [] for run in runs}
    for run in runs:
        for _ in range(50):
            run.client.invoke(*run.cold_functions[0])
    for _ in range(count):
        for run in runs:
            samples[run.backend].append(run.client.invoke(*run.cold_functions[0]))
    for run in runs:
        run.results["warm_p50"] = statistics.median(samples[run.backend])
        run.results["warm_p99"] = percentile(samples[run.backend], 0.99)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=300, help="cold-start samples")
    parser.add_argument("--rate", type=int, default=300, help="functions in the rate test")
    parser.add_argument("--clients", type=int, default=4, help="parallel clients (rate)")
    parser.add_argument("--warm", type=int, default=2000, help="warm samples per backend")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("the Linux sandbox needs root", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fcompute-bench-") as scratch:
        runs = [Run("linux", Path(scratch), args), Run("process", Path(scratch), args)]
        try:
            for run in runs:
                run.start()
            for run in runs:
                run.cold()
                run.rate()
            warm(runs, args.warm)
            for run in runs:
                run.pss()
        finally:
            for run in runs:
                run.stop()
    linux, plain = runs[0].results, runs[1].results
    rows = [
        ("cold start p50 (ms)", "cold_p50", "<= 10"),
        ("cold start p99 (ms)", "cold_p99", "<= 30"),
        ("cold starts per second", "cold_per_s", ""),
        ("warm invoke p50 (ms)", "warm_p50", "<= 1.10 x process"),
        ("warm invoke p99 (ms)", "warm_p99", ""),
        ("idle instance PSS (MiB)", "idle_pss_mib", "<= 3"),
    ]
    print(f"{'':26} {'linux':>9} {'process':>9} {'ratio':>7}   target (linux)")
    for label, key, target in rows:
        ratio = linux[key] / plain[key] if plain[key] else float("nan")
        print(f"{label:26} {linux[key]:9.2f} {plain[key]:9.2f} {ratio:7.2f}   {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
