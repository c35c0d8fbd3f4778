"""Functions and the object store: boto3 and oss2 inside a function reach the platform's
store with no keys or addresses in its code, on short-lived credentials that the platform
replaces before they expire; a service with ``internetAccess: false`` reaches the store
and nothing else.

Instances run their interpreter without site-packages (``python -I -S``), as a function
package carries its dependencies on FC: the functions here have boto3, oss2 and their
dependencies vendored into their code zip, copied from the test environment (botocore
with its S3 model only) and compiled once.
"""

from __future__ import annotations

import calendar
import compileall
import hashlib
import json
import os
import py_compile
import shutil
import socket
import stat
import textwrap
import threading
import time
import warnings
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import fc2
import httpx
import oss2
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from packaging.requirements import Requirement

from fcompute.objectstore.credentials import StorageKeys
from tests.attacks.support import require_linux_sandbox
from tests.conftest import API, unique, wait_for
from tests.platform_process import PlatformProcess

KEY_ID, SECRET = "AKIDFUNCSTORE", "function-store-secret"
KEYS_ENV = {"FCOMPUTE_ACCESS_KEY_ID": KEY_ID, "FCOMPUTE_ACCESS_KEY_SECRET": SECRET}
REGION = "local"
TTL_SECONDS = 8  # the short-lived platform's credentials (--function-credentials-ttl)
MB = 1024 * 1024
LINUX_ONLY: pytest.MarkDecorator = require_linux_sandbox()

# What a function is given, in the names each client reads.
ID_VARIABLES = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "accessKeyID", "AWS_ACCESS_KEY_ID",
                "OSS_ACCESS_KEY_ID")
SECRET_VARIABLES = ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "accessKeySecret",
                    "AWS_SECRET_ACCESS_KEY", "OSS_ACCESS_KEY_SECRET")
TOKEN_VARIABLES = ("ALIBABA_CLOUD_SECURITY_TOKEN", "securityToken", "AWS_SESSION_TOKEN",
                   "OSS_SESSION_TOKEN")
ADDRESS_VARIABLES = ("FC_OSS_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION",
                     "AWS_CREDENTIAL_EXPIRATION", "AWS_ENDPOINT_URL")
REPORTED = ID_VARIABLES + SECRET_VARIABLES + TOKEN_VARIABLES + ADDRESS_VARIABLES

# Installed distributions whose files (and those of what they require) go into the zip.
VENDORED = ("boto3", "oss2")
# botocore's models of every AWS service weigh 28 MB; S3 needs its own and these.
BOTOCORE_DATA = ("s3", "_retry.json", "endpoints.json", "partitions.json",
                 "sdk-default-configuration.json")

HANDLERS = f"""
import hashlib
import json
import os
import socket
import threading
import urllib.error
import urllib.request

import boto3
import oss2
from botocore.config import Config

INSTANCE = os.urandom(8).hex()
REPORTED = {REPORTED!r}
AT_INIT = {{}}
# Made at import, from the environment alone: it must follow credential replacements.
S3_AT_IMPORT = boto3.client("s3", config=Config(retries={{"total_max_attempts": 1}}))


def credentials_of(context):
    c = context.credentials
    return {{"accessKeyId": c.access_key_id, "accessKeySecret": c.access_key_secret,
            "securityToken": c.security_token}}


def initializer(context):
    AT_INIT.update(credentials_of(context))


def report(event, context):
    return json.dumps({{"instance": INSTANCE, "context": credentials_of(context),
                       "atInit": AT_INIT, "env": {{k: os.environ.get(k) for k in REPORTED}}}})


def web(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    context = environ["fc.context"]
    return [json.dumps({{"instance": INSTANCE, "context": credentials_of(context),
                        "env": {{k: os.environ.get(k) for k in REPORTED}}}}).encode()]


def s3_roundtrip(event, context):
    args = json.loads(event)
    s3 = boto3.client("s3")  # no keys, no endpoint: the environment has them
    body = os.urandom(args["size"])
    s3.put_object(Bucket=args["bucket"], Key=args["key"], Body=body)
    got = s3.get_object(Bucket=args["bucket"], Key=args["key"])["Body"].read()
    theirs = s3.get_object(Bucket=args["bucket"], Key=args["theirs"])["Body"].read()
    return json.dumps({{"md5": hashlib.md5(body).hexdigest(), "same": got == body,
                       "theirs": theirs.decode(), "instance": INSTANCE}})


def s3_at_import(event, context):
    args = json.loads(event)
    S3_AT_IMPORT.put_object(Bucket=args["bucket"], Key=args["key"], Body=args["body"].encode())
    return json.dumps({{"instance": INSTANCE, "context": credentials_of(context)}})


def s3_parallel(event, context):
    # Several connections through the store at once, each with its own object.
    args = json.loads(event)
    s3 = boto3.client("s3", config=Config(max_pool_connections=args["count"]))
    results = [None] * args["count"]

    def one(index):
        body = os.urandom(args["size"])
        key = f"{{args['prefix']}}/{{index}}"
        s3.put_object(Bucket=args["bucket"], Key=key, Body=body)
        results[index] = s3.get_object(Bucket=args["bucket"], Key=key)["Body"].read() == body

    threads = [threading.Thread(target=one, args=(i,)) for i in range(args["count"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return json.dumps(results)


def oss_roundtrip(event, context):
    args = json.loads(event)
    c = context.credentials
    endpoint = os.environ["FC_OSS_ENDPOINT"]
    bucket = oss2.Bucket(oss2.StsAuth(c.access_key_id, c.access_key_secret, c.security_token),
                         endpoint, args["bucket"])
    body = os.urandom(args["size"])
    bucket.put_object(args["key"], body)
    got = bucket.get_object(args["key"]).read()
    # The other way FC documents: credentials from the environment.
    from_env = oss2.Bucket(
        oss2.ProviderAuth(oss2.credentials.EnvironmentVariableCredentialsProvider()),
        endpoint, args["bucket"])
    theirs = from_env.get_object(args["theirs"]).read()
    return json.dumps({{"md5": hashlib.md5(body).hexdigest(), "same": got == body,
                       "theirs": theirs.decode()}})


def reach(event, context):
    # Which of these TCP addresses accept a connection, and what an HTTP GET of the store
    # answers.
    answers = {{}}
    for host, port in json.loads(event):
        try:
            socket.create_connection((host, port), timeout=3).close()
            answers[f"{{host}}:{{port}}"] = "connected"
        except OSError as exc:
            answers[f"{{host}}:{{port}}"] = type(exc).__name__
    try:
        response = urllib.request.urlopen(os.environ["FC_OSS_ENDPOINT"] + "/", timeout=5)
        status, headers = response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, dict(exc.headers)
    answers["store"] = {{"status": status, "headers": {{k.lower(): v for k, v in headers.items()}}}}
    return json.dumps(answers)
"""


# -- the code package ---------------------------------------------------------------------


def requirement_closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The distributions ``names`` need, themselves included (extras left out)."""
    found: dict[str, metadata.Distribution] = {}
    waiting = list(names)
    while waiting:
        distribution = metadata.distribution(waiting.pop())
        key = distribution.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = distribution
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                waiting.append(requirement.name)
    return list(found.values())


def build_package(root: Path) -> Path:
    """The handlers plus boto3, oss2 and everything they need, as a function zip."""
    tree = root / "tree"
    for distribution in requirement_closure(VENDORED):
        for file in distribution.files or []:
            relative = Path(str(file))
            if relative.parts[0] == ".." or "__pycache__" in relative.parts:
                continue  # scripts outside site-packages; bytecode is made below
            if relative.parts[:2] == ("botocore", "data") and len(relative.parts) > 2 \
                    and relative.parts[2] not in BOTOCORE_DATA:
                continue
            target = tree / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(str(file.locate())), target)
    (tree / "index.py").write_text(textwrap.dedent(HANDLERS))
    # /code is read-only inside instances: without bytecode every cold start would compile
    # the whole of botocore. Hash-based, unchecked: valid whatever times the zip keeps.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # old escape sequences in the vendored sources
        assert compileall.compile_dir(tree, quiet=1, workers=2, invalidation_mode=(
            py_compile.PycInvalidationMode.UNCHECKED_HASH))
    package = root / "code.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(tree).as_posix())
    return package


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("function-store-code"))


# -- platforms and clients ----------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """A platform with access keys: the store checks every signature and token."""
    running = PlatformProcess(tmp_path_factory.mktemp("fnstore") / "data", env=KEYS_ENV).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(tmp_path_factory.mktemp("fnstore-ttl") / "data",
                              "--function-credentials-ttl", str(TTL_SECONDS),
                              env=KEYS_ENV).start()
    yield running
    running.stop()


def fc_client(platform: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=platform.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET)


def s3_client(platform: PlatformProcess, key: str = KEY_ID, secret: str = SECRET,
              token: str | None = None) -> Any:
    return boto3.client("s3", endpoint_url=platform.storage_endpoint, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        aws_session_token=token,
                        config=Config(retries={"total_max_attempts": 1}))


def oss_bucket(platform: PlatformProcess, name: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(KEY_ID, SECRET), platform.storage_endpoint, name)


def new_bucket(platform: PlatformProcess, text: str = "put by the test") -> tuple[str, str]:
    """A bucket holding one object the test put: (bucket, key)."""
    name = unique("fnstore")
    bucket = oss_bucket(platform, name)
    bucket.create_bucket()
    bucket.put_object("from-test.txt", text.encode())
    return name, "from-test.txt"


def deploy(platform: PlatformProcess, package: Path, handler: str, *,
           internet: bool = True, **options: Any) -> tuple[str, str]:
    client = fc_client(platform)
    service = unique("fnstore")
    client.create_service(service, internetAccess=internet)
    options.setdefault("timeout", 60)
    with warnings.catch_warnings():
        # fc2 reads codeZipFile through a file it leaves to the garbage collector.
        warnings.simplefilter("ignore", ResourceWarning)
        client.create_function(service, "fn", "python3", f"index.{handler}",
                               codeZipFile=str(package), memorySize=512, **options)
    return service, "fn"


def invoke(platform: PlatformProcess, service: str, function: str, event: Any = None) -> Any:
    payload = json.dumps(event).encode() if event is not None else b""
    response = fc_client(platform).invoke_function(service, function, payload=payload)
    data = response.data
    assert "x-fc-error-type" not in {k.lower() for k in response.headers}, data
    return json.loads(data)


def scope_of(platform: PlatformProcess, credentials: dict[str, str]) -> str:
    """Whom the platform issued these credentials to ("" when they are not valid now),
    checked with the platform's own secret."""
    keys = StorageKeys({KEY_ID: SECRET}, (platform.data_dir / "secret").read_bytes())
    if keys.secret(credentials["accessKeyId"], credentials["securityToken"]) != \
            credentials["accessKeySecret"]:
        return ""
    return keys.scope(credentials["accessKeyId"], credentials["securityToken"])


def assert_refused(error: ClientError, what: str) -> None:
    """S3's answers to credentials it does not take (a bad token is a 400 on S3 itself)."""
    status = error.response["ResponseMetadata"]["HTTPStatusCode"]
    code = error.response["Error"]["Code"]
    assert (status, code) in {(400, "InvalidToken"), (400, "ExpiredToken"),
                              (403, "AccessDenied"), (403, "InvalidAccessKeyId"),
                              (403, "SignatureDoesNotMatch")}, (what, status, code)


def uses_linux_sandbox(platform: PlatformProcess) -> bool:
    return "linux sandbox ready" in platform.log_text()


# -- what an instance is given ------------------------------------------------------------


def test_an_instance_gets_temporary_credentials_and_the_store_address(
        keyed: PlatformProcess, package: Path) -> None:
    service, function = deploy(keyed, package, "report", initializer="index.initializer",
                               initializationTimeout=30)
    seen = invoke(keyed, service, function)
    credentials, env = seen["context"], seen["env"]
    assert credentials["accessKeyId"].startswith("STS.")
    assert scope_of(keyed, credentials) == f"{service}/{function}"
    assert seen["atInit"] == credentials  # the initializer had them too
    for names, field in ((ID_VARIABLES, "accessKeyId"), (SECRET_VARIABLES, "accessKeySecret"),
                         (TOKEN_VARIABLES, "securityToken")):
        for name in names:
            assert env[name] == credentials[field], name
    assert env["FC_OSS_ENDPOINT"] == env["AWS_ENDPOINT_URL_S3"] == keyed.storage_endpoint
    assert env["AWS_DEFAULT_REGION"] == REGION
    # Only S3 is here: other AWS services are not sent to the store.
    assert env["AWS_ENDPOINT_URL"] is None
    expiration = calendar.timegm(time.strptime(env["AWS_CREDENTIAL_EXPIRATION"],
                                               "%Y-%m-%dT%H:%M:%SZ"))
    assert time.time() + 1800 < expiration <= time.time() + 3600 + 1

    # Another function, another scope; the same function's next invocation, the same ones.
    other_service, other = deploy(keyed, package, "report")
    theirs = invoke(keyed, other_service, other)["context"]
    assert scope_of(keyed, theirs) == f"{other_service}/{other}"
    assert theirs["accessKeyId"] != credentials["accessKeyId"]
    assert invoke(keyed, service, function)["context"] == credentials


def test_http_trigger_invocations_get_them_too(keyed: PlatformProcess, package: Path) -> None:
    service, function = deploy(keyed, package, "web")
    fc_client(keyed).create_trigger(service, function, "http", "http",
                                    {"authType": "anonymous", "methods": ["GET"]}, None, None)
    seen = httpx.get(f"{keyed.endpoint}{API}/proxy/{service}/{function}/", timeout=60).json()
    assert scope_of(keyed, seen["context"]) == f"{service}/{function}"
    assert seen["env"]["AWS_ACCESS_KEY_ID"] == seen["context"]["accessKeyId"]


def test_a_function_with_aws_keys_of_its_own_keeps_them(
        keyed: PlatformProcess, package: Path) -> None:
    own = {"AWS_ACCESS_KEY_ID": "AKIAOWN", "AWS_SECRET_ACCESS_KEY": "own-secret",
           "AWS_DEFAULT_REGION": "eu-west-1", "OSS_ACCESS_KEY_ID": "LTAIown",
           "OSS_ACCESS_KEY_SECRET": "own-oss-secret"}
    service, function = deploy(keyed, package, "report", environmentVariables=own)
    seen = invoke(keyed, service, function)
    env = seen["env"]
    for name, value in own.items():
        assert env[name] == value, name
    # Nothing of the platform's mixes in with them (a token of ours would spoil their keys).
    for name in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_CREDENTIAL_EXPIRATION",
                 "OSS_SESSION_TOKEN"):
        assert env[name] is None, name
    # FC's own names and the store's address stay the platform's.
    assert env["ALIBABA_CLOUD_ACCESS_KEY_ID"] == seen["context"]["accessKeyId"]
    assert env["FC_OSS_ENDPOINT"] == keyed.storage_endpoint


# -- boto3 and oss2 inside functions ------------------------------------------------------


def test_boto3_in_a_function_puts_and_gets_with_no_keys_in_its_code(
        keyed: PlatformProcess, package: Path) -> None:
    bucket, theirs = new_bucket(keyed, "for boto3")
    service, function = deploy(keyed, package, "s3_roundtrip")
    result = invoke(keyed, service, function,
                    {"bucket": bucket, "key": "by-boto3.bin", "size": 3 * MB, "theirs": theirs})
    assert result["same"] is True
    assert result["theirs"] == "for boto3"
    stored = oss_bucket(keyed, bucket).get_object("by-boto3.bin").read()
    assert hashlib.md5(stored).hexdigest() == result["md5"]


def test_oss2_in_a_function_puts_and_gets_with_no_keys_in_its_code(
        keyed: PlatformProcess, package: Path) -> None:
    bucket, theirs = new_bucket(keyed, "for oss2")
    service, function = deploy(keyed, package, "oss_roundtrip")
    result = invoke(keyed, service, function,
                    {"bucket": bucket, "key": "by-oss2.bin", "size": 2 * MB, "theirs": theirs})
    assert result["same"] is True
    assert result["theirs"] == "for oss2"
    stored = oss_bucket(keyed, bucket).get_object("by-oss2.bin").read()
    assert hashlib.md5(stored).hexdigest() == result["md5"]


def test_the_process_backend_connects_its_instances_the_same_way(
        make_platform: Any, package: Path) -> None:
    # No network of their own there: without internet access too, the store is at its port.
    plain = make_platform("--sandbox", "process", env=KEYS_ENV, name="plain")
    bucket, theirs = new_bucket(plain, "plain process")
    for internet in (True, False):
        service, function = deploy(plain, package, "s3_roundtrip", internet=internet)
        result = invoke(plain, service, function,
                        {"bucket": bucket, "key": f"{internet}.bin", "size": MB,
                         "theirs": theirs})
        assert result["same"] is True
        assert result["theirs"] == "plain process"


def test_a_forged_token_is_refused(keyed: PlatformProcess, package: Path) -> None:
    bucket, theirs = new_bucket(keyed)
    service, function = deploy(keyed, package, "report")
    credentials = invoke(keyed, service, function)["context"]
    genuine = s3_client(keyed, credentials["accessKeyId"], credentials["accessKeySecret"],
                        credentials["securityToken"])
    assert genuine.get_object(Bucket=bucket, Key=theirs)["Body"].read() == b"put by the test"
    payload, _, seal = credentials["securityToken"].partition(".")
    forgeries = [
        # Another scope and a later expiry, under the genuine seal.
        payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + seal,
        # The genuine claims, sealed by someone without the platform's secret.
        payload + "." + seal[:-1] + ("A" if seal[-1] != "A" else "B"),
        "",
    ]
    for token in forgeries:
        forged = s3_client(keyed, credentials["accessKeyId"], credentials["accessKeySecret"],
                           token or None)
        with pytest.raises(ClientError) as refused:
            forged.get_object(Bucket=bucket, Key=theirs)
        assert_refused(refused.value, token)


# -- credentials outlive no TTL, instances do ----------------------------------------------


def test_credentials_are_replaced_before_they_expire_and_expired_ones_are_refused(
        short_lived: PlatformProcess, package: Path) -> None:
    bucket, theirs = new_bucket(short_lived)
    # Credentials live TTL_SECONDS (at least twice the timeout and a second), and are
    # replaced at half of it.
    service, function = deploy(short_lived, package, "s3_at_import", timeout=3)
    first = invoke(short_lived, service, function,
                   {"bucket": bucket, "key": "one", "body": "first"})
    old = first["context"]
    issued_at = time.time()
    assert scope_of(short_lived, old) == f"{service}/{function}"

    time.sleep(TTL_SECONDS / 2 + 0.5)
    second = invoke(short_lived, service, function,
                    {"bucket": bucket, "key": "two", "body": "second"})
    assert second["instance"] == first["instance"]  # the same instance ...
    new = second["context"]
    assert new["accessKeyId"] != old["accessKeyId"]  # ... with new credentials
    assert scope_of(short_lived, new) == f"{service}/{function}"
    # The client made at import read them from the environment: both writes went through.
    bucket_view = oss_bucket(short_lived, bucket)
    assert bucket_view.get_object("two").read() == b"second"

    # Past their expiry the old ones are refused by the store.
    assert wait_for(lambda: not scope_of(short_lived, old),
                    max(0.0, issued_at + TTL_SECONDS + 1 - time.time()), interval=0.2)
    expired = s3_client(short_lived, old["accessKeyId"], old["accessKeySecret"],
                        old["securityToken"])
    with pytest.raises(ClientError) as refused:
        expired.get_object(Bucket=bucket, Key=theirs)
    assert_refused(refused.value, "expired")


# -- internetAccess: false -----------------------------------------------------------------


class Listener:
    """A TCP server on the host's loopback that a function must not reach."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def host_address() -> str:
    """One of this host's addresses other than 127.0.0.1 (another loopback one at worst)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            address = str(probe.getsockname()[0])
        except OSError:
            address = "127.0.0.1"
    return "127.0.0.2" if address == "127.0.0.1" else address


@LINUX_ONLY
def test_without_internet_access_the_store_is_reachable_and_nothing_else(
        keyed: PlatformProcess, package: Path) -> None:
    if not uses_linux_sandbox(keyed):
        pytest.skip("the platform runs the process backend: it confines no network")
    listener = Listener()
    try:
        # The store's port on another of the host's addresses stands for "the network".
        targets = [["127.0.0.1", keyed.port], ["127.0.0.1", listener.port],
                   [host_address(), keyed.storage_port], ["127.0.0.1", keyed.storage_port]]
        closed_service, closed = deploy(keyed, package, "reach", internet=False)
        open_service, opened = deploy(keyed, package, "reach")
        inside = invoke(keyed, closed_service, closed, targets)
        outside = invoke(keyed, open_service, opened, targets)
    finally:
        listener.close()
    api, test_server, host_storage, storage = (f"{host}:{port}" for host, port in targets)
    # With internet access everything on the host's loopback answers ...
    assert outside[api] == outside[test_server] == outside[storage] == "connected"
    # ... without, only the store, at the same address.
    assert inside[storage] == "connected"
    assert inside[api] == inside[test_server] == "ConnectionRefusedError"
    assert inside[host_storage] != "connected"
    assert listener.accepted == 1  # the function with internet access
    for seen in (inside, outside):
        # The store itself answered (its own request id, not the FC API's).
        headers = seen["store"]["headers"]
        assert "x-fc-request-id" not in headers
        assert "x-amz-request-id" in headers or "x-oss-request-id" in headers


@LINUX_ONLY
def test_boto3_and_oss2_without_internet_access(keyed: PlatformProcess, package: Path) -> None:
    if not uses_linux_sandbox(keyed):
        pytest.skip("the platform runs the process backend: it confines no network")
    bucket, theirs = new_bucket(keyed, "through the relay")
    s3_service, s3_function = deploy(keyed, package, "s3_roundtrip", internet=False)
    result = invoke(keyed, s3_service, s3_function,
                    {"bucket": bucket, "key": "big.bin", "size": 24 * MB, "theirs": theirs})
    assert result["same"] is True
    assert result["theirs"] == "through the relay"
    stored = oss_bucket(keyed, bucket).get_object("big.bin").read()
    assert hashlib.md5(stored).hexdigest() == result["md5"]

    oss_service, oss_function = deploy(keyed, package, "oss_roundtrip", internet=False)
    result = invoke(keyed, oss_service, oss_function,
                    {"bucket": bucket, "key": "oss.bin", "size": MB, "theirs": theirs})
    assert result["same"] is True
    assert result["theirs"] == "through the relay"

    parallel_service, parallel = deploy(keyed, package, "s3_parallel", internet=False)
    assert invoke(keyed, parallel_service, parallel,
                  {"bucket": bucket, "prefix": "parallel", "count": 8, "size": MB}) == [True] * 8


# -- the store's Unix socket ---------------------------------------------------------------


def test_the_store_answers_on_its_unix_socket(platform: PlatformProcess) -> None:
    path = platform.data_dir / "run" / "storage.sock"
    assert stat.S_ISSOCK(path.stat().st_mode)
    # Any instance uid may connect; nothing else of the directory is open to them.
    assert stat.S_IMODE(path.stat().st_mode) == 0o666
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as client:
        response = client.get(f"http://127.0.0.1:{platform.storage_port}/")
        # The store's answer, not the FC API's.
        assert "x-fc-request-id" not in response.headers
        assert response.headers.get("x-amz-request-id") or response.headers.get(
            "x-oss-request-id")
        # The FC API's paths are not served there.
        services = client.get(f"http://127.0.0.1:{platform.storage_port}{API}/services")
        assert "x-fc-request-id" not in services.headers
    platform.stop()
    assert not os.path.exists(path)  # removed on the way out
    platform.start()  # and made anew
    assert stat.S_ISSOCK(path.stat().st_mode)
