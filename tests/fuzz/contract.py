"""What every answer must be, checked per request, and the distinct failures found.

An answer is never a 5xx (an HTTP trigger's 502/504 for a function that failed is the
function's answer, marked ``x-fc-error-type``), always carries ``x-fc-request-id``, has a
status the document lists for the operation, and, when it is an error, the body
``{"ErrorCode", "ErrorMessage"}``. Nothing the request did may leave a traceback in the
server's log. Failures are collected rather than raised at the first one, so that one run
lists every distinct bug (by status and the server's traceback), each with the shortest
request that showed it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st

from tests.fuzz.cases import Case, Operation
from tests.fuzz.signing import sign
from tests.fuzz.world import KEY_ID, SECRET
from tests.platform_process import PlatformProcess

T = TypeVar("T")
_FRAME = re.compile(r'^  File "(?P<file>[^"]*fcompute/[^"]*)", line (?P<line>\d+), in (?P<fn>\S+)')


def tracebacks(log: str) -> list[str]:
    """'<deepest platform frame>: <exception line>' of each traceback in ``log``."""
    found = []
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        frame, end = "", index + 1
        while end < len(lines) and (lines[end].startswith(" ") or not lines[end]):
            match = _FRAME.match(lines[end])
            if match:
                short = match["file"].split("fcompute/", 1)[1]
                frame = f"{short}:{match['line']} in {match['fn']}"
            end += 1
        exception = lines[end] if end < len(lines) else "?"
        found.append(f"{frame or '(outside fcompute)'}: {exception[:200]}")
    return found


@dataclass
class Finding:
    problem: str
    request: str
    detail: str


@dataclass
class Findings:
    """The distinct failures of one batch, each with its shortest request."""

    by_problem: dict[str, Finding] = field(default_factory=dict)

    def add(self, problem: str, case: Case, detail: str) -> None:
        request = case.describe()
        known = self.by_problem.get(problem)
        if known is None or len(request) < len(known.request):
            self.by_problem[problem] = Finding(problem, request, detail)

    def report(self) -> str:
        return "\n\n".join(f"{f.problem}\n  request: {f.request}\n  {f.detail}"
                           for f in self.by_problem.values())

    def assert_none(self) -> None:
        if self.by_problem:
            pytest.fail(f"{len(self.by_problem)} distinct failures:\n\n{self.report()}",
                        pytrace=False)


@dataclass(frozen=True)
class Answer:
    """What came back: lower-case header names; status None when nothing did."""

    status: int | None
    headers: dict[str, str]
    content: bytes
    failure: str = ""  # why nothing came back

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        return cls(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                   response.content)

    @property
    def text(self) -> str:
        return self.content[:200].decode("utf-8", "replace")


def fc_error_problem(answer: Answer) -> str:
    """What keeps an error answer from being an FC error ('' when nothing does)."""
    problems = []
    if "x-fc-request-id" not in answer.headers:
        problems.append("no x-fc-request-id")
    if not answer.headers.get("content-type", "").startswith("application/json"):
        problems.append(f"content-type {answer.headers.get('content-type')!r}")
    try:
        body = json.loads(answer.content)
    except ValueError:
        body = None
    if not (isinstance(body, dict) and isinstance(body.get("ErrorCode"), str)
            and body["ErrorCode"] and isinstance(body.get("ErrorMessage"), str)):
        problems.append("no JSON ErrorCode and ErrorMessage")
    return ", ".join(problems)


def judge(findings: Findings, case: Case, answer: Answer, traces: list[str], *,
          statuses: frozenset[str] | None = None, function_errors: bool = False,
          fc_format: bool = True, answer_needed: bool = True) -> None:
    """Records what breaks the contract in one answer and the log lines it left.

    ``statuses``: those the document lists (None: not checked). ``function_errors``: a
    502/504 marked x-fc-error-type is the function's (HTTP triggers). ``fc_format``:
    errors must be FC errors (False for requests that are not HTTP, which the HTTP
    server refuses in its own words).
    """
    status = answer.status
    if status is None:
        if answer_needed:
            findings.add(f"no answer ({answer.failure.split(':')[0]})", case, answer.failure)
    elif status >= 500 and not (function_errors and status in (502, 504)
                                and "x-fc-error-type" in answer.headers):
        # One problem per traceback: the request id makes every 500's body unique.
        cause = traces[0] if traces else answer.text[:120]
        findings.add(f"{status} from {cause}", case, answer.text)
        traces = traces[1:]
    for trace in traces:
        findings.add(f"traceback in the server log: {trace}", case, f"status {status}")
    if status is None or status >= 500:
        return
    if statuses is not None and str(status) not in statuses and "default" not in statuses:
        findings.add(f"status {status} not documented", case, answer.text)
    if not fc_format:
        return
    if status < 400 or case.method == "HEAD":  # a HEAD answer has no body
        if "x-fc-request-id" not in answer.headers:
            findings.add(f"{status} without x-fc-request-id", case, answer.text)
        return
    problem = fc_error_problem(answer)
    if problem:
        findings.add(f"{status} is not an FC error: {problem}", case, answer.text)


class Checker:
    """Sends cases to one platform and records what breaks the contract."""

    def __init__(self, platform: PlatformProcess) -> None:
        self.platform = platform
        self.http = httpx.Client(base_url=platform.endpoint, timeout=60)
        self._log_offset = platform.log_path.stat().st_size

    def new_log(self) -> str:
        with open(self.platform.log_path, "rb") as log:
            log.seek(self._log_offset)
            text = log.read()
        self._log_offset += len(text)
        return text.decode("utf-8", "replace")

    def send(self, case: Case) -> httpx.Response | str:
        try:
            return self.http.request(case.method, case.target, content=case.body,
                                     headers=sign(case, KEY_ID, SECRET))
        except httpx.TransportError as exc:
            return f"{type(exc).__name__}: {exc}"

    def check(self, operation: Operation, case: Case, findings: Findings
              ) -> httpx.Response | None:
        self.new_log()
        response = self.send(case)
        answer = Answer(None, {}, b"", response) if isinstance(response, str) else (
            Answer.of(response))
        judge(findings, case, answer, tracebacks(self.new_log()), statuses=operation.statuses,
              function_errors=operation.operation_id.startswith("httpTrigger"))
        return None if isinstance(response, str) else response

    def assert_alive(self) -> None:
        proc = self.platform.proc
        assert proc is not None
        assert proc.poll() is None, "the platform exited:\n" + self.platform.log_text()[-3000:]
        for auth in ("none", "signed"):  # the document is unsigned; listings are not
            path = "/2016-08-15/openapi.json" if auth == "none" else "/2016-08-15/services"
            health = self.send(Case("GET", path, "limit=1", [], b"", auth))
            assert not isinstance(health, str), health
            assert health.status_code == 200, health.text


@dataclass(frozen=True)
class Budget:
    """Examples per batch and the seed: fixed (derandomized) unless asked otherwise."""

    examples: int | None  # None: each batch's own default
    seed: int | None

    def run(self, strategy: st.SearchStrategy[T], example: Callable[[T], None],
            default: int) -> None:
        @settings(max_examples=self.examples or default, derandomize=self.seed is None,
                  database=None, deadline=None, print_blob=False,
                  # Failures are collected, not raised: only a broken test raises here.
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @hypothesis_given(strategy)
        def batch(case: T) -> None:
            example(case)

        (seed(self.seed)(batch) if self.seed is not None else batch)()
