"""The ``fcompute`` CLI run as a real subprocess against a real platform, and scripts/demo."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fcompute.sdk import Client
from tests.conftest import unique, wait_for, write_code
from tests.platform_process import PlatformProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"FCOMPUTE_ACCESS_KEY_ID": "cli-key", "FCOMPUTE_ACCESS_KEY_SECRET": "cli-secret"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CODE = {"index.py": """
    import json, os

    def handler(event, context):
        print("log: got", len(event), "bytes")
        return b"v1:" + event

    def env(event, context):
        return json.dumps({k: v for k, v in os.environ.items() if k in ("A", "B", "C")})

    def fail(event, context):
        print("about to fail")
        raise ValueError("no good")

    def record(event, context):
        print("recorded", event.decode(), "in", context.request_id)
        return b""

    def web(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"web:" + environ["REQUEST_METHOD"].encode()]
"""}


def cli(
    *args: str, endpoint: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs ``fcompute ARGS`` with only the FCOMPUTE_* variables given here."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPUTE_")}
    environ["FCOMPUTE_ENDPOINT"] = endpoint
    environ.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "fcompute.cli.main", *args], input=stdin, capture_output=True,
        env=environ, timeout=60, cwd=ROOT, check=False,
    )
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(),
                                       done.stderr.decode())


def assert_one_line_error(done: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("fcompute: ")
    for part in parts:
        assert part in done.stderr


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(shared_platform: PlatformProcess) -> Run:
    def invoke(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
               ) -> subprocess.CompletedProcess[str]:
        return cli(*args, endpoint=shared_platform.endpoint, env=env, stdin=stdin)

    return invoke


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    return write_code(tmp_path / "code", CODE)


@pytest.fixture
def deployed(run: Run, code_dir: Path) -> str:
    """A fresh service with function ``f`` (index.handler); returns the service name."""
    service = unique("cli")
    done = run("deploy", str(code_dir), "--service", service, "--function", "f",
               "--handler", "index.handler")
    assert done.returncode == 0, done.stderr
    return service


def checksum_of(output: str) -> str:
    found = re.search(r"checksum (\d+)", output)
    assert found, output
    return found.group(1)


def test_deploy_creates_then_updates(
    run: Run, code_dir: Path, shared_platform: PlatformProcess
) -> None:
    service = unique("deploy")
    args = ["deploy", str(code_dir), "--service", service, "--function", "f",
            "--handler", "index.handler", "--memory", "512", "--timeout", "9",
            "--env", "A=1", "B=x=y"]
    first = run(*args)
    assert first.returncode == 0, first.stderr
    assert f"created service {service}" in first.stdout
    assert f"created function {service}/f" in first.stdout
    with Client(shared_platform.endpoint) as fc:
        function = fc.get_function(service, "f")
    assert (function.memory_size, function.timeout) == (512, 9)
    assert function.environment == {"A": "1", "B": "x=y"}
    assert function.code_checksum == checksum_of(first.stdout)

    (code_dir / "index.py").write_text((code_dir / "index.py").read_text().replace("v1:", "v2:"))
    second = run("deploy", str(code_dir), "--service", service, "--function", "f",
                 "--handler", "index.handler", "--env", "C=3")
    assert second.returncode == 0, second.stderr
    assert "created service" not in second.stdout
    assert f"updated function {service}/f" in second.stdout
    assert checksum_of(second.stdout) != checksum_of(first.stdout)
    with Client(shared_platform.endpoint) as fc:
        function = fc.get_function(service, "f")
    # Deploy is declarative: left-out options fall back to their defaults.
    assert (function.memory_size, function.timeout) == (256, 60)
    assert function.environment == {"C": "3"}
    assert run("invoke", f"{service}/f", "--event", "x").stdout == "v2:x"


def test_deploy_rejects_bad_input(run: Run, code_dir: Path, tmp_path: Path) -> None:
    base = ["--service", unique("bad"), "--function", "f", "--handler", "index.handler"]
    assert_one_line_error(run("deploy", str(tmp_path / "missing"), *base), "is not a directory")
    assert_one_line_error(run("deploy", str(code_dir), *base, "--env", "NOEQUALS"),
                          "invalid --env 'NOEQUALS'")
    assert_one_line_error(run("deploy", str(code_dir), *base, "--memory", "100"),
                          "InvalidArgument: memorySize")


def test_deploy_http_trigger_once(run: Run, code_dir: Path, shared_platform: PlatformProcess
                                  ) -> None:
    service = unique("web")
    args = ["deploy", str(code_dir), "--service", service, "--function", "web",
            "--handler", "index.web", "--http-trigger"]
    first = run(*args)
    assert first.returncode == 0, first.stderr
    assert f"created http trigger {service}/web/http" in first.stdout
    url = f"{shared_platform.endpoint}/2016-08-15/proxy/{service}/web/"
    assert f"http trigger url: {url}" in first.stdout
    second = run(*args)
    assert second.returncode == 0, second.stderr
    assert "created http trigger" not in second.stdout
    for method in ("GET", "POST", "PUT", "DELETE"):
        response = httpx.request(method, url + "x")
        assert (response.status_code, response.text) == (200, f"web:{method}")
    listed = json.loads(run("ls", f"{service}/web", "--json").stdout)
    assert [(t["triggerName"], t["triggerConfig"]["authType"]) for t in listed] == [
        ("http", "anonymous")]


def test_invoke_event_inline_file_and_stdin(run: Run, deployed: str, tmp_path: Path) -> None:
    target = f"{deployed}/f"
    inline = run("invoke", target, "--event", '{"name": "you"}')
    assert (inline.returncode, inline.stdout, inline.stderr) == (0, 'v1:{"name": "you"}', "")
    event_file = tmp_path / "event.json"
    event_file.write_bytes(b'{"from": "file"}\n')
    from_file = run("invoke", target, "--event", f"@{event_file}")
    assert from_file.stdout == 'v1:{"from": "file"}\n'
    assert run("invoke", target, "--event", "@-", stdin=b"piped").stdout == "v1:piped"
    assert run("invoke", target).stdout == "v1:"
    assert_one_line_error(run("invoke", target, "--event", f"@{tmp_path / 'nope.json'}"),
                          "cannot read event file")


def test_invoke_tail_prints_log_to_stderr(run: Run, deployed: str) -> None:
    done = run("invoke", f"{deployed}/f", "--event", "abc", "--tail")
    assert done.returncode == 0
    assert done.stdout == "v1:abc"
    assert "FC Invoke Start RequestId:" in done.stderr
    assert "log: got 3 bytes" in done.stderr
    assert "FC Invoke End RequestId:" in done.stderr


def test_invoke_async_prints_request_id(
    run: Run, code_dir: Path, shared_platform: PlatformProcess
) -> None:
    service = unique("async")
    assert run("deploy", str(code_dir), "--service", service, "--function", "rec",
               "--handler", "index.record").returncode == 0
    done = run("invoke", f"{service}/rec", "--async", "--event", "later")
    assert done.returncode == 0, done.stderr
    request_id = done.stdout.strip()
    assert UUID.match(request_id), done.stdout
    log = shared_platform.data_dir / "logs" / service / "rec.log"  # see docs/operations.md
    assert wait_for(lambda: log.exists() and f"recorded later in {request_id}" in log.read_text(),
                    timeout=15)
    both = run("invoke", f"{service}/rec", "--async", "--tail")
    assert both.returncode == 2  # argparse: the two options exclude each other
    assert "not allowed with argument" in both.stderr


def test_function_error_exits_non_zero(run: Run, code_dir: Path) -> None:
    service = unique("fail")
    assert run("deploy", str(code_dir), "--service", service, "--function", "fail",
               "--handler", "index.fail").returncode == 0
    done = run("invoke", f"{service}/fail")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "fcompute: function error: ValueError: no good" in done.stderr
    assert 'raise ValueError("no good")' in done.stderr
    assert "Traceback" not in done.stderr
    tailed = run("invoke", f"{service}/fail", "--tail")
    assert tailed.returncode == 1
    assert "about to fail" in tailed.stderr
    assert "fcompute: function error: ValueError: no good" in tailed.stderr


def test_ls_and_rm(run: Run, code_dir: Path) -> None:
    service = unique("ls")
    for function in ("alpha", "beta"):
        assert run("deploy", str(code_dir), "--service", service, "--function", function,
                   "--handler", "index.web", "--http-trigger").returncode == 0
    services = run("ls")
    assert services.stdout.splitlines()[0].split() == ["NAME", "MODIFIED", "DESCRIPTION"]
    assert service in services.stdout.split()
    functions = run("ls", service).stdout.splitlines()
    assert [line.split()[0] for line in functions] == ["NAME", "alpha", "beta"]
    assert "index.web" in functions[1]
    triggers = run("ls", f"{service}/alpha").stdout.splitlines()
    assert triggers[1].split()[:2] == ["http", "http"]
    assert [f["functionName"] for f in json.loads(run("ls", service, "--json").stdout)] == [
        "alpha", "beta"]

    refused = run("rm", f"{service}/alpha")
    assert_one_line_error(refused, "refusing", "--yes")
    assert "alpha" in run("ls", service).stdout  # nothing was deleted

    removed = run("rm", f"{service}/alpha", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == [f"deleted trigger {service}/alpha/http",
                                           f"deleted function {service}/alpha"]
    assert [line.split()[0] for line in run("ls", service).stdout.splitlines()] == [
        "NAME", "beta"]

    assert_one_line_error(run("rm", service), "refusing", "1 function(s)")
    gone = run("rm", service, "-y")
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.splitlines()[-1] == f"deleted service {service}"
    assert service not in run("ls").stdout.split()
    assert_one_line_error(run("ls", service), "ServiceNotFound")
    assert_one_line_error(run("rm", f"{service}/beta", "--yes"), "NotFound")


def test_api_error_is_one_line(run: Run, deployed: str) -> None:
    assert_one_line_error(run("invoke", f"{deployed}/missing"), "FunctionNotFound:", "missing")
    assert_one_line_error(run("invoke", "just-a-service"), "SERVICE/FUNCTION")


def test_connection_refused_message() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    done = cli("ls", endpoint=endpoint)
    assert_one_line_error(done, f"cannot reach fcompute at {endpoint}: is `fcompute serve` "
                                "running?")
    # --endpoint before or after the command beats the environment variable.
    for args in (["--endpoint", endpoint, "ls"], ["ls", "--endpoint", endpoint]):
        moved = cli(*args, endpoint="http://127.0.0.1:1")
        assert_one_line_error(moved, f"cannot reach fcompute at {endpoint}:")


def test_signed_requests_and_wrong_secret(make_platform: Callable[..., PlatformProcess],
                                          code_dir: Path) -> None:
    keyed = make_platform(env=KEYS, name="keyed")
    service = unique("signed")
    deploy = ["deploy", str(code_dir), "--service", service, "--function", "f",
              "--handler", "index.handler", "--http-trigger"]
    done = cli(*deploy, endpoint=keyed.endpoint, env=KEYS)
    assert done.returncode == 0, done.stderr
    invoked = cli("invoke", f"{service}/f", "--event", "s", "--tail", endpoint=keyed.endpoint,
                  env=KEYS)
    assert (invoked.returncode, invoked.stdout) == (0, "v1:s")
    assert "log: got 1 bytes" in invoked.stderr
    assert cli("ls", service, endpoint=keyed.endpoint, env=KEYS).returncode == 0

    wrong = dict(KEYS, FCOMPUTE_ACCESS_KEY_SECRET="not-the-secret")
    assert_one_line_error(cli("ls", endpoint=keyed.endpoint, env=wrong), "SignatureNotMatch:")
    assert_one_line_error(cli("invoke", f"{service}/f", endpoint=keyed.endpoint, env=wrong),
                          "SignatureNotMatch:")
    assert_one_line_error(cli("ls", endpoint=keyed.endpoint), "AccessDenied:")
    half = {"FCOMPUTE_ACCESS_KEY_ID": "cli-key"}
    assert_one_line_error(cli("ls", endpoint=keyed.endpoint, env=half), "set both")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie not yet reaped counts as ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class LineReader:
    """Collects a process's output lines on a thread so the test can wait with a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        self.stream = proc.stdout
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for raw in self.stream:
            self.lines.put(raw.decode())

    def close(self) -> str:
        """After the process ended: waits for end-of-file, closes the pipe, returns all output."""
        self.thread.join(timeout=10)
        self.stream.close()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)

    def until(self, text: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return self.seen
        raise AssertionError(f"{text!r} not printed within {timeout}s:\n{''.join(self.seen)}")


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(shutil.which("curl") is None, reason="the demo prints curl lines")
def test_demo_script_serves_the_printed_curl_lines(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPUTE_")}
    env.update(PORT=str(port), FCOMPUTE_DATA_DIR=str(tmp_path / "demo-data"))
    # A session of its own: the signal below reaches the script and the server it started,
    # the way Ctrl-C reaches a terminal's foreground job.
    proc = subprocess.Popen([str(ROOT / "scripts" / "demo")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    reader = LineReader(proc)
    server_pid = 0
    try:
        output = reader.until("Press Ctrl-C", timeout=180)
        started = re.search(r"fcompute serve running \(pid (\d+)\)", "".join(output))
        assert started, "".join(output)
        server_pid = int(started.group(1))
        curls = [line.strip() for line in output if line.strip().startswith("curl ")]
        assert len(curls) == 2, "".join(output)
        assert curls[0] == (f"curl -s -X POST http://127.0.0.1:{port}/2016-08-15/services/demo/"
                            """functions/hello/invocations -d '{"name":"you"}'""")
        answers = [subprocess.run(shlex.split(line), capture_output=True, timeout=30, check=True
                                  ).stdout for line in curls]
        assert json.loads(answers[0])["message"] == "hello, you!"
        web = json.loads(answers[1])
        assert (web["message"], web["method"], web["path"]) == ("hello, you!", "GET", "/greet")
        assert (tmp_path / "demo-data" / "meta.db").exists()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's job
        assert proc.wait(timeout=30) == 130  # the script's INT trap stopped the server first
        assert wait_for(lambda: not pid_alive(server_pid), timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # The server runs in its own process group: stop it by its pid if the script could not.
        if server_pid and pid_alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)
        everything = reader.close()
    assert "Traceback" not in everything, everything
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/2016-08-15/services", timeout=2)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_demo_script_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPUTE_")}
        env.update(PORT=str(port), FCOMPUTE_DATA_DIR=str(tmp_path / "demo-data"))
        done = subprocess.run([str(ROOT / "scripts" / "demo")], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=100, check=False)
    assert done.returncode == 1
    assert f"port {port} is already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "demo-data").exists()


def test_serve_stops_quietly_on_ctrl_c(make_platform: Callable[..., PlatformProcess]) -> None:
    running = make_platform(name="ctrl-c")
    proc = running.proc
    assert proc is not None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert "Traceback" not in running.log_text(), running.log_text()


def test_serve_async_tuning_flags(tmp_path: Path) -> None:
    from fcompute.cli.main import build_parser, settings_from_args
    from fcompute.config import Settings

    fields = ("async_backoff_base_seconds", "async_backoff_cap_seconds", "async_max_in_flight",
              "async_record_retention_seconds")
    defaults = settings_from_args(build_parser().parse_args(["serve"]))
    assert [getattr(defaults, f) for f in fields] == [getattr(Settings(), f) for f in fields]
    given = settings_from_args(build_parser().parse_args([
        "serve", "--async-backoff-base", "0.2", "--async-backoff-cap", "5",
        "--async-max-in-flight", "8", "--async-record-retention", "3600",
    ]))
    assert [getattr(given, f) for f in fields] == [0.2, 5.0, 8, 3600.0]
    assert isinstance(given.async_max_in_flight, int)

    for flag, value in [("--async-backoff-base", "0"), ("--async-max-in-flight", "-1"),
                        ("--async-record-retention", "soon"), ("--async-max-in-flight", "1.5")]:
        done = subprocess.run([sys.executable, "-m", "fcompute.cli.main", "serve",
                               "--data-dir", str(tmp_path / "never"), flag, value],
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 2, (flag, value, done.stderr)
        assert f"argument {flag}" in done.stderr
    assert not (tmp_path / "never").exists()
