"""HTTP-trigger responses that cannot complete, clients that stop reading, and what unsigned
callers can learn."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import fc2
import httpx
import pytest

from tests.conftest import API, deploy, unique, wait_for
from tests.platform_process import PlatformProcess

MakePlatform = Callable[..., PlatformProcess]
KEY_ID = "AKID-streams"
SECRET = "streams-secret"

STREAMING = """
import os

def endless():
    chunk = b"x" * (1024 * 1024)
    while True:
        yield chunk

def crash_after_first_chunk():
    yield b"first chunk "
    os._exit(7)

def fail_after_first_chunk():
    yield b"first chunk "
    raise RuntimeError("broke mid-response")

def handler(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/ping":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"pong"]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if path == "/endless":
        return endless()
    if path == "/crash":
        return crash_after_first_chunk()
    return fail_after_first_chunk()
"""


def deploy_streaming(client: fc2.Client, timeout: int = 60) -> str:
    service = unique("streams")
    deploy(client, service, "app", {"index.py": STREAMING}, timeout=timeout)
    client.create_trigger(service, "app", "http", "http",
                          {"authType": "anonymous", "methods": ["GET"]}, None, None)
    return service


@pytest.mark.parametrize("path", ["/crash", "/fail"])
def test_a_response_cut_short_by_the_function_is_not_a_clean_200(
    shared_platform: PlatformProcess, shared_client: fc2.Client, path: str,
) -> None:
    service = deploy_streaming(shared_client)
    url = f"{shared_platform.endpoint}{API}/proxy/{service}/app{path}"
    received: list[bytes] = []

    def read_all() -> None:
        with httpx.stream("GET", url) as response:
            assert response.status_code == 200
            received.extend(response.iter_bytes())

    with pytest.raises(httpx.RemoteProtocolError):
        read_all()
    assert b"".join(received) == b"first chunk "
    # The function itself keeps serving.
    ping = httpx.get(f"{shared_platform.endpoint}{API}/proxy/{service}/app/ping")
    assert ping.text == "pong"


def stalled_client(url: str) -> socket.socket:
    """Asks for the endless response and never reads it."""
    address = httpx.URL(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((address.host, address.port or 80))
    sock.sendall(f"GET {address.raw_path.decode()} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def test_clients_that_stop_reading_release_the_instance_at_the_timeout(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform("--max-instances", "2", "--instance-wait", "1")
    client = fc2.Client(endpoint=platform.endpoint, accessKeyID="k", accessKeySecret="s")
    service = deploy_streaming(client, timeout=2)
    base = f"{platform.endpoint}{API}/proxy/{service}/app"
    stalled = [stalled_client(f"{base}/endless") for _ in range(2)]
    try:
        # Both instances are pinned by clients that do not read...
        time.sleep(0.5)
        assert httpx.get(f"{base}/ping", timeout=10).status_code == 429
        # ...until the function's timeout, when the platform gives up on them.
        began = time.monotonic()
        assert wait_for(lambda: httpx.get(f"{base}/ping", timeout=10).status_code == 200, 10)
        assert time.monotonic() - began < 6
    finally:
        for sock in stalled:
            sock.close()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(
        tmp_path_factory.mktemp("keyed-streams") / "data",
        env={"FCOMPUTE_ACCESS_KEY_ID": KEY_ID, "FCOMPUTE_ACCESS_KEY_SECRET": SECRET},
    ).start()
    yield running
    running.stop()


def test_unsigned_callers_learn_nothing_before_the_signature_check(
    keyed: PlatformProcess,
) -> None:
    client = fc2.Client(endpoint=keyed.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET)
    service = unique("guarded")
    deploy(client, service, "app", {"index.py": STREAMING})
    deploy(client, service, "no-trigger", {"index.py": STREAMING})
    client.create_trigger(service, "app", "http", "http",
                          {"authType": "function", "methods": ["GET"]}, None, None)
    proxy = f"{keyed.endpoint}{API}/proxy"
    answers = [
        httpx.get(f"{proxy}/{service}/app/ping"),  # exists, needs a signature
        httpx.post(f"{proxy}/{service}/app/ping"),  # exists, method not allowed
        httpx.get(f"{proxy}/{service}/no-trigger/ping"),  # exists, no HTTP trigger
        httpx.get(f"{proxy}/{service}/missing/ping"),  # no such function
        httpx.get(f"{proxy}/{unique('missing')}/app/ping"),  # no such service
    ]
    for answer in answers:
        assert answer.status_code == 403, (answer.request.url, answer.text)
        assert answer.json()["ErrorCode"] == "AccessDenied"
    # Signed callers still learn what exists and what does not.
    assert client.do_http_request("GET", service, "app", "/ping").text == "pong"
    assert client.do_http_request("GET", service, "missing", "/ping").status_code == 404
