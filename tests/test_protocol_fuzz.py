"""A function that writes random and adversarial frames to its own socket.

The handler finds the runtime agent's socket (user code shares the process with it) and
writes what the test asks for before the agent sends its own reply: forged replies for its
own request and for others, frames of the wrong kind, meta that is not a JSON object,
oversized and truncated frames, garbage. Whatever it writes, only its own instance breaks:

- its caller gets its own answer, the forged answer for its own request, or a stable
  ``Runtime.*`` error, never a 500 and never another call's data;
- the next request is served right, by a fresh instance unless nothing was forged;
- the platform keeps no descriptors of the instances it stopped.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import fc2
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcompute.runtime.protocol import MAX_RESPONSE_BYTES, Kind
from tests.conftest import API, deploy, unique
from tests.platform_process import PlatformProcess

ATTACKER = """
import base64, gc, json, os, struct, uuid

INSTANCE = uuid.uuid4().hex
HEADER = struct.Struct("!IBI")


def agent_socket():
    return next(o for o in gc.get_objects() if type(o).__name__ == "Agent").sock


def frame(spec, own):
    ids = {"own": own, "other": "another-request", "none": None}
    if spec["meta"] == "object":
        meta = {"errorType": "Forged", "errorMessage": "forged", "status": 201,
                "headers": [["x-forged", "1"]]}
        if ids[spec["id"]] is not None:
            meta["requestId"] = ids[spec["id"]]
        meta_bytes = json.dumps(meta).encode()
    else:
        meta_bytes = {"list": b'["a", 1]', "string": b'"text"', "number": b"12",
                      "broken": b'{"requestId": ', "not-utf8": b'{"a": "\\xff"}'}[spec["meta"]]
    payload = b"forged:" + b"F" * spec["payload"]
    body_len = len(meta_bytes) + len(payload)
    if spec["declared"] == "huge":
        body_len = 100 * 1024 * 1024
    meta_len = len(meta_bytes) if spec["declared"] != "meta-past-body" else body_len + 1
    data = HEADER.pack(body_len, spec["kind"], meta_len) + meta_bytes + payload
    if spec["truncate"]:
        data = data[:max(1, len(data) - spec["truncate"])]
    return data


def attack(event, own):
    plan = json.loads(event)
    sock = agent_socket()
    for spec in plan["frames"]:
        sock.sendall(frame(spec, own))
    if plan["garbage"]:
        sock.sendall(base64.b64decode(plan["garbage"]))
    if plan["then"] == "exit":
        os._exit(3)
    if plan["then"] == "raise":
        raise RuntimeError("the handler failed on its own")


def handler(event, context):
    if event == b"ping":
        return json.dumps({"pong": context.request_id, "instance": INSTANCE})
    attack(event, context.request_id)
    return b"own answer"


def web(environ, start_response):
    request_id = environ["fc.context"].request_id
    if environ["PATH_INFO"] == "/ping":
        start_response("200 OK", [("content-type", "application/json")])
        return [json.dumps({"pong": request_id, "instance": INSTANCE}).encode()]
    attack(environ["wsgi.input"].read(), request_id)
    start_response("200 OK", [])
    return [b"own answer"]
"""

RUNTIME_FAILURES = {"Runtime.ProtocolError", "Runtime.ResponseTooLarge", "Runtime.ExitError",
                    "Runtime.Timeout"}
KINDS = [kind.value for kind in Kind] + [0, 99, 255]


@dataclass(frozen=True)
class FrameSpec:
    kind: int
    id: str  # "own", "other" or "none": the request the frame claims to answer
    meta: str  # "object", or a kind of meta that is not a JSON object
    payload: int  # bytes after the "forged:" prefix
    declared: str  # "exact", "huge" or "meta-past-body": what the header claims
    truncate: int  # bytes cut from the end

    @property
    def well_formed(self) -> bool:
        return self.meta == "object" and self.declared == "exact" and not self.truncate

    def answers(self, kinds: set[Kind]) -> bool:
        """A reply the platform accepts as the first answer to its caller's request."""
        return (self.well_formed and self.id == "own" and self.kind in kinds
                and self.payload + 7 <= MAX_RESPONSE_BYTES)


@dataclass(frozen=True)
class Plan:
    frames: list[FrameSpec]
    garbage: str  # base64 of raw bytes written after the frames
    then: str  # "return", "raise" or "exit"

    @property
    def forges(self) -> bool:
        return bool(self.frames or self.garbage)

    def event(self) -> bytes:
        return json.dumps({"frames": [asdict(f) for f in self.frames], "garbage": self.garbage,
                           "then": self.then}).encode()


frame_specs = st.builds(
    FrameSpec,
    kind=st.sampled_from(KINDS),
    id=st.sampled_from(["own", "other", "none"]),
    meta=st.sampled_from(["object", "object", "object", "list", "string", "number", "broken",
                          "not-utf8"]),
    payload=st.sampled_from([0, 10, 70_000, MAX_RESPONSE_BYTES + 1024 * 1024]),
    declared=st.sampled_from(["exact", "exact", "exact", "huge", "meta-past-body"]),
    truncate=st.sampled_from([0, 0, 0, 1, 5, 40]),
)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    frames = draw(st.lists(frame_specs, max_size=3))
    garbage = draw(st.one_of(st.just(b""), st.binary(min_size=1, max_size=64)))
    then = draw(st.sampled_from(["return", "raise", "exit"]))
    if any(f.truncate for f in frames) or garbage:
        # A frame cut short swallows the agent's own reply and waits for bytes that never
        # come: the instance would only end at the function's timeout. Ending it at once
        # keeps the test fast; the timeout path is tested elsewhere.
        then = "exit"
    return Plan(frames, base64.b64encode(garbage).decode(), then)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PlatformProcess, str]]:
    platform = PlatformProcess(tmp_path_factory.mktemp("protocol") / "data",
                               "--max-instances", "1").start()
    try:
        client = fc2.Client(endpoint=platform.endpoint, accessKeyID="k", accessKeySecret="s")
        service = unique("frames")
        deploy(client, service, "attacker", {"index.py": ATTACKER}, timeout=5)
        deploy(client, service, "web", {"index.py": ATTACKER}, handler="index.web", timeout=5)
        client.create_trigger(service, "web", "http", "http",
                              {"authType": "anonymous", "methods": ["GET", "POST"]}, "", "")
        yield platform, service
    finally:
        platform.stop()


def descriptors(platform: PlatformProcess) -> int:
    assert platform.proc is not None
    return len(os.listdir(f"/proc/{platform.proc.pid}/fd"))


def ping(http: httpx.Client, url: str, via_proxy: bool) -> str:
    """Asks for a clean answer and checks it is this request's own; returns the instance."""
    response = http.get(f"{url}/ping") if via_proxy else http.post(url, content=b"ping")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["pong"] == response.headers["x-fc-request-id"], "a reply of another request"
    instance: str = answer["instance"]
    return instance


def check_invoke_answer(plan: Plan, response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    first = plan.frames[0] if plan.frames else None
    if first is not None and first.answers({Kind.RESULT}):
        assert response.content == b"forged:" + b"F" * first.payload
    elif first is not None and first.answers({Kind.ERROR}):
        assert response.json()["errorType"] == "Forged"
    elif plan.forges:
        assert response.headers.get("x-fc-error-type") == "UnhandledInvocationError"
        assert response.json()["errorType"] in RUNTIME_FAILURES, response.text
    elif plan.then == "return":
        assert response.content == b"own answer"
    elif plan.then == "raise":
        assert response.json()["errorType"] == "RuntimeError"
    else:
        assert response.json()["errorType"] == "Runtime.ExitError"


def check_http_answer(plan: Plan, response: httpx.Response | None) -> None:
    first = plan.frames[0] if plan.frames else None
    head_forged = first is not None and first.answers({Kind.HTTP_START})
    if response is None:
        # Only a response whose forged head already went out can end in a cut connection.
        assert head_forged
        return
    assert response.status_code != 500, response.text
    if head_forged:
        assert response.status_code == 201
    elif first is not None and first.answers({Kind.ERROR}):
        assert response.status_code == 502
        assert response.json()["errorType"] == "Forged"
    elif plan.forges:
        assert response.status_code in (502, 504), response.text
        assert response.json()["errorType"] in RUNTIME_FAILURES, response.text
    elif plan.then == "return":
        assert response.content == b"own answer"
    else:
        assert response.status_code == 502


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plan=plans(), via_proxy=st.booleans())
def test_forged_frames_break_only_their_own_instance(
    target: tuple[PlatformProcess, str], plan: Plan, via_proxy: bool,
) -> None:
    platform, service = target
    if via_proxy:
        url = f"{platform.endpoint}{API}/proxy/{service}/web"
    else:
        url = f"{platform.endpoint}{API}/services/{service}/functions/attacker/invocations"
    with httpx.Client(timeout=30) as http:
        before = ping(http, url, via_proxy)
        if via_proxy:
            try:
                response: httpx.Response | None = http.post(f"{url}/attack",
                                                            content=plan.event())
            except httpx.RemoteProtocolError:
                response = None
            check_http_answer(plan, response)
        else:
            check_invoke_answer(plan, http.post(url, content=plan.event()))
        after = ping(http, url, via_proxy)
    clean = not plan.forges and plan.then != "exit"
    assert (after == before) == clean, (before, after)


def test_stopped_instances_leave_no_descriptors(target: tuple[PlatformProcess, str]) -> None:
    platform, service = target
    url = f"{platform.endpoint}{API}/services/{service}/functions/attacker/invocations"
    forged = Plan([FrameSpec(Kind.RESULT.value, "other", "object", 10, "exact", 0)], "", "return")
    with httpx.Client(timeout=30) as http:
        ping(http, url, False)
        baseline = descriptors(platform)
        for _ in range(30):
            response = http.post(url, content=forged.event())
            assert response.json()["errorType"] == "Runtime.ProtocolError", response.text
            ping(http, url, False)
        assert descriptors(platform) <= baseline + 3


def test_the_protocol_error_names_what_broke(target: tuple[PlatformProcess, str]) -> None:
    platform, service = target
    url = f"{platform.endpoint}{API}/services/{service}/functions/attacker/invocations"
    other = Plan([FrameSpec(Kind.RESULT.value, "other", "object", 0, "exact", 0)], "", "return")
    listed = Plan([FrameSpec(Kind.RESULT.value, "own", "list", 0, "exact", 0)], "", "return")
    big = Plan([FrameSpec(Kind.RESULT.value, "own", "object", MAX_RESPONSE_BYTES, "exact", 0)],
               "", "return")
    with httpx.Client(timeout=30) as http:
        error = http.post(url, content=other.event()).json()
        assert error["errorType"] == "Runtime.ProtocolError"
        assert "another-request" in error["errorMessage"]
        error = http.post(url, content=listed.event()).json()
        assert error["errorType"] == "Runtime.ProtocolError"
        assert "meta is a list" in error["errorMessage"]
        error = http.post(url, content=big.event()).json()
        assert error["errorType"] == "Runtime.ResponseTooLarge"

