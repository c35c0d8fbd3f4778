"""Requests written byte by byte on a socket: what no well-behaved client library sends.

Invalid UTF-8 (raw and percent-escaped) and bad percent-escapes in paths and queries,
broken Content-Length and chunked framing, control bytes in headers. Each must be
answered (or the connection closed, when the request never ended) without a 5xx or a
traceback in the server's log, and the platform must keep serving.

A request-target with bytes outside ASCII is held to the FC error format like any other:
clients such as curl send UTF-8 paths as they are, and FC clients cannot read an error
that is not ``{"ErrorCode", "ErrorMessage"}``. Requests whose header section is not HTTP
(control bytes in a header) may be refused by the HTTP server itself, in its own format.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence

from hypothesis import strategies as st

from fcompute.api.openapi import document
from tests.fuzz.cases import Case, operations
from tests.fuzz.contract import Answer, Budget, Checker, Findings, judge, tracebacks
from tests.fuzz.signing import sign
from tests.fuzz.world import KEY_ID, SECRET
from tests.platform_process import PlatformProcess

Headers = Sequence[tuple[bytes, bytes]]

API = "/2016-08-15"
ESCAPES = ("%", "%z", "%zz", "%f", "%ff", "%FE%FF", "%c0%af", "%ed%a0%80", "%f4%90%80%80",
           "%00", "%0a", "%0d%0a", "%2F", "%2e%2e", "%25", "%%", "%e2%82", "%ef%bb%bf")
RAW_TEXT = (b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80",
            "名前".encode(), "é".encode("latin-1"), b"\x7f")
INVOKE = b"/2016-08-15/services/fz-echo/functions/echo/invocations"
TEMPLATES = sorted({op.path for op in operations(document())})
EXAMPLES = 150


def exchange(platform: PlatformProcess, request: bytes, half_close: bool = False) -> Answer:
    with socket.create_connection(("127.0.0.1", platform.port), timeout=15) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if status is None:
        return Answer(None, {}, b"", f"closed after {data[:80]!r}")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return Answer(int(status.group(1)), {k.lower(): v.strip() for k, v in headers.items()},
                  body)


def request_bytes(method: bytes, target: bytes, headers: Headers = (), body: bytes = b"",
                  *, length: bool = True, signed: bool = True) -> bytes:
    """The request, signed as FC clients sign (reference A.2) unless ``signed`` is false."""
    pairs = [(b"host", b"127.0.0.1"), (b"connection", b"close"), *headers]
    if body and length:
        pairs.append((b"content-length", b"%d" % len(body)))
    if signed:
        path, _, query = target.decode("latin-1").partition("?")
        pairs = sign(Case(method.decode(), path, query, pairs, body, "signed"), KEY_ID, SECRET)
    head = b"".join(name + b": " + value + b"\r\n" for name, value in pairs)
    return method + b" " + target + b" HTTP/1.1\r\n" + head + b"\r\n" + body


def check(platform: PlatformProcess, checker: Checker, findings: Findings, request: bytes,
          *, fc_format: bool = True, half_close: bool = False, answer_needed: bool = True
          ) -> None:
    checker.new_log()
    answer = exchange(platform, request, half_close)
    case = Case("RAW", repr(request[:300])[2:-1], "", [], b"", "none")
    judge(findings, case, answer, tracebacks(checker.new_log()), fc_format=fc_format,
          answer_needed=answer_needed)


def test_bad_percent_escapes_and_invalid_utf8_in_paths_and_queries(
    fuzz_platform: PlatformProcess, checker: Checker,
) -> None:
    findings = Findings()
    for escape in ESCAPES:
        for target in (f"{API}/services/{escape}", f"{API}/services/fz-echo/functions/{escape}",
                       f"{API}/services?prefix={escape}&limit=1{escape}",
                       f"{API}/services/fz-echo/functions/echo/stateful-async-invocations"
                       f"?nextToken={escape}&startedTimeBegin={escape}",
                       f"{API}/proxy/fz-echo/web/{escape}?{escape}={escape}",
                       f"{API}/code/{escape}.zip?Expires={escape}&Signature={escape}"):
            check(fuzz_platform, checker, findings, request_bytes(b"GET", target.encode()))
    for long in (b"a" * 100_000, b"%ff" * 30_000):
        for raw in (b"/2016-08-15/services/" + long, b"/2016-08-15/services?prefix=" + long):
            check(fuzz_platform, checker, findings, request_bytes(b"GET", raw))
    for text in RAW_TEXT:
        for raw in (b"/2016-08-15/services/" + text, b"/2016-08-15/services?prefix=" + text,
                    b"/2016-08-15/proxy/fz-echo/web/" + text + b"?" + text + b"=" + text,
                    b"/2016-08-15/" + text):
            check(fuzz_platform, checker, findings, request_bytes(b"GET", raw))
    checker.assert_alive()
    findings.assert_none()


def test_broken_framing_and_header_bytes(fuzz_platform: PlatformProcess, checker: Checker
                                         ) -> None:
    findings = Findings()
    framing: list[Headers] = [
        [(b"content-length", b"abc")], [(b"content-length", b"-1")],
        [(b"content-length", b"99999999999999999999999")], [(b"content-length", b"1, 2")],
        [(b"content-length", b"\xb2")], [(b"transfer-encoding", b"chunked")],
        [(b"transfer-encoding", b"chunked"), (b"content-length", b"3")],
        [(b"content-type", b"\x01")], [(b"x-fc-invocation-type", b"\xff")],
        [(b"date", b"\x00")], [(b"if-match", b"e" * 70_000)],
        [(b"x-fc-log-type", b"Tail")] * 200,
    ]
    chunked = [(b"transfer-encoding", b"chunked")]
    bodies = [(headers, b"{}") for headers in framing] + [
        (chunked, chunks) for chunks in (b"zz\r\n{}\r\n0\r\n\r\n", b"ffffffffffffffffffff\r\n",
                                         b"2\r\n{}\r\n", b"1;ext=\xff\r\n{\r\n1\r\n}\r\n0\r\n\r\n")]
    for headers, body in bodies:
        for path in (b"/2016-08-15/services", INVOKE):
            check(fuzz_platform, checker, findings,
                  request_bytes(b"POST", path, headers, body, length=False),
                  fc_format=False, half_close=True, answer_needed=False)
    for path in (b"/2016-08-15/services", INVOKE):  # shorter than announced, then it stops
        check(fuzz_platform, checker, findings,
              request_bytes(b"POST", path, [(b"content-length", b"100")], b'{"a"', length=False),
              half_close=True, answer_needed=False)
    for auth in (b"FC \x80:\x81", "FC fuzz:é".encode("latin-1"), b"FC fuzz:" + b"\xff" * 44):
        check(fuzz_platform, checker, findings, request_bytes(
            b"GET", b"/2016-08-15/services", [(b"authorization", auth)], signed=False))
    checker.assert_alive()
    findings.assert_none()


@st.composite
def raw_targets(draw: st.DrawFn) -> bytes:
    template = draw(st.sampled_from(TEMPLATES))
    junk = st.one_of(st.sampled_from(ESCAPES).map(str.encode), st.sampled_from(RAW_TEXT),
                     st.binary(min_size=1, max_size=6).filter(
                         lambda b: not set(b) & set(b" \r\n\t?#/\x00")))
    parts = re.split(r"(\{\w+\})", template)
    target = b"".join(draw(st.one_of(st.sampled_from((b"fz-echo", b"echo", b"fz-ok")), junk))
                      if part.startswith("{") else part.encode() for part in parts)
    if draw(st.booleans()):
        target += b"?" + draw(junk) + b"=" + draw(junk)
    return target


def test_random_bytes_in_every_path_template(
    fuzz_platform: PlatformProcess, checker: Checker, budget: Budget,
) -> None:
    findings = Findings()
    methods = st.sampled_from((b"GET", b"POST", b"PUT", b"DELETE", b"PATCH"))

    def example(request: Case) -> None:
        # Control bytes make the request line not HTTP: the HTTP server answers for itself.
        line = request.body.split(b" HTTP/1.1")[0]
        check(fuzz_platform, checker, findings, request.body,
              fc_format=not re.search(rb"[\x00-\x20\x7f]", line.split(b" ", 1)[1]))

    cases = st.builds(lambda method, target: Case("RAW", "", "", [], request_bytes(
        method, target), "none"), methods, raw_targets())
    budget.run(cases, example, default=EXAMPLES)
    checker.assert_alive()
    findings.assert_none()
