"""What exists on the fuzzed platform: an echo function, an HTTP-trigger echo, a target
service whose resources the fuzzer may change or delete, and async invocation records.

Operations that change or delete things are given only the target's names, so the echo
functions stay as deployed; the target is put back after each delete that succeeded.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from hypothesis import strategies as st

from tests.conftest import API
from tests.fuzz.cases import Case, CaseMaker
from tests.fuzz.signing import sign

KEY_ID, SECRET = "fuzz", "fuzz-secret"
ECHO_CODE = {"index.py": (
    "def handler(event, context):\n"
    "    if event == b'fail':\n"
    "        raise RuntimeError('asked to fail')\n"
    "    return event\n"
)}
WEB_CODE = {"index.py": (
    "def handler(environ, start_response):\n"
    "    size = int(environ.get('CONTENT_LENGTH') or 0)\n"
    "    body = environ['wsgi.input'].read(size) if size else b''\n"
    "    start_response('200 OK', [('content-type', 'application/octet-stream'),\n"
    "                              ('x-echo-method', environ['REQUEST_METHOD'])])\n"
    "    return [body]\n"
)}
ECHO_SERVICE, TARGET_SERVICE = "fz-echo", "fz-target"
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]
TARGET_TRIGGERS = {
    "t-http": {"triggerType": "http",
               "triggerConfig": {"authType": "function", "methods": ["GET", "POST"]}},
    "t-timer": {"triggerType": "timer",
                "triggerConfig": {"cronExpression": "@every 5m", "enable": True}},
}


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def zip_b64(files: dict[str, str]) -> str:
    return base64.b64encode(zip_of(files)).decode()


class SignedClient:
    """Signed requests for setting the world up (the fuzzer signs its own)."""

    def __init__(self, endpoint: str) -> None:
        self.http = httpx.Client(base_url=endpoint, timeout=60)

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        content = b"" if body is None else (
            body if isinstance(body, bytes) else json.dumps(body).encode())
        pairs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        pairs.append((b"content-type", b"application/json"))
        case = Case(method, f"{API}{path}", "", pairs, content, "signed")
        return self.http.request(method, case.path, content=content,
                                 headers=sign(case, KEY_ID, SECRET))

    def ok(self, method: str, path: str, body: Any = None,
           headers: dict[str, str] | None = None) -> httpx.Response:
        response = self.call(method, path, body, headers)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response


@dataclass
class World:
    client: SignedClient
    known: dict[str, list[str]] = field(default_factory=dict)
    mutable: dict[str, list[str]] = field(default_factory=dict)

    def build(self) -> World:
        call = self.client.ok
        call("POST", "/services", {"serviceName": ECHO_SERVICE})
        call("POST", f"/services/{ECHO_SERVICE}/functions", {
            "functionName": "echo", "runtime": "python3", "handler": "index.handler",
            "code": {"zipFile": zip_b64(ECHO_CODE)}})
        call("POST", f"/services/{ECHO_SERVICE}/functions", {
            "functionName": "web", "runtime": "python3", "handler": "index.handler",
            "code": {"zipFile": zip_b64(WEB_CODE)}})
        call("POST", f"/services/{ECHO_SERVICE}/functions/web/triggers", {
            "triggerName": "web-http", "triggerType": "http",
            "triggerConfig": {"authType": "anonymous", "methods": ALL_METHODS}})
        echo = f"/services/{ECHO_SERVICE}/functions/echo"
        call("PUT", f"{echo}/async-invoke-config", {"maxAsyncRetryAttempts": 0})
        for invocation_id, event in (("fz-ok", b"ok"), ("fz-fail", b"fail")):
            call("POST", f"{echo}/invocations", event, {
                "x-fc-invocation-type": "Async",
                "x-fc-stateful-async-invocation-id": invocation_id})
        # Version 1 and alias prod of the echo service: qualified names reach real snapshots.
        call("POST", f"/services/{ECHO_SERVICE}/versions", {"description": "v1"})
        call("POST", f"/services/{ECHO_SERVICE}/aliases", {"aliasName": "prod",
                                                          "versionId": "1"})
        self.repair()
        link = urlsplit(call("GET", f"{echo}/code").json()["url"])
        query = parse_qs(link.query)
        etags = [call("GET", path).headers["etag"] for path in (
            f"/services/{TARGET_SERVICE}", f"/services/{TARGET_SERVICE}/functions/target",
            f"/services/{TARGET_SERVICE}/functions/target/triggers/t-http")]
        self.wait_ended(f"{echo}/stateful-async-invocations", ("fz-ok", "fz-fail"))
        services = [ECHO_SERVICE, TARGET_SERVICE, f"{ECHO_SERVICE}.LATEST",
                    f"{ECHO_SERVICE}.1", f"{ECHO_SERVICE}.prod"]
        self.known = {
            "service": services, "function": ["echo", "web", "target"],
            "trigger": [*TARGET_TRIGGERS, "web-http"], "invocation_id": ["fz-ok", "fz-fail"],
            "X-Fc-Stateful-Async-Invocation-Id": ["fz-ok"],
            "package": [link.path.rsplit("/", 1)[1]],
            "Expires": query["Expires"], "Signature": query["Signature"], "If-Match": etags,
            "version": ["1"], "alias": ["live", "prod"],
        }
        self.mutable = {"service": [TARGET_SERVICE], "function": ["target"],
                        "trigger": list(TARGET_TRIGGERS), "If-Match": etags,
                        "version": ["1"], "alias": ["live"]}
        return self

    def wait_ended(self, base: str, ids: tuple[str, ...]) -> None:
        deadline = time.monotonic() + 30
        for invocation_id in ids:
            while time.monotonic() < deadline:
                record = self.client.ok("GET", f"{base}/{invocation_id}").json()
                if record["status"] in ("Succeeded", "Failed"):
                    break
                time.sleep(0.05)
            else:
                raise AssertionError(f"{invocation_id} did not end: {record}")

    def repair(self) -> None:
        """Creates what is missing of the target service, its function and triggers."""
        service = f"/services/{TARGET_SERVICE}"
        if self.client.call("GET", service).status_code == 404:
            self.client.ok("POST", "/services", {"serviceName": TARGET_SERVICE})
        function = f"{service}/functions/target"
        if self.client.call("GET", function).status_code == 404:
            self.client.ok("POST", f"{service}/functions", {
                "functionName": "target", "runtime": "python3", "handler": "index.handler",
                "code": {"zipFile": zip_b64(ECHO_CODE)}})
        for name, spec in TARGET_TRIGGERS.items():
            if self.client.call("GET", f"{function}/triggers/{name}").status_code == 404:
                self.client.ok("POST", f"{function}/triggers", {"triggerName": name, **spec})
        # Alias live points at the target's newest version (published when there is none).
        if self.client.call("GET", f"{service}/aliases/live").status_code == 404:
            versions = self.client.ok("GET", f"{service}/versions").json()["versions"]
            if not versions:
                versions = [self.client.ok("POST", f"{service}/versions", {}).json()]
            self.client.ok("POST", f"{service}/aliases", {
                "aliasName": "live", "versionId": versions[0]["versionId"]})

    def base_values(self, path: str, parameters: tuple[dict[str, Any], ...]) -> dict[str, str]:
        """Parameters of a request that reaches real resources: the target's, or the echo
        functions' for invocations, records and HTTP triggers."""
        values = {"service": TARGET_SERVICE, "function": "target", "trigger": "t-http",
                  "path": "x/y", "version": "1", "alias": "live"}
        if "invocation" in path:
            values.update(service=ECHO_SERVICE, function="echo", invocation_id="fz-fail")
        elif "/proxy/" in path:
            values.update(service=ECHO_SERVICE, function="web")
        for param in parameters:
            if param.get("required") and param["in"] == "query":
                values[param["name"]] = self.known[param["name"]][0]
            elif param["name"] == "package":
                values["package"] = self.known["package"][0]
        return {p["name"]: values[p["name"]] for p in parameters if p["name"] in values}

    def case_maker(self, document: dict[str, Any]) -> CaseMaker:
        zips = st.sampled_from((zip_b64(ECHO_CODE), zip_b64({"other.py": "x = 1\n"}),
                                base64.b64encode(b"PK\x05\x06" + b"\x00" * 18).decode(),
                                "bm90IGEgemlw", "not base64!", "===="))
        return CaseMaker(document, self.known, self.mutable, {"Code.zipFile": zips})
