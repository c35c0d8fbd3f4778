"""The delay from a PUT's 200 to the start of the function its oss trigger runs.

A Python function bound to ``oss:ObjectCreated:*`` on a bucket returns the time its
handler started (``time.time_ns()`` on its first line) with the key it was called for;
the async record keeps that as its ``returnPayload``. The benchmark uploads small objects
one at a time and notes ``time.time_ns()`` as soon as each 200 is in: both clocks are this
machine's wall clock. The handler's own stamp is used rather than the record's attempt
``startedTime``, which has millisecond resolution and is taken when the dispatcher claims
the event, before the instance has it; the attempt's time is kept as a cross-check.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx

from _s3raw import Connection

API = "/2016-08-15"
ACCOUNT = "000000000000"  # the platform's account id unless configured
STAMP = """\
import json
import time


def handler(event, context):
    started = time.time_ns()
    record = json.loads(event)["events"][0]
    return json.dumps({"key": record["oss"]["object"]["key"], "startedNs": started})
"""


def code_zip(source: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.py", source)
    return base64.b64encode(buffer.getvalue()).decode()


def deploy(api: httpx.Client, service: str, function: str, bucket: str) -> None:
    """A service with the stamping function and its oss trigger on ``bucket``."""
    api.post(f"{API}/services", json={"serviceName": service}).raise_for_status()
    api.post(f"{API}/services/{service}/functions", json={
        "functionName": function, "runtime": "python3", "handler": "index.handler",
        "memorySize": 128, "timeout": 30, "code": {"zipFile": code_zip(STAMP)},
    }).raise_for_status()
    api.post(f"{API}/services/{service}/functions/{function}/triggers", json={
        "triggerName": "on-upload", "triggerType": "oss",
        "sourceArn": f"acs:oss:local:{ACCOUNT}:{bucket}",
        "invocationRole": "", "triggerConfig": {"events": ["oss:ObjectCreated:*"]},
    }).raise_for_status()


@dataclass
class Probe:
    key: str
    acked_ns: int  # the client has the PUT's 200
    started_ns: int = 0  # the handler's first line
    attempt_ms: int = 0  # the record's attempt startedTime

    @property
    def delay_ms(self) -> float:
        return (self.started_ns - self.acked_ns) / 1e6

    @property
    def attempt_delay_ms(self) -> float:
        return self.attempt_ms - self.acked_ns / 1e6


def _records(api: httpx.Client, service: str, function: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"limit": "100", "includePayload": "true", "invocationIdPrefix": "oss-"}
        if token:
            params["nextToken"] = token
        page = api.get(f"{API}/services/{service}/functions/{function}"
                       "/stateful-async-invocations", params=params)
        page.raise_for_status()
        data = page.json()
        found += data["invocations"]
        token = data.get("nextToken", "")
        if not token:
            return found


def _finished(api: httpx.Client, service: str, function: str, count: int,
              timeout: float) -> dict[str, dict[str, Any]]:
    """The succeeded records by key once ``count`` invocations have ended."""
    deadline = time.monotonic() + timeout
    while True:
        records = _records(api, service, function)
        ended = [r for r in records if r["status"] not in ("Enqueued", "Running", "Retrying")]
        if len(ended) >= count:
            failed = [r for r in ended if r["status"] != "Succeeded"]
            if failed:
                raise RuntimeError(f"{len(failed)} triggered invocations did not succeed: "
                                   f"{failed[0]['status']} {failed[0].get('error')}")
            return {json.loads(r["returnPayload"])["key"]: r for r in ended}
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(ended)} of {count} triggered invocations ended")
        time.sleep(0.05)


def trigger_delays(api: httpx.Client, store: Connection, service: str, function: str,
                   bucket: str, probes: int, gap_s: float, size: int = 4096) -> list[Probe]:
    """Uploads ``probes`` objects one at a time (``gap_s`` apart, so that each runs on an
    idle platform) after one that starts the function's instance, and pairs each 200
    with its handler's start."""
    body = b"x" * size
    warm = store.call("PUT", f"/{bucket}/warm-up", body)
    if warm.status != 200:
        raise RuntimeError(f"PUT answered {warm.status}: {warm.body[:300]!r}")
    _finished(api, service, function, 1, timeout=60)
    sent: list[Probe] = []
    for index in range(probes):
        key = f"probe/{index:05d}"
        reply = store.call("PUT", f"/{bucket}/{key}", body)
        acked = time.time_ns()
        if reply.status != 200:
            raise RuntimeError(f"PUT answered {reply.status}: {reply.body[:300]!r}")
        sent.append(Probe(key, acked))
        time.sleep(gap_s)
    records = _finished(api, service, function, probes + 1, timeout=60)
    for probe in sent:
        record = records[probe.key]
        probe.started_ns = int(json.loads(record["returnPayload"])["startedNs"])
        probe.attempt_ms = int(record["attempts"][0]["startedTime"])
    return sent
