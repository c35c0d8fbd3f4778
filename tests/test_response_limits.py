"""Response sizes: the 6 MB sync cap, and WSGI chunks larger than one frame."""

from __future__ import annotations

import hashlib
import json

import fc2
import httpx

from tests.conftest import deploy, unique
from tests.platform_process import PlatformProcess

BIG = """
def handler(event, context):
    return b"x" * int(event)
"""

HUGE_CHUNK = """
import hashlib

def app(environ, start_response):
    body = bytes(range(256)) * (70 * 4096)  # 70 MiB in one chunk, more than one frame holds
    start_response("200 OK", [("X-Digest", hashlib.sha256(body).hexdigest())])
    return [body]
"""


def test_sync_response_over_6_mb_is_a_clear_function_error(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("limits")
    deploy(shared_client, service, "big", {"index.py": BIG})
    exact = shared_client.invoke_function(service, "big", payload=str(6 * 1024 * 1024).encode())
    assert len(exact.data) == 6 * 1024 * 1024
    response = httpx.post(
        f"{shared_platform.endpoint}/2016-08-15/services/{service}/functions/big/invocations",
        content=str(6 * 1024 * 1024 + 1).encode(), timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    error = json.loads(response.content)
    assert error["errorType"] == "Runtime.ResponseTooLarge"
    assert "6 MB" in error["errorMessage"]
    # The instance stays healthy: the limit is the caller's problem, not the instance's.
    assert len(shared_client.invoke_function(service, "big", payload=b"3").data) == 3


def test_wsgi_chunk_larger_than_a_frame_arrives_intact(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("limits")
    deploy(shared_client, service, "huge", {"index.py": HUGE_CHUNK}, handler="index.app")
    shared_client.create_trigger(service, "huge", "http", "http",
                                 {"authType": "anonymous", "methods": ["GET"]}, None, None)
    response = httpx.get(f"{shared_platform.endpoint}/2016-08-15/proxy/{service}/huge/",
                         timeout=120)
    assert response.status_code == 200
    assert len(response.content) == 70 * 1024 * 1024
    assert hashlib.sha256(response.content).hexdigest() == response.headers["x-digest"]
