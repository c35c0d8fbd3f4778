"""``fcompute versions``, ``fcompute aliases``, qualified ``invoke``/``ls`` and
``deploy --publish --alias``, run as real subprocesses against a real platform."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fcompute.sdk import Client
from tests.conftest import unique, wait_for, write_code
from tests.platform_process import PlatformProcess
from tests.test_cli import Run, assert_one_line_error, cli

CODE = """
def handler(event, context):
    return "@TAG@:%s:%s" % (context.service.qualifier, context.service.version_id)

def web(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"web:@TAG@"]
"""


@pytest.fixture
def run(shared_platform: PlatformProcess) -> Run:
    def invoke(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
               ) -> subprocess.CompletedProcess[str]:
        return cli(*args, endpoint=shared_platform.endpoint, env=env, stdin=stdin)

    return invoke


@pytest.fixture(scope="module")
def fc(shared_platform: PlatformProcess) -> Iterator[Client]:
    with Client(shared_platform.endpoint) as client:
        yield client


class App:
    """A code directory whose answers name the code (its tag), deployed by the CLI."""

    def __init__(self, run: Run, directory: Path) -> None:
        self.run = run
        self.directory = directory
        self.service = unique("rel")

    def deploy(self, tag: str, *extra: str, function: str = "f",
               handler: str = "index.handler") -> subprocess.CompletedProcess[str]:
        write_code(self.directory, {"index.py": CODE.replace("@TAG@", tag)})
        done = self.run("deploy", str(self.directory), "--service", self.service,
                        "--function", function, "--handler", handler, *extra)
        assert done.returncode == 0, done.stderr
        return done


@pytest.fixture
def app(run: Run, tmp_path: Path) -> App:
    return App(run, tmp_path / "code")


@pytest.fixture
def released(app: App) -> App:
    """Version 1 runs v1, version 2 runs v2 (as LATEST does); nothing points at them yet."""
    app.deploy("v1", "--publish")
    app.deploy("v2", "--publish")
    return app


def test_deploy_publish_alias_then_invoke_by_qualifier(app: App, run: Run) -> None:
    first = app.deploy("v1", "--publish", "--alias", "prod")
    service = app.service
    lines = first.stdout.splitlines()
    # Each step on its own line, in the order it happened.
    assert lines[0] == f"created service {service}"
    assert lines[1].startswith(f"created function {service}/f ")
    assert lines[2:] == [f"published version 1 of service {service}",
                         f"created alias {service}.prod: version 1"]
    assert run("invoke", f"{service}.prod/f").stdout == "v1:prod:1"

    second = app.deploy("v2", "--publish", "--alias", "prod")
    assert second.stdout.splitlines()[1:] == [f"published version 2 of service {service}",
                                              f"updated alias {service}.prod: version 2"]
    assert run("invoke", f"{service}.prod/f").stdout == "v2:prod:2"
    assert run("invoke", f"{service}/f", "--qualifier", "prod").stdout == "v2:prod:2"
    assert run("invoke", f"{service}.1/f").stdout == "v1:1:1"
    assert run("invoke", f"{service}/f", "--qualifier", "1").stdout == "v1:1:1"
    assert run("invoke", f"{service}/f").stdout == "v2:LATEST:"
    assert run("invoke", f"{service}.LATEST/f").stdout == "v2:LATEST:"

    # The same code again: no new version; the newest one is used, and that is no failure.
    again = app.deploy("v2", "--publish", "--alias", "prod")
    assert again.stdout.splitlines()[1:] == [
        f"nothing changed since version 2 of service {service}: using version 2",
        f"updated alias {service}.prod: version 2"]
    assert again.stderr == ""


def test_deploy_alias_takes_all_requests_and_needs_publish(
    released: App, run: Run, fc: Client
) -> None:
    service = released.service
    fc.create_alias(service, "canary", 1, additional_version_weight={2: 0.5})
    done = released.deploy("v3", "--publish", "--alias", "canary")
    assert done.stdout.splitlines()[-1] == f"updated alias {service}.canary: version 3"
    assert fc.get_alias(service, "canary").additional_version_weight == {}
    refused = run("deploy", str(released.directory), "--service", service, "--function", "f",
                  "--handler", "index.handler", "--alias", "prod")
    assert_one_line_error(refused, "--alias prod", "add --publish")
    assert "prod" not in [a.name for a in fc.iter_aliases(service)]  # nothing was deployed


def test_deploy_publish_with_http_trigger_prints_the_qualified_url(
    app: App, shared_platform: PlatformProcess
) -> None:
    done = app.deploy("w1", "--http-trigger", "--publish", "--alias", "live",
                      function="web", handler="index.web")
    url = f"{shared_platform.endpoint}/2016-08-15/proxy/{app.service}.live/web/"
    assert done.stdout.splitlines()[-1] == f"http trigger url of {app.service}.live: {url}"
    with Client(shared_platform.endpoint) as fc:
        answer = fc.http_request("GET", app.service, "web", qualifier="live")
    assert (answer.text(), answer.service_version) == ("web:w1", "1")


def test_versions_publish_list_and_delete(released: App, run: Run, fc: Client) -> None:
    service = released.service
    unchanged = run("versions", "publish", service)
    assert_one_line_error(unchanged, "ServiceNotModified", "since version 2",
                          "use version 2 as it is")
    fc.update_function(service, "f", memory_size=512)
    published = run("versions", "publish", service, "--description", "more memory")
    assert (published.returncode, published.stdout) == (
        0, f"published version 3 of service {service}\n")
    fc.create_alias(service, "prod", 3)
    fc.create_alias(service, "canary", 2, additional_version_weight={3: 0.25})

    table = run("versions", "list", service).stdout.splitlines()
    assert table[0].split() == ["VERSION", "CREATED", "ALIASES", "DESCRIPTION"]
    assert [line.split()[0] for line in table[1:]] == ["3", "2", "1"]
    assert table[1].split()[2:] == ["canary(0.25),", "prod", "more", "memory"]
    assert table[2].split()[2:] == ["canary"]
    forward = run("version", "ls", service, "--forward").stdout.splitlines()
    assert [line.split()[0] for line in forward[1:]] == ["1", "2", "3"]
    paged = run("versions", "list", service, "--limit", "2").stdout.splitlines()
    assert [line.split()[0] for line in paged[1:3]] == ["3", "2"]
    assert paged[3].startswith("more: --next-token ")
    token = paged[3].split()[-1]
    rest = json.loads(run("versions", "list", service, "--next-token", token, "--json").stdout)
    assert [v["versionId"] for v in rest["versions"]] == ["1"]
    assert "nextToken" not in rest
    fc.update_function(service, "f", memory_size=1024)
    as_json = json.loads(run("versions", "publish", service, "--json").stdout)
    assert (as_json["versionId"], as_json["description"]) == ("4", "")


def test_versions_delete_says_what_to_do(released: App, run: Run, fc: Client) -> None:
    service = released.service
    fc.create_alias(service, "prod", 1)
    in_use = run("versions", "delete", service, "1")
    assert_one_line_error(in_use, "VersionInUse", "prod",
                          f"`fcompute aliases set {service} prod --version N`",
                          f"`fcompute aliases delete {service} prod`")
    assert_one_line_error(run("versions", "delete", service, "9"), "VersionNotFound",
                          f"fcompute versions list {service}")
    assert_one_line_error(run("versions", "delete", service, "prod"), "not a version id")
    assert_one_line_error(run("versions", "list", f"{service}.prod"),
                          f"takes the service name alone ({service})")
    done = run("versions", "delete", service, "2")
    assert (done.returncode, done.stdout) == (0, f"deleted version 2 of service {service}\n")
    assert [v.version_id for v in fc.iter_versions(service)] == ["1"]


def test_aliases_set_update_get_list_delete(released: App, run: Run, fc: Client) -> None:
    service = released.service
    created = run("alias", "set", service, "prod", "--version", "1", "--weight", "2=0.2",
                  "--description", "live")
    assert (created.returncode, created.stdout) == (
        0, f"created alias {service}.prod: version 1, weights 2=0.2\n")
    alias = fc.get_alias(service, "prod")
    assert (alias.version_id, alias.additional_version_weight, alias.description) == (
        "1", {"2": 0.2}, "live")

    shown = run("aliases", "get", service, "prod").stdout
    assert f"alias:       {service}.prod\n" in shown
    assert "version:     1\n" in shown
    assert "weights:     2=0.2\n" in shown
    assert f"etag:        {alias.etag}\n" in shown
    assert json.loads(run("aliases", "get", service, "prod", "--json").stdout)[
        "additionalVersionWeight"] == {"2": 0.2}

    # set is declarative about version and weights; the description stays unless given.
    repointed = run("aliases", "set", service, "prod", "--version", "2")
    assert repointed.stdout == f"updated alias {service}.prod: version 2\n"
    assert fc.get_alias(service, "prod").description == "live"

    run("aliases", "create", service, "beta", "--version", "2", "--weight", "1=0.5")
    described = run("aliases", "update", service, "beta", "--description", "testers")
    assert described.stdout == f"updated alias {service}.beta: version 2, weights 1=0.5\n"
    cleared = run("aliases", "update", service, "beta", "--no-weights")
    assert cleared.stdout == f"updated alias {service}.beta: version 2\n"
    assert fc.get_alias(service, "beta").description == "testers"

    table = run("aliases", "list", service).stdout.splitlines()
    assert table[0].split() == ["NAME", "VERSION", "WEIGHTS", "MODIFIED", "DESCRIPTION"]
    assert [line.split()[:3] for line in table[1:]] == [["beta", "2", "-"], ["prod", "2", "-"]]
    assert [a["aliasName"] for a in json.loads(
        run("aliases", "ls", service, "--prefix", "p", "--json").stdout)] == ["prod"]

    gone = run("aliases", "delete", service, "beta")
    assert (gone.returncode, gone.stdout) == (0, f"deleted alias {service}.beta\n")
    assert [a.name for a in fc.iter_aliases(service)] == ["prod"]


def test_alias_errors_say_what_to_do(released: App, run: Run, fc: Client) -> None:
    service = released.service
    run("aliases", "create", service, "prod", "--version", "1")
    stale = fc.get_alias(service, "prod").etag
    fc.update_alias(service, "prod", description="changed meanwhile")

    assert_one_line_error(run("aliases", "create", service, "prod", "--version", "2"),
                          "AliasAlreadyExists", f"fcompute aliases set {service} prod")
    assert_one_line_error(run("aliases", "update", service, "prod", "--version", "2",
                              "--if-match", stale),
                          "PreconditionFailed", f"fcompute aliases get {service} prod")
    assert fc.get_alias(service, "prod").version_id == "1"
    for command in (["get"], ["delete"], ["update", "--version", "1"]):
        assert_one_line_error(run("aliases", command[0], service, "nope", *command[1:]),
                              "AliasNotFound",
                              f"fcompute aliases set {service} nope --version N")
    assert_one_line_error(run("aliases", "set", service, "prod", "--version", "9"),
                          "InvalidArgument", f"fcompute versions list {service}")
    assert_one_line_error(run("aliases", "set", service, "prod", "--version", "1",
                              "--weight", "2=1.5"), "InvalidArgument")
    for bad in ("2", "=0.5", "2=half", "2=nan"):
        assert_one_line_error(run("aliases", "set", service, "prod", "--version", "1",
                                  "--weight", bad), f"invalid --weight '{bad}'", "VERSION=SHARE")
    assert_one_line_error(run("aliases", "update", service, "prod"), "nothing to update")
    assert fc.get_alias(service, "prod").version_id == "1"  # no refused command changed it
    missing = run("aliases", "set", service, "prod")
    assert missing.returncode == 2  # argparse: --version is required
    assert "--version" in missing.stderr


def test_invoke_qualifier_errors_and_version_shown(
    released: App, run: Run, fc: Client
) -> None:
    service = released.service
    fc.create_alias(service, "prod", 1)
    assert_one_line_error(run("invoke", f"{service}.9/f"), "VersionNotFound",
                          f"fcompute versions list {service}")
    assert_one_line_error(run("invoke", f"{service}/f", "--qualifier", "nope"),
                          "AliasNotFound", f"fcompute aliases list {service}")
    assert_one_line_error(run("invoke", f"{service}.prod/f", "--qualifier", "2"),
                          "two qualifiers")
    assert_one_line_error(run("invoke", f"{service}./f"), "SERVICE.QUALIFIER")
    released.deploy("g1", function="g")  # in LATEST only
    assert_one_line_error(run("invoke", f"{service}.prod/g"), "FunctionNotFound",
                          f"fcompute ls {service}.prod")

    tailed = run("invoke", f"{service}.prod/f", "--tail")
    assert (tailed.returncode, tailed.stdout) == (0, "v1:prod:1")
    assert "FC Invoke End RequestId:" in tailed.stderr
    assert tailed.stderr.splitlines()[-1] == "version: 1"
    # Through the same alias and the flag, one --qualifier both times is no conflict.
    assert run("invoke", f"{service}.prod/f", "--qualifier", "prod").stdout == "v1:prod:1"

    queued = run("invoke", f"{service}/f", "--qualifier", "prod", "--async", "--event", "x")
    assert queued.returncode == 0, queued.stderr
    invocation_id = queued.stdout.strip()
    assert wait_for(lambda: fc.get_async_invocation(service, "f", invocation_id).finished,
                    timeout=20)
    record = fc.get_async_invocation(service, "f", invocation_id)
    assert (record.qualifier, record.version_id, record.return_payload) == (
        "prod", "1", b"v1:prod:1")


def test_ls_of_a_version_and_rm_of_a_published_service(released: App, run: Run,
                                                      fc: Client) -> None:
    service = released.service
    released.deploy("g1", function="g")
    fc.create_alias(service, "prod", 2)
    assert [line.split()[0] for line in run("ls", f"{service}.prod").stdout.splitlines()] == [
        "NAME", "f"]
    assert [f["functionName"] for f in json.loads(run("ls", service, "--json").stdout)] == [
        "f", "g"]
    assert_one_line_error(run("ls", f"{service}.nope"), "AliasNotFound")
    assert_one_line_error(run("ls", f"{service}.prod/f"), "triggers are not versioned",
                          f"fcompute ls {service}/f")
    assert_one_line_error(run("rm", f"{service}.prod", "--yes"), "versions delete",
                          "aliases delete")

    refused = run("rm", service)
    assert_one_line_error(refused, f"service {service} with 2 function(s), 2 version(s), "
                                   "1 alias(es) and 0 trigger(s)", "--yes")
    removed = run("rm", service, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == [
        f"deleted function {service}/f", f"deleted function {service}/g",
        f"deleted alias {service}.prod",
        f"deleted version 2 of service {service}", f"deleted version 1 of service {service}",
        f"deleted service {service}"]
    assert service not in [s.name for s in fc.iter_services(prefix=service)]
