"""A function that fails to start leaves its error in the function log and in the Tail."""

from __future__ import annotations

import base64

import fc2
import httpx

from tests.conftest import deploy, function_log, unique
from tests.platform_process import PlatformProcess


def test_import_error_is_logged_with_framing_and_tail(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = unique("startlog")
    deploy(shared_client, service, "broken", {"index.py": "import not_installed_anywhere\n"})
    response = httpx.post(
        f"{shared_platform.endpoint}/2016-08-15/services/{service}/functions/broken/invocations",
        headers={"x-fc-log-type": "Tail"}, timeout=60,
    )
    request_id = response.headers["x-fc-request-id"]
    assert response.json()["errorType"] == "Runtime.ImportModuleError"
    tail = base64.b64decode(response.headers["x-fc-log-result"]).decode()
    assert tail.startswith(f"FC Invoke Start RequestId: {request_id}")
    assert "Runtime.ImportModuleError: Unable to import module 'index'" in tail
    assert tail.rstrip().endswith(f"FC Invoke End RequestId: {request_id}")
    assert "not_installed_anywhere" in function_log(shared_platform, service, "broken")
