"""Invocations of the deployed echo functions: any payload bytes and invocation headers.

Beyond the contract every answer keeps, an echo must be exact: a synchronous invocation
answers the payload it was sent (``b"fail"`` makes the function raise: a 200 with
x-fc-error-type), an async one a 202 with its invocation id, and the HTTP-trigger echo
answers the body with the method it was called with.
"""

from __future__ import annotations

import base64

from hypothesis import strategies as st

from fcompute.api.openapi import document
from tests.fuzz import hostile
from tests.fuzz.cases import Case, header_value, operations, segment
from tests.fuzz.contract import Budget, Checker, Findings
from tests.fuzz.world import ALL_METHODS, ECHO_SERVICE

OPERATIONS = {op.operation_id: op for op in operations(document())}
INVOKE = f"/2016-08-15/services/{ECHO_SERVICE}/functions/echo/invocations"
EXAMPLES = 120
HEADER_TEXT = st.one_of(st.sampled_from(hostile.STRINGS), st.text(max_size=12))
PAYLOADS = st.one_of(st.binary(max_size=2048), st.just(b"fail"), st.just(b""),
                     hostile.raw_bodies(),
                     st.sampled_from((128 * 1024, 128 * 1024 + 1, 6 * 1024 * 1024 + 1)).map(
                         lambda n: b"p" * n))


@st.composite
def invocations(draw: st.DrawFn) -> Case:
    headers: list[tuple[bytes, bytes]] = []
    invocation_type = draw(st.one_of(st.sampled_from(("Sync", "Async", "async", "SYNC", None)),
                                     HEADER_TEXT))
    if invocation_type is not None:
        headers.append((b"x-fc-invocation-type", header_value(invocation_type)))
    log_type = draw(st.one_of(st.sampled_from(("None", "Tail", "tail", None)), HEADER_TEXT))
    if log_type is not None:
        headers.append((b"x-fc-log-type", header_value(log_type)))
    if draw(st.booleans()):
        wanted = draw(st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,128}", fullmatch=True),
                                st.sampled_from(("fz-ok", "a" * 129)), HEADER_TEXT))
        headers.append((b"x-fc-stateful-async-invocation-id", header_value(wanted)))
    service = draw(st.sampled_from((ECHO_SERVICE, f"{ECHO_SERVICE}.LATEST")))
    path = INVOKE.replace(ECHO_SERVICE, service, 1)
    return Case("POST", path, "", headers, draw(PAYLOADS), "signed")


def test_the_echo_function_answers_every_payload_exactly(
    world: object, checker: Checker, budget: Budget,
) -> None:
    findings = Findings()
    operation = OPERATIONS["invokeFunction"]

    def example(case: Case) -> None:
        response = checker.check(operation, case, findings)
        if response is None or response.status_code >= 400:
            return
        sent = dict(case.headers)
        asynchronous = sent.get(b"x-fc-invocation-type", b"").lower() == b"async"
        if asynchronous:
            if response.status_code != 202 or not response.headers.get(
                    "x-fc-stateful-async-invocation-id"):
                findings.add("async invocation not answered 202 with its id", case,
                             f"{response.status_code} {dict(response.headers)}")
            return
        failed = response.headers.get("x-fc-error-type")
        if case.body == b"fail":
            if not failed:
                findings.add("a raising function answered without x-fc-error-type", case,
                             response.text[:200])
        elif failed or response.content != case.body:
            findings.add("the echo answered something else than the payload", case,
                         f"{response.status_code} {failed} {response.content[:200]!r}")
        if sent.get(b"x-fc-log-type", b"").lower() == b"tail":
            try:
                base64.b64decode(response.headers.get("x-fc-log-result", "!"), validate=True)
            except ValueError:
                findings.add("Tail without a base64 x-fc-log-result", case,
                             str(dict(response.headers)))

    budget.run(invocations(), example, default=EXAMPLES)
    checker.assert_alive()
    findings.assert_none()


@st.composite
def http_calls(draw: st.DrawFn) -> tuple[str, Case]:
    method = draw(st.sampled_from(ALL_METHODS))
    parts = draw(st.lists(st.one_of(st.sampled_from(hostile.STRINGS), st.text(max_size=6)),
                          max_size=3))
    path = "/".join(["", "2016-08-15", "proxy", ECHO_SERVICE, "web",
                     *(segment(p) for p in parts)])
    query = "&".join(f"{segment(k)}={segment(v)}" for k, v in draw(
        st.lists(st.tuples(st.text(max_size=5), st.text(max_size=8)), max_size=3)))
    headers = [(b"x-custom", header_value(draw(HEADER_TEXT)))]
    body = b"" if method in ("GET", "HEAD") else draw(st.binary(max_size=1024))
    operation = "httpTriggerPath" if parts else "httpTrigger"
    return f"{operation}{method.title()}", Case(method, path, query, headers, body, "none")


def test_the_http_trigger_echo_answers_every_request_exactly(
    world: object, checker: Checker, budget: Budget,
) -> None:
    findings = Findings()

    def example(call: tuple[str, Case]) -> None:
        operation_id, case = call
        response = checker.check(OPERATIONS[operation_id], case, findings)
        if response is None:
            return
        expected = b"" if case.method == "HEAD" else case.body
        if response.status_code != 200 or response.content != expected or (
                response.headers.get("x-echo-method") != case.method):
            findings.add(f"the HTTP echo answered {response.status_code}, not the request",
                         case, f"{dict(response.headers)} {response.content[:200]!r}")

    budget.run(http_calls(), example, default=EXAMPLES)
    checker.assert_alive()
    findings.assert_none()
