"""Shared by the version, alias and qualifier tests: tagged code, qualified calls, packages.

Every handler here answers with a *tag* naming the code it was built from, so a response
proves which code ran, and with a per-instance *token* (module state lives as long as the
instance), so two responses tell whether the same instance served them.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import fc2
import httpx

from tests.conftest import API, write_code
from tests.platform_process import PlatformProcess

VERSION_HEADER = "x-fc-invocation-service-version"

TAGGED = '''
import json, os, subprocess, time, uuid

TAG = "@TAG@"
TOKEN = uuid.uuid4().hex

def handler(event, context):
    if event.startswith(b"sleep:"):
        time.sleep(float(event[6:]))
    elif event.startswith(b"spawn:"):
        # A child that lives as long as the instance: seen from the host, it shows
        # whether the instance still runs.
        subprocess.Popen(["sleep", event[6:].decode()])
    elif event.startswith(b"slow:"):
        _, marker, seconds = event.decode().split(":")
        subprocess.Popen(["sleep", marker])
        time.sleep(float(seconds))
    elif event == b"fail":
        raise RuntimeError("code " + TAG + " fails")
    return json.dumps({
        "tag": TAG,
        "token": TOKEN,
        "qualifier": context.service.qualifier,
        "versionId": context.service.version_id,
        "fcQualifier": os.environ.get("FC_QUALIFIER", ""),
        "extra": os.environ.get("EXTRA", ""),
        "memory": context.function.memory,
    })
'''

# The smallest handler that still names its code: for runs of thousands of requests.
TINY = '''
def handler(event, context):
    return "@TAG@"
'''


def tagged(tag: str) -> dict[str, str]:
    return {"index.py": TAGGED.replace("@TAG@", tag)}


def tiny(tag: str) -> dict[str, str]:
    return {"index.py": TINY.replace("@TAG@", tag)}


def sdk_client(platform: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=platform.endpoint, accessKeyID="test", accessKeySecret="test")


def set_code(client: fc2.Client, service: str, function: str, files: dict[str, str],
             **options: Any) -> dict[str, Any]:
    """Replaces the LATEST code of ``function`` (and any other options given)."""
    with tempfile.TemporaryDirectory() as code:
        response = client.update_function(service, function,
                                          codeDir=str(write_code(Path(code), files)), **options)
    data: dict[str, Any] = response.data
    return data


def publish(client: fc2.Client, service: str, description: str | None = None) -> str:
    version: str = client.publish_version(service, description).data["versionId"]
    return version


def qualified(service: str, qualifier: str | None) -> str:
    return service if qualifier is None else f"{service}.{qualifier}"


def invocation_url(platform: PlatformProcess, service: str, function: str,
                   qualifier: str | None = None) -> str:
    return (f"{platform.endpoint}{API}/services/{qualified(service, qualifier)}"
            f"/functions/{function}/invocations")


def invoke(platform: PlatformProcess, service: str, function: str, qualifier: str | None = None,
           event: bytes = b"", headers: dict[str, str] | None = None,
           timeout: float = 60) -> httpx.Response:
    return httpx.post(invocation_url(platform, service, function, qualifier), content=event,
                      headers=headers or {}, timeout=timeout)


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON a TAGGED handler returned (the test fails on any error answer)."""
    assert response.status_code == 200, (response.status_code, response.text)
    assert "x-fc-error-type" not in response.headers, response.text
    data: dict[str, Any] = json.loads(response.content)
    return data


def ran_on(response: httpx.Response) -> str:
    """The version the platform says ran the request ("LATEST" for LATEST)."""
    return str(response.headers[VERSION_HEADER])


def downloaded_source(client: fc2.Client, service: str, function: str,
                      qualifier: str | None = None) -> str:
    """index.py of the package that GetFunctionCode links to."""
    code = client.get_function_code(service, function, qualifier=qualifier).data
    package = httpx.get(code["url"], timeout=30)
    assert package.status_code == 200, package.text
    return zipfile.ZipFile(io.BytesIO(package.content)).read("index.py").decode()


def stored_packages_holding(platform: PlatformProcess, needle: bytes) -> list[str]:
    """Digests of the stored packages whose index.py contains ``needle``."""
    zips = platform.data_dir / "code" / "zips"
    return sorted(path.stem for path in zips.glob("*.zip")
                  if needle in zipfile.ZipFile(path).read("index.py"))


def remove_package(platform: PlatformProcess, digest: str) -> None:
    """Makes a package vanish from the code store behind the platform's back: the zip
    and its unpacked tree, as a disk lost or cleaned by hand would."""
    root = platform.data_dir / "code"
    (root / "zips" / f"{digest}.zip").unlink()
    shutil.rmtree(root / "trees" / digest, ignore_errors=True)
