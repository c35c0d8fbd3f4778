"""Functions through the official SDK: fields, defaults, ETags, code, limits and validation."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import warnings
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fc2
import httpx
import pytest
from fastcrc import crc64

from tests.conftest import (
    API,
    assert_fc_error,
    deploy,
    make_zip,
    raises_fc,
    unique,
    write_code,
)
from tests.platform_process import PlatformProcess

ECHO = {"index.py": "def handler(event, context):\n    return event\n\n"
                    "def init(context):\n    pass\n"}


@contextmanager
def sdk_zip_file(tmp_path: Path, files: dict[str, str]) -> Iterator[tuple[str, bytes]]:
    """A zip on disk for ``codeZipFile``: the SDK opens it and never closes it."""
    data = make_zip(files)
    path = tmp_path / f"{unique('code')}.zip"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield str(path), data


def new_service(client: fc2.Client) -> str:
    name = unique("svc")
    client.create_service(name)
    return name


def raw_create(platform: PlatformProcess, service: str, body: dict[str, Any] | bytes
               ) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{platform.endpoint}{API}/services/{service}/functions", content=content,
                      headers={"content-type": "application/json"}, timeout=60)


def b64zip(files: dict[str, str] | None = None) -> str:
    return base64.b64encode(make_zip(files or ECHO)).decode()


def test_create_function_from_zip_file_returns_fields(
    shared_client: fc2.Client, tmp_path: Path
) -> None:
    service = new_service(shared_client)
    with sdk_zip_file(tmp_path, ECHO) as (path, data):
        created = shared_client.create_function(
            service, "fn", "python3", "index.handler", codeZipFile=path,
            description="the echo", memorySize=512, timeout=30, initializer="index.init",
            initializationTimeout=20, environmentVariables={"A": "1", "B": "two"},
            instanceConcurrency=1,
        )
    fn = created.data
    assert created.headers["etag"]
    assert fn["functionName"] == "fn"
    assert fn["runtime"] == "python3"
    assert fn["handler"] == "index.handler"
    assert fn["description"] == "the echo"
    assert fn["functionId"]
    assert fn["codeChecksum"] == str(crc64.xz(data))
    assert fn["codeSize"] == len(data)
    assert fn["createdTime"]
    assert fn["lastModifiedTime"]
    assert fn["memorySize"] == 512
    assert fn["timeout"] == 30
    assert fn["initializer"] == "index.init"
    assert fn["initializationTimeout"] == 20
    assert fn["environmentVariables"] == {"A": "1", "B": "two"}
    assert fn["instanceConcurrency"] == 1

    got = shared_client.get_function(service, "fn")
    assert got.data == fn
    assert got.headers["etag"] == created.headers["etag"]
    assert shared_client.invoke_function(service, "fn", payload=b"zip").data == b"zip"


def test_create_function_from_code_dir(shared_client: fc2.Client, tmp_path: Path) -> None:
    service = new_service(shared_client)
    code = write_code(tmp_path / "code", {
        "index.py": "from lib.util import shout\ndef handler(event, context):\n"
                    "    return shout(event)\n",
        "lib/__init__.py": "",
        "lib/util.py": "def shout(b):\n    return b.upper()\n",
    })
    fn = shared_client.create_function(service, "fn", "python3", "index.handler",
                                       codeDir=str(code)).data
    assert int(fn["codeSize"]) > 0
    assert fn["codeChecksum"].isdigit()
    assert shared_client.invoke_function(service, "fn", payload=b"dir").data == b"DIR"


def test_server_side_defaults(shared_platform: PlatformProcess, shared_client: fc2.Client) -> None:
    # The SDK always sends memorySize and timeout: a raw request shows the server's defaults.
    service = new_service(shared_client)
    response = raw_create(shared_platform, service, {
        "functionName": "fn", "runtime": "python3", "handler": "index.handler",
        "code": {"zipFile": b64zip()},
    })
    assert response.status_code == 200, response.text
    assert response.headers["etag"]
    fn = response.json()
    assert fn["memorySize"] == 256
    assert fn["timeout"] == 60
    assert fn["initializationTimeout"] == 30
    assert fn["initializer"] == ""
    assert fn["description"] == ""
    assert fn["environmentVariables"] == {}
    assert fn["instanceConcurrency"] == 1


def test_update_function_etag_code_and_environment(
    shared_platform: PlatformProcess, shared_client: fc2.Client, tmp_path: Path
) -> None:
    service = new_service(shared_client)
    first = deploy(shared_client, service, "fn", {
        "index.py": "import os\ndef handler(event, context):\n"
                    "    return 'v1:' + os.environ.get('GREETING', '-')\n",
    }, environmentVariables={"GREETING": "hi", "OTHER": "x"})
    etag0 = shared_client.get_function(service, "fn").headers["etag"]
    assert shared_client.invoke_function(service, "fn").data == b"v1:hi"

    updated = shared_client.update_function(service, "fn", description="changed")
    assert updated.data["description"] == "changed"
    assert updated.data["codeChecksum"] == first["codeChecksum"]
    assert updated.data["environmentVariables"] == {"GREETING": "hi", "OTHER": "x"}
    etag1 = updated.headers["etag"]
    assert etag1
    assert etag1 != etag0

    code = write_code(tmp_path / "v2", {
        "index.py": "import os\ndef handler(event, context):\n"
                    "    return 'v2:' + os.environ.get('GREETING', '-')\n",
    })
    updated = shared_client.update_function(service, "fn", codeDir=str(code))
    assert updated.data["codeChecksum"] != first["codeChecksum"]
    assert updated.data["description"] == "changed"
    etag2 = updated.headers["etag"]
    assert etag2 not in (etag0, etag1)
    assert shared_client.invoke_function(service, "fn").data == b"v2:hi"

    cleared = shared_client.update_function(service, "fn", environmentVariables={})
    assert cleared.data["environmentVariables"] == {}
    assert cleared.headers["etag"] not in (etag0, etag1, etag2)
    assert shared_client.get_function(service, "fn").data["environmentVariables"] == {}
    assert shared_client.invoke_function(service, "fn").data == b"v2:-"

    fn = shared_client.update_function(service, "fn", memorySize=1024, timeout=5,
                                       handler="index.handler").data
    assert (fn["memorySize"], fn["timeout"]) == (1024, 5)
    assert fn["createdTime"] == first["createdTime"]
    assert fn["functionId"] == first["functionId"]


def test_if_match_guards_function_update_and_delete(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", ECHO)
    etag = shared_client.get_function(service, "fn").headers["etag"]
    with raises_fc(412, "PreconditionFailed"):
        shared_client.update_function(service, "fn", description="x",
                                      headers={"if-match": "wrong"})
    with raises_fc(412, "PreconditionFailed"):
        shared_client.delete_function(service, "fn", headers={"if-match": "wrong"})
    assert shared_client.get_function(service, "fn").data["description"] == ""
    etag = shared_client.update_function(service, "fn", description="ok",
                                         headers={"if-match": etag}).headers["etag"]
    shared_client.delete_function(service, "fn", headers={"if-match": etag})
    with raises_fc(404, "FunctionNotFound"):
        shared_client.get_function(service, "fn")


def test_get_function_code_downloads_the_uploaded_zip(
    shared_client: fc2.Client, tmp_path: Path
) -> None:
    service = new_service(shared_client)
    files = {"index.py": "def handler(e, c):\n    return 'x'\n", "data/blob.txt": "z" * 5000}
    with sdk_zip_file(tmp_path, files) as (path, data):
        fn = shared_client.create_function(service, "fn", "python3", "index.handler",
                                           codeZipFile=path).data
    code = shared_client.get_function_code(service, "fn").data
    assert code["checksum"] == fn["codeChecksum"]
    download = httpx.get(code["url"])
    assert download.status_code == 200
    assert download.content == data

    # After a code update the link and checksum follow the new code.
    with sdk_zip_file(tmp_path, ECHO) as (path, new_data):
        fn = shared_client.update_function(service, "fn", codeZipFile=path).data
    code = shared_client.get_function_code(service, "fn").data
    assert code["checksum"] == fn["codeChecksum"] == str(crc64.xz(new_data))
    assert httpx.get(code["url"]).content == new_data

    # A tampered link is refused.
    tampered = code["url"].replace("Signature=", "Signature=0")
    assert_fc_error(httpx.get(tampered), 403, "AccessDenied")


def test_missing_and_duplicate_functions(shared_client: fc2.Client, tmp_path: Path) -> None:
    service = new_service(shared_client)
    calls: list[Callable[[], object]] = [
        lambda: shared_client.get_function(service, "nope"),
        lambda: shared_client.get_function_code(service, "nope"),
        lambda: shared_client.update_function(service, "nope", description="x"),
        lambda: shared_client.delete_function(service, "nope"),
        lambda: shared_client.invoke_function(service, "nope"),
        lambda: shared_client.list_triggers(service, "nope"),
    ]
    for call in calls:
        with raises_fc(404, "FunctionNotFound"):
            call()
    with raises_fc(404, "ServiceNotFound"):
        shared_client.create_function(unique("nosvc"), "fn", "python3", "index.handler",
                                      codeDir=str(write_code(tmp_path / "c", ECHO)))
    deploy(shared_client, service, "fn", ECHO)
    with raises_fc(409, "FunctionAlreadyExists"):
        deploy(shared_client, service, "fn", ECHO)


def test_delete_function_refused_while_it_has_triggers(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", ECHO)
    shared_client.create_trigger(service, "fn", "web", "http",
                                 {"authType": "anonymous", "methods": ["GET"]}, None, None)
    with raises_fc(400, "FunctionNotEmpty"):
        shared_client.delete_function(service, "fn")
    shared_client.delete_trigger(service, "fn", "web")
    shared_client.delete_function(service, "fn")
    shared_client.delete_service(service)


def test_list_functions_pages_with_prefix(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    names = [f"f_{i:02d}" for i in range(5)]
    for name in [*names, "fx00", "g"]:
        deploy(shared_client, service, name, ECHO)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        data = shared_client.list_functions(service, limit=2, prefix="f_", nextToken=token).data
        pages += 1
        seen += [f["functionName"] for f in data["functions"]]
        assert all(f["codeChecksum"] for f in data["functions"])
        token = data.get("nextToken")
        if not token:
            break
        assert pages < 10
    assert seen == names
    assert pages == 3
    everything = shared_client.list_functions(service).data
    assert [f["functionName"] for f in everything["functions"]] == [*names, "fx00", "g"]
    assert not everything.get("nextToken")


def test_fifty_functions_per_service(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    zipped = b64zip()
    body = {"runtime": "python3", "handler": "index.handler", "code": {"zipFile": zipped}}
    url = f"{shared_client.endpoint}{API}/services/{service}/functions"
    with httpx.Client(timeout=30) as http:
        for i in range(50):
            response = http.post(url, json={**body, "functionName": f"fn{i:02d}"})
            assert response.status_code == 200, response.text
        response = http.post(url, json={**body, "functionName": "fn50"})
    assert_fc_error(response, 429, "ResourceExhausted")
    assert "50" in response.json()["ErrorMessage"]
    with raises_fc(429, "ResourceExhausted"):
        deploy(shared_client, service, "one-more", ECHO)
    # Deleting one makes room again.
    shared_client.delete_function(service, "fn00")
    deploy(shared_client, service, "one-more", ECHO)


@pytest.mark.parametrize(("memory", "ok"), [
    (64, False), (127, False), (128, True), (192, True), (200, False), (1000, False),
    (3072, True), (3136, False), (4096, False),
])
def test_memory_size_range_and_step(shared_client: fc2.Client, memory: int, ok: bool) -> None:
    service = new_service(shared_client)
    if ok:
        assert deploy(shared_client, service, "fn", ECHO, memorySize=memory)["memorySize"] == memory
        fn = shared_client.update_function(service, "fn", memorySize=memory).data
        assert fn["memorySize"] == memory
        return
    with raises_fc(400, "InvalidArgument") as info:
        deploy(shared_client, service, "fn", ECHO, memorySize=memory)
    assert "memorySize" in info.value.message
    deploy(shared_client, service, "fn", ECHO)
    with raises_fc(400, "InvalidArgument"):
        shared_client.update_function(service, "fn", memorySize=memory)
    assert shared_client.get_function(service, "fn").data["memorySize"] == 256


@pytest.mark.parametrize(("timeout", "ok"), [
    (0, False), (-1, False), (1, True), (86400, True), (86401, False),
])
def test_timeout_range(shared_platform: PlatformProcess, shared_client: fc2.Client,
                       timeout: int, ok: bool) -> None:
    service = new_service(shared_client)
    response = raw_create(shared_platform, service, {
        "functionName": "fn", "runtime": "python3", "handler": "index.handler",
        "code": {"zipFile": b64zip()}, "timeout": timeout,
    })
    if ok:
        assert response.status_code == 200, response.text
        assert response.json()["timeout"] == timeout
    else:
        body = assert_fc_error(response, 400, "InvalidArgument")
        assert "timeout" in body["ErrorMessage"]


BAD_FUNCTIONS: list[tuple[str, dict[str, Any]]] = [
    ("bad base64", {"code": {"zipFile": "not base64 at all!"}}),
    ("not a zip", {"code": {"zipFile": base64.b64encode(b"just some bytes").decode()}}),
    ("empty zipFile", {"code": {"zipFile": ""}}),
    ("code not an object", {"code": "abc"}),
    ("no code", {"code": None}),
    ("oss code", {"code": {"ossBucketName": "b", "ossObjectName": "o"}}),
    ("unknown runtime", {"runtime": "cobol85"}),
    ("runtime not a string", {"runtime": ["python3"]}),
    ("runtime object", {"runtime": {"name": "python3"}}),
    ("no runtime", {"runtime": None}),
    ("handler without dot", {"handler": "index"}),
    ("handler ends with dot", {"handler": "index."}),
    ("handler starts with dot", {"handler": ".handler"}),
    ("handler attribute starts with digit", {"handler": "index.1handler"}),
    ("handler with spaces", {"handler": "my module.handler"}),
    ("handler not a string", {"handler": 5}),
    ("no handler", {"handler": None}),
    ("bad initializer", {"initializer": "init"}),
    ("function name with dot", {"functionName": "a.b"}),
    ("function name too long", {"functionName": "f" * 65}),
    ("function name digit first", {"functionName": "9fn"}),
    ("function name missing", {"functionName": None}),
    ("memory as string", {"memorySize": "256"}),
    ("memory as float", {"memorySize": 256.5}),
    ("memory as bool", {"memorySize": True}),
    ("initializationTimeout zero", {"initializationTimeout": 0}),
    ("env not an object", {"environmentVariables": ["A=1"]}),
    ("env value not a string", {"environmentVariables": {"A": 1}}),
    ("env bad name", {"environmentVariables": {"1A": "x"}}),
    ("env too large", {"environmentVariables": {"BIG": "x" * 5000}}),
    ("instanceConcurrency zero", {"instanceConcurrency": 0}),
    ("description not a string", {"description": 12}),
    ("code with escaping entry", {"code": {"zipFile": base64.b64encode(
        make_zip({"../evil.py": "x = 1\n"})).decode()}}),
]


@pytest.mark.parametrize(("case", "override"), BAD_FUNCTIONS, ids=[c for c, _ in BAD_FUNCTIONS])
def test_invalid_function_requests_are_400(
    shared_platform: PlatformProcess, shared_client: fc2.Client, case: str,
    override: dict[str, Any],
) -> None:
    service = new_service(shared_client)
    body: dict[str, Any] = {"functionName": "fn", "runtime": "python3",
                            "handler": "index.handler", "code": {"zipFile": b64zip()}}
    body.update(override)
    assert_fc_error(raw_create(shared_platform, service, body), 400, "InvalidArgument")
    # The same change as an update of an existing function is refused too (names excepted).
    if "functionName" in override or override.get(next(iter(override))) is None:
        return
    deploy(shared_client, service, "fn", ECHO)
    before = shared_client.get_function(service, "fn")
    response = httpx.put(f"{shared_platform.endpoint}{API}/services/{service}/functions/fn",
                         json=override)
    assert_fc_error(response, 400, "InvalidArgument")
    after = shared_client.get_function(service, "fn")
    assert after.headers["etag"] == before.headers["etag"]


def test_invalid_json_body_is_400(shared_platform: PlatformProcess,
                                  shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    assert_fc_error(raw_create(shared_platform, service, b'{"functionName": '), 400,
                    "InvalidArgument")
    assert_fc_error(raw_create(shared_platform, service, b"[]"), 400, "InvalidArgument")


def test_handler_in_subdirectory(
    shared_client: fc2.Client
) -> None:
    service = new_service(shared_client)
    fn = deploy(shared_client, service, "fn", {
        "src/app.py": "def handler(event, context):\n    return b'sub:' + event\n\n"
                      "def init(context):\n    pass\n",
        "src/__init__.py": "",
    }, handler="src/app.handler", initializer="src/app.init")
    assert fn["handler"] == "src/app.handler"
    assert shared_client.invoke_function(service, "fn", payload=b"1").data == b"sub:1"


@pytest.mark.slow
def test_code_zip_over_100_mb_is_refused_with_413(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = new_service(shared_client)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("index.py", "def handler(e, c):\n    return e\n")
        # Random data does not compress: the zip really is over 100 MB.
        archive.writestr("blob.bin", os.urandom(100 * 1024 * 1024 + 1024))
    zipped = buffer.getvalue()
    assert len(zipped) > 100 * 1024 * 1024
    body = json.dumps({"functionName": "big", "runtime": "python3", "handler": "index.handler",
                       "code": {"zipFile": base64.b64encode(zipped).decode()}}).encode()
    del zipped, buffer
    response = raw_create(shared_platform, service, body)
    assert_fc_error(response, 413, "EntityTooLarge")
    with raises_fc(404, "FunctionNotFound"):
        shared_client.get_function(service, "big")


def test_sync_payload_limit(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    deploy(shared_client, service, "fn", {
        "index.py": "def handler(event, context):\n    return str(len(event))\n",
    })
    limit = 6 * 1024 * 1024
    assert shared_client.invoke_function(service, "fn", payload=b"x" * limit).data == (
        str(limit).encode()
    )
    with raises_fc(413, "EntityTooLarge"):
        shared_client.invoke_function(service, "fn", payload=b"x" * (limit + 1))
    # Async events are smaller still (128 KB): a clear client error.
    async_headers = {"x-fc-invocation-type": "Async"}
    shared_client.invoke_function(service, "fn", payload=b"x" * 128 * 1024, headers=async_headers)
    with pytest.raises(fc2.FcError) as info:
        shared_client.invoke_function(service, "fn", payload=b"x" * (128 * 1024 + 1),
                                      headers=async_headers)
    assert 400 <= info.value.status_code < 500
    assert "128" in info.value.message


def test_parallel_creates_respect_the_function_limit(shared_client: fc2.Client) -> None:
    service = new_service(shared_client)
    url = f"{shared_client.endpoint}{API}/services/{service}/functions"
    body = {"runtime": "python3", "handler": "index.handler", "code": {"zipFile": b64zip()}}

    def create(i: int) -> int:
        response = httpx.post(url, json={**body, "functionName": f"p{i:02d}"}, timeout=60)
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(create, range(56)))
    assert statuses.count(200) == 50
    assert statuses.count(429) == 6
    names = shared_client.list_functions(service, limit=100).data["functions"]
    assert len(names) == 50


def test_code_dir_symlinks_inside_the_package_work(shared_client: fc2.Client,
                                                   tmp_path: Path) -> None:
    service = new_service(shared_client)
    code = write_code(tmp_path / "code", {
        "index.py": "import os\ndef handler(event, context):\n"
                    "    with open('current/settings.txt') as f:\n"
                    "        return f.read() + ':' + str(os.path.islink('current'))\n",
        "v2/settings.txt": "from v2",
    })
    os.symlink("v2", code / "current")
    shared_client.create_function(service, "fn", "python3", "index.handler", codeDir=str(code))
    assert shared_client.invoke_function(service, "fn").data == b"from v2:True"



def test_zip_entry_below_a_symlink_is_refused(
    shared_platform: PlatformProcess, shared_client: fc2.Client
) -> None:
    service = new_service(shared_client)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("escape")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc")
        archive.writestr("escape/passwd", "overwritten")
        archive.writestr("index.py", "def handler(event, context):\n    return 'x'\n")
    response = raw_create(shared_platform, service, {
        "functionName": "fn", "runtime": "python3", "handler": "index.handler",
        "code": {"zipFile": base64.b64encode(buffer.getvalue()).decode()},
    })
    assert response.status_code == 400, response.text
    assert response.json()["ErrorCode"] == "InvalidArgument"
    assert "below a symbolic link" in response.json()["ErrorMessage"]
