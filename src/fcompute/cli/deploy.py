"""``fcompute deploy DIR``: zip a directory and make a function run it.

Deploy is declarative: after it the function has exactly the settings on the
command line. Options left out take their defaults and environment variables not
given are removed, so running the same command twice gives the same function.

A ``requirements.txt`` in the directory is installed into the package first (see
``fcompute.sdk.dependencies``): pip runs once per distinct file and interpreter, later
deploys take the packages from the cache.

``--publish`` then snapshots the service as a version, and ``--alias NAME`` points that
alias at it with all of its requests, so one command takes code to a named release.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fcompute import limits
from fcompute.cli.aliases import describe, set_alias
from fcompute.cli.common import CliError, client_command, client_options, hinted, say
from fcompute.cli.versions import publish_or_newest
from fcompute.sdk import Client, FcApiError, Function, http_trigger_config, zip_directory
from fcompute.sdk.dependencies import (
    REQUIREMENTS_FILE,
    DependencyError,
    cached_dependencies,
    install_requirements,
    names_requirements,
    python_version,
)

if TYPE_CHECKING:
    from fcompute.cli.common import Commands

HTTP_TRIGGER_NAME = "http"


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "deploy", parents=[client_options()], help="deploy a directory as a function",
        description="Zips DIR, creates the service if missing, then creates or updates the "
                    "function so it matches these options.",
    )
    parser.add_argument("directory", metavar="DIR", help="the function's code")
    parser.add_argument("--service", required=True)
    parser.add_argument("--function", required=True)
    parser.add_argument("--handler", required=True, help="module.function, e.g. index.handler")
    parser.add_argument("--runtime", default="python3")
    parser.add_argument("--memory", type=int, default=limits.DEFAULT_MEMORY_MB, metavar="MB",
                        help=f"memory size in MB (default {limits.DEFAULT_MEMORY_MB})")
    parser.add_argument("--timeout", type=int, default=limits.DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help=f"function timeout (default {limits.DEFAULT_TIMEOUT_S})")
    parser.add_argument("--env", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="environment variable (repeatable)")
    parser.add_argument("--no-requirements", action="store_true",
                        help="do not install DIR/requirements.txt: deploy DIR as it is")
    parser.add_argument("--rebuild-requirements", action="store_true",
                        help="run pip for requirements.txt even when its packages are cached")
    parser.add_argument("--http-trigger", action="store_true",
                        help="add an anonymous HTTP trigger for GET/POST/PUT/DELETE if missing")
    parser.add_argument("--publish", action="store_true",
                        help="then publish a version of the service and print it (when nothing "
                             "changed since the newest version, that version is used)")
    parser.add_argument("--alias", default=None, metavar="NAME",
                        help="with --publish: point alias NAME at that version, all requests "
                             "(created if missing; weights removed)")
    parser.set_defaults(run=client_command(run))


def parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not key or not eq:
            raise CliError(f"invalid --env {pair!r}: use KEY=VALUE")
        env[key] = value
    return env


def run(args: argparse.Namespace, client: Client) -> int:
    directory = Path(args.directory)
    if not directory.is_dir():
        raise CliError(f"{directory} is not a directory")
    if args.alias is not None and not args.publish:
        raise CliError(f"--alias {args.alias} points the alias at the version deploy publishes: "
                       "add --publish")
    settings = FunctionSettings(args.handler, args.runtime, args.memory, args.timeout,
                                parse_env(args.env))
    # The package is built before anything changes: a failing pip leaves the function as it was.
    code = build_package(directory, args.no_requirements, args.rebuild_requirements)
    ensure_service(client, args.service)
    deploy_function(client, args.service, args.function, code, settings)
    if args.http_trigger:
        ensure_http_trigger(client, args.service, args.function)
    if args.publish:
        publish(client, args.service, args.function, args.alias, args.http_trigger)
    return 0


def build_package(directory: Path, skip_requirements: bool, rebuild: bool) -> bytes:
    """The code zip: ``directory`` with its requirements installed beside it."""
    requirements = directory / REQUIREMENTS_FILE
    include: list[Path] = []
    if requirements.is_file() and not skip_requirements:
        if names_requirements(requirements):
            include.append(install(requirements, rebuild))
        else:
            say(f"{requirements} names no packages: nothing to install")
    code = zip_directory(directory, include=include)
    if len(code) > limits.MAX_CODE_ZIP_BYTES:
        raise CliError(f"the code package is {len(code) / 2**20:.1f} MB, above the platform's "
                       f"{limits.MAX_CODE_ZIP_BYTES // 2**20} MB limit")
    return code


def install(requirements: Path, rebuild: bool) -> Path:
    cached = None if rebuild else cached_dependencies(requirements)
    if cached is not None:
        # No pip runs: the line says so, and where the packages come from.
        say(f"using cached packages for {requirements} ({cached})")
        return cached
    say(f"installing {requirements} for Python {python_version()} with pip...")
    try:
        installed = install_requirements(requirements, rebuild=rebuild,
                                         on_output=lambda line: say(f"  {line}"))
    except DependencyError as exc:
        raise CliError(str(exc)) from None
    say(f"installed {requirements} into the package (cached in {installed.directory})")
    return installed.directory


def publish(
    client: Client, service: str, function: str, alias: str | None, http_trigger: bool
) -> None:
    """Publishes what was just deployed and points ``alias`` at it, each step on its own line."""
    version, new = publish_or_newest(client, service)
    if new:
        say(f"published version {version.version_id} of service {service}")
    else:
        say(f"nothing changed since version {version.version_id} of service {service}: "
            f"using version {version.version_id}")
    qualifier = version.version_id
    if alias is not None:
        try:
            pointed, created = set_alias(client, service, alias, version.version_id, {})
        except FcApiError as exc:
            if exc.code == "PreconditionFailed":
                raise hinted(exc, f"alias {alias} changed meanwhile: deploy again, or "
                                  f"`fcompute aliases set {service} {alias} --version "
                                  f"{version.version_id}`") from None
            raise
        say(f"{'created' if created else 'updated'} alias {describe(service, pointed)}")
        qualifier = alias
    if http_trigger:
        say(f"http trigger url of {service}.{qualifier}: "
            f"{client.endpoint}/2016-08-15/proxy/{service}.{qualifier}/{function}/")


def ensure_service(client: Client, service: str) -> None:
    try:
        client.get_service(service)
        return
    except FcApiError as exc:
        if exc.code != "ServiceNotFound":
            raise
    try:
        client.create_service(service)
        print(f"created service {service}")
    except FcApiError as exc:
        if exc.code != "ServiceAlreadyExists":  # created meanwhile: just as good
            raise


@dataclass(frozen=True)
class FunctionSettings:
    handler: str
    runtime: str
    memory_size: int
    timeout: int
    environment: dict[str, str]


def deploy_function(
    client: Client, service: str, name: str, code: bytes, settings: FunctionSettings
) -> Function:
    try:
        client.get_function(service, name)
        exists = True
    except FcApiError as exc:
        if exc.code != "FunctionNotFound":
            raise
        exists = False
    if exists:
        function = client.update_function(
            service, name, code=code, handler=settings.handler, runtime=settings.runtime,
            memory_size=settings.memory_size, timeout=settings.timeout,
            environment=settings.environment,
        )
        verb = "updated"
    else:
        function = client.create_function(
            service, name, code=code, handler=settings.handler, runtime=settings.runtime,
            memory_size=settings.memory_size, timeout=settings.timeout,
            environment=settings.environment,
        )
        verb = "created"
    print(f"{verb} function {service}/{name} (code {function.code_size} bytes, "
          f"checksum {function.code_checksum})")
    return function


def ensure_http_trigger(client: Client, service: str, function: str) -> None:
    existing = [t for t in client.iter_triggers(service, function) if t.type == "http"]
    if not existing:
        client.create_trigger(service, function, HTTP_TRIGGER_NAME, "http",
                              http_trigger_config())
        print(f"created http trigger {service}/{function}/{HTTP_TRIGGER_NAME}")
    print(f"http trigger url: {client.endpoint}/2016-08-15/proxy/{service}/{function}/")
