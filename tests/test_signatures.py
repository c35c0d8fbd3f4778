"""Request signatures: the FC scheme with access keys, and the safety rules without them."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import fc2
import httpx
import pytest
from fc2.auth import Auth

from fcompute.api import auth
from tests.conftest import API, assert_fc_error, deploy, raises_fc, unique
from tests.platform_process import PlatformProcess, free_port

KEY_ID = "AKID-test"
SECRET = "s3cret-value"
KEYS = {"FCOMPUTE_ACCESS_KEY_ID": KEY_ID, "FCOMPUTE_ACCESS_KEY_SECRET": SECRET}
ECHO = {"index.py": "def handler(event, context):\n    return b'got:' + event\n"}

@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(tmp_path_factory.mktemp("keyed") / "data", env=KEYS).start()
    yield running
    running.stop()


@pytest.fixture
def signed(keyed: PlatformProcess) -> fc2.Client:
    return fc2.Client(endpoint=keyed.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET)


def signed_headers(method: str, path: str, *, secret: str = SECRET, key_id: str = KEY_ID,
                   date: str | None = None, extra: dict[str, str] | None = None
                   ) -> dict[str, str]:
    headers = {"date": date or email.utils.formatdate(usegmt=True),
               "content-type": "application/json"}
    headers.update(extra or {})
    headers["authorization"] = Auth(key_id, secret).sign_request(method, path, headers)
    return headers


def test_unsigned_request_is_403(keyed: PlatformProcess) -> None:
    response = httpx.get(f"{keyed.endpoint}{API}/services")
    body = assert_fc_error(response, 403, "AccessDenied")
    assert "sign" in body["ErrorMessage"].lower()
    assert_fc_error(httpx.post(f"{keyed.endpoint}{API}/services", json={"serviceName": "x"}),
                    403, "AccessDenied")


def test_malformed_authorization_is_403(keyed: PlatformProcess) -> None:
    for value in ("Bearer abc", "FC no-colon", "fc AKID:sig"):
        response = httpx.get(f"{keyed.endpoint}{API}/services",
                             headers={"authorization": value,
                                      "date": email.utils.formatdate(usegmt=True)})
        assert response.status_code == 403
        assert response.json()["ErrorCode"] in ("SignatureNotMatch", "AccessDenied")


def test_wrong_secret_is_signature_not_match(keyed: PlatformProcess) -> None:
    client = fc2.Client(endpoint=keyed.endpoint, accessKeyID=KEY_ID, accessKeySecret="wrong")
    with raises_fc(403, "SignatureNotMatch"):
        client.list_services()
    with raises_fc(403, "SignatureNotMatch"):
        client.create_service(unique("svc"))


def test_unknown_key_id_is_invalid_access_key_id(keyed: PlatformProcess) -> None:
    client = fc2.Client(endpoint=keyed.endpoint, accessKeyID="nobody", accessKeySecret=SECRET)
    with raises_fc(403, "InvalidAccessKeyID"):
        client.list_services()


def test_signed_client_works_for_everything(signed: fc2.Client, tmp_path: Path) -> None:
    service = unique("svc")
    signed.create_service(service, description="signed")
    signed.update_service(service, description="still signed")
    for name in ("f_a", "f_b", "f_c"):
        deploy(signed, service, name, ECHO)
    signed.update_function(service, "f_a", description="x", environmentVariables={"A": "1"})
    # Query parameters are not part of the signed resource for management calls.
    first = signed.list_functions(service, limit=2, prefix="f_").data
    assert [f["functionName"] for f in first["functions"]] == ["f_a", "f_b"]
    second = signed.list_functions(service, limit=2, prefix="f_",
                                   nextToken=first["nextToken"]).data
    assert [f["functionName"] for f in second["functions"]] == ["f_c"]
    assert service in [s["serviceName"]
                       for s in signed.list_services(prefix=service, limit=5).data["services"]]
    assert signed.invoke_function(service, "f_a", payload=b"hello").data == b"got:hello"
    tail = signed.invoke_function(service, "f_a", payload=b"x",
                                  headers={"x-fc-log-type": "Tail", "x-fc-trace-id": "t-1"})
    assert tail.headers["x-fc-log-result"]
    signed.create_trigger(service, "f_b", "tick", "timer", {"cronExpression": "@every 5m"},
                          None, None)
    signed.update_trigger(service, "f_b", "tick", description="d")
    assert signed.list_triggers(service, "f_b", limit=1).data["triggers"][0]["description"] == "d"
    signed.get_trigger(service, "f_b", "tick")
    signed.delete_trigger(service, "f_b", "tick")
    code = signed.get_function_code(service, "f_a").data
    # The code link is presigned by the platform: it needs no FC signature.
    assert httpx.get(code["url"]).status_code == 200
    for name in ("f_a", "f_b", "f_c"):
        signed.delete_function(service, name)
    signed.delete_service(service)


def test_security_token_header_is_signed_too(keyed: PlatformProcess) -> None:
    client = fc2.Client(endpoint=keyed.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET,
                        securityToken="sts-token")
    assert "services" in client.list_services(limit=1).data


@pytest.mark.parametrize("skew", [-16 * 60, 16 * 60, -3600 * 24])
def test_skewed_date_is_403(signed: fc2.Client, skew: int) -> None:
    date = email.utils.formatdate(time.time() + skew, usegmt=True)
    # The SDK signs the date it is given: the signature is right, only the clock is off.
    with raises_fc(403):
        signed.list_services(headers={"date": date})


def test_slightly_skewed_date_is_accepted(signed: fc2.Client) -> None:
    date = email.utils.formatdate(time.time() - 10 * 60, usegmt=True)
    assert "services" in signed.list_services(headers={"date": date}).data


def test_missing_or_garbage_date_is_403(keyed: PlatformProcess) -> None:
    path = f"{API}/services"
    headers = signed_headers("GET", path, date="not a date")
    assert httpx.get(f"{keyed.endpoint}{path}", headers=headers).status_code == 403
    headers = signed_headers("GET", path)
    del headers["date"]
    assert httpx.get(f"{keyed.endpoint}{path}", headers=headers).status_code == 403


def test_tampering_breaks_the_signature(keyed: PlatformProcess, signed: fc2.Client) -> None:
    service = unique("svc")
    deploy(signed, service, "fn", ECHO)
    path = f"{API}/services/{service}/functions/fn/invocations"
    headers = signed_headers("POST", path, extra={"x-fc-log-type": "None"})
    ok = httpx.post(f"{keyed.endpoint}{path}", headers=headers, content=b"1")
    assert ok.status_code == 200
    assert ok.content == b"got:1"

    changed = dict(headers, **{"x-fc-log-type": "Tail"})  # a signed header changed
    assert_fc_error(httpx.post(f"{keyed.endpoint}{path}", headers=changed, content=b"1"),
                    403, "SignatureNotMatch")
    other = dict(headers, **{"x-fc-invocation-type": "Async"})  # an x-fc- header added
    assert_fc_error(httpx.post(f"{keyed.endpoint}{path}", headers=other, content=b"1"),
                    403, "SignatureNotMatch")
    # The same signature on another path or method.
    assert_fc_error(httpx.post(f"{keyed.endpoint}{API}/services/{service}/functions/x/invocations",
                               headers=headers, content=b"1"), 403, "SignatureNotMatch")
    typed = dict(headers, **{"content-type": "text/plain"})
    assert_fc_error(httpx.post(f"{keyed.endpoint}{path}", headers=typed, content=b"1"),
                    403, "SignatureNotMatch")


def test_without_keys_loopback_accepts_unsigned(platform: PlatformProcess) -> None:
    response = httpx.post(f"{platform.endpoint}{API}/services", json={"serviceName": "open"})
    assert response.status_code == 200
    assert httpx.get(f"{platform.endpoint}{API}/services/open").json()["serviceName"] == "open"
    # Any signature is ignored when no keys are configured.
    client = fc2.Client(endpoint=platform.endpoint, accessKeyID="any", accessKeySecret="thing")
    assert client.get_service("open").data["serviceName"] == "open"


def run_serve(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPUTE_")}
    clean.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fcompute.cli.main", "serve", "--port", str(port),
         "--storage-port", str(free_port()), "--data-dir", str(tmp_path / "data"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean,
    )
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"fcompute serve kept running instead of refusing:\n{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_serving_beyond_loopback_without_keys_is_refused(tmp_path: Path) -> None:
    result = run_serve("--host", "0.0.0.0", env={}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "0.0.0.0" in result.stderr
    assert "FCOMPUTE_ACCESS_KEY_ID" in result.stderr
    assert "Traceback" not in result.stderr


def test_platform_signature_matches_the_sdk_for_proxy_queries() -> None:
    # The verifier and the SDK's signer agree on a proxy path with an encoded query.
    path = f"{API}/proxy/svc/fn/a b/c"
    params = {"k": "v 1", "z": "", "a": "x=y"}
    headers = {"date": email.utils.formatdate(usegmt=True), "content-type": "text/plain",
               "x-fc-trace-id": "trace"}
    headers["authorization"] = Auth(KEY_ID, SECRET).sign_request("GET", path, headers, params)
    query = "k=v+1&z=&a=x%3Dy"
    assert auth.verify({KEY_ID: SECRET}, "GET", path, query, headers) == KEY_ID
    with pytest.raises(Exception, match="signature"):
        auth.verify({KEY_ID: SECRET}, "GET", path, "k=v+2&z=&a=x%3Dy", headers)


def test_instances_do_not_see_the_platform_keys(signed: fc2.Client) -> None:
    service = unique("svc")
    deploy(signed, service, "env", {"index.py": """
        import json, os

        def handler(event, context):
            return json.dumps(dict(os.environ))
    """})
    env = json.loads(signed.invoke_function(service, "env").data)
    assert not [name for name in env if name.startswith("FCOMPUTE_")]
    assert SECRET not in json.dumps(env)


@pytest.mark.parametrize("date", ["Mon, 01 Jan 100000000000000000000 00:00:00 GMT",
                                  "Mon, 01 Jan 2024 00:00:99999999999999999999 GMT",
                                  "Mon, 01 Jan 2024 99:00:00 GMT",
                                  "Mon, 01 Jan 2024 00:00:00 +99999999999999999999999"])
def test_signed_out_of_range_dates_are_403(keyed: PlatformProcess, date: str) -> None:
    # The signature is right; the date parses as a date but overflows.
    path = f"{API}/services"
    response = httpx.get(f"{keyed.endpoint}{path}", headers=signed_headers("GET", path,
                                                                         date=date))
    assert_fc_error(response, 403, "AccessDenied")


def md5_base64(body: bytes, *, hex_digits: bool = False) -> str:
    digest = hashlib.md5(body)
    raw = digest.hexdigest().encode() if hex_digits else digest.digest()
    return base64.b64encode(raw).decode()


def test_content_md5_binds_the_body_to_the_signature(keyed: PlatformProcess,
                                                     signed: fc2.Client) -> None:
    service = unique("svc")
    signed.create_service(service)
    path = f"{API}/services/{service}"
    body = json.dumps({"description": "signed body"}).encode()
    headers = signed_headers("PUT", path, extra={"content-md5": md5_base64(body)})
    ok = httpx.put(f"{keyed.endpoint}{path}", headers=headers, content=body)
    assert ok.status_code == 200, ok.text
    assert ok.json()["description"] == "signed body"
    # The captured request replayed within the Date window with another body.
    forged = json.dumps({"description": "forged"}).encode()
    replayed = httpx.put(f"{keyed.endpoint}{path}", headers=headers, content=forged)
    assert "Content-MD5" in assert_fc_error(replayed, 400, "InvalidArgument")["ErrorMessage"]
    # Dropping the header breaks the signature instead.
    stripped = {k: v for k, v in headers.items() if k != "content-md5"}
    assert_fc_error(httpx.put(f"{keyed.endpoint}{path}", headers=stripped, content=forged),
                    403, "SignatureNotMatch")
    assert signed.get_service(service).data["description"] == "signed body"


def test_content_md5_as_the_node_sdk_sends_it(keyed: PlatformProcess,
                                              signed: fc2.Client) -> None:
    service = unique("svc")
    signed.create_service(service)
    path = f"{API}/services/{service}"
    body = json.dumps({"description": "node"}).encode()
    for header in (md5_base64(body, hex_digits=True),
                   base64.b64encode(hashlib.md5(body).hexdigest().upper().encode()).decode()):
        headers = signed_headers("PUT", path, extra={"content-md5": header})
        response = httpx.put(f"{keyed.endpoint}{path}", headers=headers, content=body)
        assert response.status_code == 200, response.text
    for malformed in ("not base64!", base64.b64encode(b"short").decode(),
                      hashlib.md5(body).hexdigest()):
        headers = signed_headers("PUT", path, extra={"content-md5": malformed})
        response = httpx.put(f"{keyed.endpoint}{path}", headers=headers, content=body)
        assert_fc_error(response, 400, "InvalidArgument")


def test_content_md5_on_the_invoke_path(keyed: PlatformProcess, signed: fc2.Client) -> None:
    service = unique("svc")
    deploy(signed, service, "fn", ECHO)
    path = f"{API}/services/{service}/functions/fn/invocations"
    headers = signed_headers("POST", path, extra={"content-md5": md5_base64(b"event")})
    ok = httpx.post(f"{keyed.endpoint}{path}", headers=headers, content=b"event")
    assert ok.content == b"got:event"
    assert_fc_error(httpx.post(f"{keyed.endpoint}{path}", headers=headers, content=b"other"),
                    400, "InvalidArgument")
    for kind in ("Async", "Sync"):
        forged = signed_headers("POST", path, extra={"content-md5": md5_base64(b"event"),
                                                     "x-fc-invocation-type": kind})
        response = httpx.post(f"{keyed.endpoint}{path}", headers=forged, content=b"other")
        assert_fc_error(response, 400, "InvalidArgument")
