"""Connection hygiene at the front door, end to end against `fcompute serve`.

Slow clients (a head that never completes, a body that stalls) are cut off by deadlines, and
a flood of them turns into closed connections for the flooders while complete requests,
on new connections and on established keep-alive ones, keep being answered.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import API, wait_for
from tests.platform_process import PlatformProcess, free_port

PARTIAL_HEAD = b"GET /2016-08-15/services HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


class LimitedPlatform(PlatformProcess):
    """The platform started under a low open-file limit (soft and hard), as on a stock host."""

    def __init__(self, data_dir: Path, file_limit: int, *args: str) -> None:
        super().__init__(data_dir, *args)
        self.file_limit = file_limit

    def start(self) -> LimitedPlatform:
        limit = self.file_limit
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fcompute.cli.main", "serve", "--port", str(self.port),
             "--storage-port", str(free_port()), "--data-dir", str(self.data_dir), *self.args],
            stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)),
        )
        log.close()
        if not wait_for(self._answers, 20):
            raise RuntimeError(f"platform did not start:\n{self.log_text()}")
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"platform exited early:\n{self.log_text()}")
        try:
            httpx.get(f"{self.endpoint}{API}/services", timeout=1)
            return True
        except httpx.TransportError:
            return False


@contextmanager
def limited_platform(tmp_path: Path, file_limit: int, *args: str) -> Iterator[LimitedPlatform]:
    running = LimitedPlatform(tmp_path / "data", file_limit, *args).start()
    try:
        yield running
    finally:
        running.stop()


class Connection(socket.socket):
    """A client socket that keeps what it read past the end of a response."""

    def __init__(self) -> None:
        super().__init__(socket.AF_INET, socket.SOCK_STREAM)
        self.pending = b""


def connect(platform: PlatformProcess) -> Connection:
    sock = Connection()
    sock.settimeout(10)
    sock.connect(("127.0.0.1", platform.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def open_slow(platform: PlatformProcess, count: int) -> list[Connection]:
    """``count`` connections that each send part of a request head and then nothing."""
    opened = []
    for _ in range(count):
        try:
            sock = connect(platform)
            sock.sendall(PARTIAL_HEAD)
        except OSError:  # refused or reset: the platform shedding the flood, which is fine
            continue
        opened.append(sock)
    return opened


def is_closed(sock: socket.socket) -> bool:
    """Whether the platform closed (or reset) this connection, without waiting."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def read_reply(sock: Connection) -> tuple[int, dict[str, str], bytes]:
    """One response (content-length framing) from a raw connection."""
    buffer = sock.pending
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {buffer!r}")
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk
    sock.pending = body[length:]
    return int(lines[0].split()[1]), headers, body[:length]


def request(method: str, path: str, body: bytes = b"") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def closes_within(sock: socket.socket, seconds: float) -> bytes:
    """What the platform sent before closing ``sock``; fails if it stays open longer."""
    sock.settimeout(seconds)
    received = b""
    began = time.monotonic()
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"still open after {time.monotonic() - began:.1f} s: {received!r}")
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def assert_request_timeout(received: bytes) -> None:
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    assert b"x-fc-request-id: " in head.lower()
    assert json.loads(body)["ErrorCode"] == "RequestTimeout"


@pytest.fixture(autouse=True)
def room_for_a_flood() -> Iterator[None]:
    """This process holds over a thousand sockets at once in the flood tests."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_flood_of_slow_connections_at_the_file_limit_does_not_starve_requests(
    tmp_path: Path,
) -> None:
    # The probe that found the problem: 1,100 heads that never complete against a platform
    # whose open-file limit is 1,024, and the default deadlines (10 s).
    with limited_platform(tmp_path, 1024) as platform:
        established = connect(platform)
        established.sendall(request("GET", f"{API}/services"))
        assert read_reply(established)[0] == 200
        flood = open_slow(platform, 1100)
        try:
            began = time.monotonic()
            with httpx.Client(base_url=platform.endpoint, timeout=5) as api:
                for number in range(5):  # new connections, each evicting a slow one
                    name = f"flood-{number}"
                    response = api.post(f"{API}/services", json={"serviceName": name},
                                        headers={"connection": "close"})
                    assert response.status_code == 200, response.text
            established.sendall(request("GET", f"{API}/services"))
            assert read_reply(established)[0] == 200
            assert time.monotonic() - began < 5
            # The flood paid for it: the oldest slow connections were closed.
            assert wait_for(lambda: is_closed(flood[0]), 5)
            assert wait_for(lambda: sum(not is_closed(sock) for sock in flood) <= 768, 5)
            assert "accepting up to 768 connections" in platform.log_text()
        finally:
            for sock in flood:
                sock.close()
            established.close()


def test_at_the_cap_slow_heads_go_first_and_established_clients_stay(tmp_path: Path) -> None:
    # A long head deadline: only the cap closes connections here, however slow the machine.
    with limited_platform(tmp_path, 4096, "--max-connections", "40",
                          "--request-head-timeout", "120") as platform:
        assert "accepting up to 40 connections" in platform.log_text()
        established = [connect(platform) for _ in range(5)]
        for sock in established:
            sock.sendall(request("GET", f"{API}/services"))
            assert read_reply(sock)[0] == 200
        flood = open_slow(platform, 200)
        try:
            # New connections past the cap push out the slow ones that waited longest...
            assert wait_for(lambda: is_closed(flood[0]), 5)
            assert wait_for(lambda: sum(not is_closed(sock) for sock in flood) <= 35, 5), \
                sum(not is_closed(sock) for sock in flood)
            assert not any(is_closed(sock) for sock in flood[-20:])
            # ...not the idle keep-alive connections, which are still served.
            for sock in established:
                sock.sendall(request("GET", f"{API}/services"))
                assert read_reply(sock)[0] == 200
            fresh = connect(platform)
            fresh.sendall(request("GET", f"{API}/services"))
            assert read_reply(fresh)[0] == 200
            fresh.close()
        finally:
            for sock in flood + established:
                sock.close()


def test_a_head_must_arrive_within_its_deadline(make_platform: object) -> None:
    platform: PlatformProcess = make_platform("--request-head-timeout", "1")  # type: ignore[operator]
    partial = connect(platform)
    partial.sendall(PARTIAL_HEAD)
    silent = connect(platform)
    idle = connect(platform)
    idle.sendall(request("GET", f"{API}/services"))
    assert read_reply(idle)[0] == 200
    # A partial head is answered 408 with an FC error; a silent connection is just closed.
    assert_request_timeout(closes_within(partial, 5))
    assert closes_within(silent, 5) == b""
    # A keep-alive connection between requests is not waiting for a head: the keep-alive
    # timeout governs it, and its next request is served.
    time.sleep(1.5)
    idle.sendall(request("GET", f"{API}/services"))
    assert read_reply(idle)[0] == 200
    # A head that starts on a keep-alive connection has the same deadline.
    idle.sendall(PARTIAL_HEAD)
    assert_request_timeout(closes_within(idle, 5))
    for sock in (partial, silent, idle):
        sock.close()


def test_a_head_sent_slowly_but_completely_in_time_is_served(make_platform: object) -> None:
    platform: PlatformProcess = make_platform("--request-head-timeout", "2")  # type: ignore[operator]
    sock = connect(platform)
    whole = request("GET", f"{API}/services")
    for index in range(0, len(whole), 8):  # in pieces, well within the deadline
        sock.sendall(whole[index:index + 8])
        time.sleep(0.02)
    assert read_reply(sock)[0] == 200
    sock.close()


def test_a_stalled_body_is_cut_off_and_a_steady_one_is_not(make_platform: object) -> None:
    platform: PlatformProcess = make_platform(  # type: ignore[operator]
        "--request-body-timeout", "1", "--request-body-min-rate", "1024")
    stalled = connect(platform)
    stalled.sendall(request("POST", f"{API}/services", b'{"serviceName": "x"}')[:-5])
    assert_request_timeout(closes_within(stalled, 6))
    stalled.close()
    # 2 KiB every 0.4 s for about 2.5 s: slow, but above 1 KiB/s in every window.
    body = json.dumps({"serviceName": "steady"}).encode() + b" " * 12 * 1024
    steady = connect(platform)
    whole = request("POST", f"{API}/services", body)
    head_end = whole.index(b"\r\n\r\n") + 4
    steady.sendall(whole[:head_end])
    for index in range(head_end, len(whole), 2048):
        time.sleep(0.4)
        steady.sendall(whole[index:index + 2048])
    status, _headers, answer = read_reply(steady)
    assert status == 200, answer
    steady.close()
    # A client that waits for 100 Continue gets it, and its body is taken after it.
    polite = connect(platform)
    body = json.dumps({"serviceName": "polite"}).encode()
    whole = request("POST", f"{API}/services", body)
    polite.sendall(whole[:-len(body) - 2] + b"Expect: 100-continue\r\n\r\n")
    status, _headers, _ = read_reply(polite)
    assert status == 100
    time.sleep(0.5)
    polite.sendall(body)
    status, _headers, answer = read_reply(polite)
    assert status == 200, answer
    polite.close()


def test_pipelined_and_early_answered_requests_keep_their_deadlines_right(
    make_platform: object,
) -> None:
    platform: PlatformProcess = make_platform(  # type: ignore[operator]
        "--request-head-timeout", "1", "--request-body-timeout", "1")
    sock = connect(platform)
    # Two requests in one write, and the start of a third that never completes: its head
    # deadline starts when the second answer is sent.
    sock.sendall(request("GET", f"{API}/services") * 2 + PARTIAL_HEAD)
    assert read_reply(sock)[0] == 200
    assert read_reply(sock)[0] == 200
    assert_request_timeout(closes_within(sock, 5))
    sock.close()
    # Answered before its body arrived (no such service): once the body is in, the
    # connection rests and serves the next request well past both deadlines...
    sock = connect(platform)
    missing = f"{API}/services/missing/functions/f/invocations"
    sock.sendall(request("POST", missing, b"x" * 300_000))
    assert read_reply(sock)[0] == 404
    time.sleep(1.5)
    sock.sendall(request("GET", f"{API}/services"))
    assert read_reply(sock)[0] == 200
    # ...and when the rest of the body never comes, the body deadline closes it.
    whole = request("POST", missing, b"x" * 300_000)
    sock.sendall(whole[:-1000])
    assert read_reply(sock)[0] == 404
    assert closes_within(sock, 5) == b""
    sock.close()


def read_response(sock: socket.socket) -> bytes:
    """One response (head and Content-Length body) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.parametrize("port", ["api", "storage"])
def test_an_expect_continue_answered_before_its_body_closes_the_connection(
        shared_platform: PlatformProcess, port: str) -> None:
    # The client waits for 100 Continue before sending the body, and an early answer says it
    # need not: the next bytes on the connection would be taken for that body.
    number = shared_platform.port if port == "api" else shared_platform.storage_port
    path = f"{API}/no/such/route" if port == "api" else "/no-such-bucket/key"
    with socket.create_connection(("127.0.0.1", number), timeout=10) as sock:
        sock.sendall((f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                      "Expect: 100-continue\r\n\r\n").encode())
        head = read_response(sock)
        assert b" 100 " not in head.split(b"\r\n")[0]
        assert b"connection: close" in head.lower()
        assert sock.recv(65536) == b""  # closed, not waiting for a body that never comes
    # A request that reads its body still gets its 100 Continue and keeps the connection.
    with socket.create_connection(("127.0.0.1", shared_platform.port), timeout=10) as sock:
        sock.sendall((f"POST {API}/services HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                      "Expect: 100-continue\r\n\r\n").encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"{}")
        assert b"connection: close" not in read_response(sock).lower()
