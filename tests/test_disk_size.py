"""diskSize: the private /tmp of each instance, configurable per function."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx

from tests.attacks.support import require_linux_sandbox
from tests.conftest import make_zip, unique
from tests.platform_process import PlatformProcess

API = "/2016-08-15"
TMP_SIZE = """
import os

def handler(event, context):
    stats = os.statvfs("/tmp")
    return str(stats.f_blocks * stats.f_frsize // (1024 * 1024))
"""


def create(platform: PlatformProcess, service: str, name: str, **fields: object) -> httpx.Response:
    body = {"functionName": name, "runtime": "python3", "handler": "index.handler",
            "code": {"zipFile": base64.b64encode(make_zip({"index.py": TMP_SIZE})).decode()},
            **fields}
    return httpx.post(f"{platform.endpoint}{API}/services/{service}/functions",
                      content=json.dumps(body), timeout=60)


def new_service(platform: PlatformProcess) -> str:
    name = unique("disk")
    response = httpx.post(f"{platform.endpoint}{API}/services",
                          content=json.dumps({"serviceName": name}))
    assert response.status_code == 200, response.text
    return name


def test_disk_size_defaults_validates_and_updates(shared_platform: PlatformProcess) -> None:
    service = new_service(shared_platform)
    default = create(shared_platform, service, "plain")
    assert default.json()["diskSize"] == 512
    sized = create(shared_platform, service, "sized", diskSize=1024)
    assert sized.json()["diskSize"] == 1024
    for bad in (256, 20480, "1024", True):
        refused = create(shared_platform, service, "bad", diskSize=bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["ErrorCode"] == "InvalidArgument"
        assert "diskSize" in refused.json()["ErrorMessage"]
    updated = httpx.put(f"{shared_platform.endpoint}{API}/services/{service}/functions/sized",
                        content=json.dumps({"diskSize": 2048}))
    assert updated.json()["diskSize"] == 2048
    # Other updates keep it.
    kept = httpx.put(f"{shared_platform.endpoint}{API}/services/{service}/functions/sized",
                     content=json.dumps({"timeout": 5}))
    assert kept.json()["diskSize"] == 2048


@require_linux_sandbox()
def test_each_instance_gets_the_tmp_size_of_its_function(
    make_platform: Callable[..., PlatformProcess],
) -> None:
    platform = make_platform("--sandbox", "linux")
    service = new_service(platform)
    create(platform, service, "small")
    create(platform, service, "large", diskSize=1536)

    def tmp_mb(function: str) -> int:
        response = httpx.post(
            f"{platform.endpoint}{API}/services/{service}/functions/{function}/invocations",
            timeout=60,
        )
        assert "x-fc-error-type" not in response.headers, response.text
        return int(response.content)

    assert tmp_mb("small") == 512
    assert tmp_mb("large") == 1536
    # A new size applies to new instances.
    httpx.put(f"{platform.endpoint}{API}/services/{service}/functions/small",
              content=json.dumps({"diskSize": 768}))
    assert tmp_mb("small") == 768
