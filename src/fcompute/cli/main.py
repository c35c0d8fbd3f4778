"""Entry point of the ``fcompute`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from fcompute.cli import (
    aliases,
    async_commands,
    deploy,
    invoke,
    listing,
    remove,
    storage,
    versions,
)
from fcompute.cli.common import add_endpoint_option
from fcompute.config import (
    DEFAULT_PORT,
    DEFAULT_STORAGE_PORT,
    Settings,
    UnsafeBindError,
    access_keys_from_env,
)
from fcompute.serving.settings import ConnectionSettings

# Command groups besides serve: each module's register(commands) adds its subcommands.
COMMAND_GROUPS = [deploy, invoke, listing, remove, versions, aliases, async_commands, storage]
DEFAULTS = Settings()
CONNECTION_DEFAULTS = ConnectionSettings()


def positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    """An argparse type: a number above zero (a zero backoff or retention makes no sense)."""
    def parse(text: str) -> float:
        value = kind(text)  # a ValueError becomes argparse's "invalid float value: ..."
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be above zero")
        return value

    parse.__name__ = kind.__name__  # the name argparse puts in that message
    return parse


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=args.port,
        storage_port=args.storage_port,
        data_dir=Path(args.data_dir),
        access_keys=access_keys_from_env(),
        database_url=args.database_url,
        keep_alive_seconds=args.keep_alive,
        max_instances_per_function=args.max_instances,
        sandbox=args.sandbox,
        sandbox_tmp_size_mb=args.tmp_size,
        instance_wait_seconds=args.instance_wait,
        function_credentials_ttl_seconds=args.function_credentials_ttl,
        async_backoff_base_seconds=args.async_backoff_base,
        async_backoff_cap_seconds=args.async_backoff_cap,
        async_max_in_flight=args.async_max_in_flight,
        async_record_retention_seconds=args.async_record_retention,
    )


def connection_settings_from_args(args: argparse.Namespace) -> ConnectionSettings:
    return ConnectionSettings(
        head_timeout_s=args.request_head_timeout,
        body_timeout_s=args.request_body_timeout,
        body_min_rate=args.request_body_min_rate,
        max_connections=args.max_connections,
    )


def serve_command(args: argparse.Namespace) -> int:
    from fcompute.server import PortInUseError, serve

    settings = settings_from_args(args)
    try:
        serve(settings, connection_settings_from_args(args))
    except (UnsafeBindError, PortInUseError) as exc:
        print(f"fcompute: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # uvicorn re-raises Ctrl-C once it has shut down gracefully; nothing is left to report.
        return 130
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fcompute", description="Self-hosted Function Compute")
    add_endpoint_option(parser, None)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the platform")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--storage-port", type=int, default=DEFAULT_STORAGE_PORT,
                       help="port of the object store (S3 and OSS APIs; default "
                            f"{DEFAULT_STORAGE_PORT})")
    serve.add_argument("--data-dir", default="./fcompute-data")
    serve.add_argument("--database-url", default="", help="SQLAlchemy URL (default: SQLite)")
    serve.add_argument("--keep-alive", type=float, default=600.0,
                       help="seconds an idle instance stays warm (default 600)")
    serve.add_argument("--max-instances", type=int, default=16,
                       help="instances per function at most (default 16)")
    serve.add_argument("--instance-wait", type=float, default=10.0,
                       help="seconds a request waits for a busy function before 429")
    serve.add_argument("--sandbox", default="auto", choices=["auto", "linux", "process"],
                       help="instance isolation: linux (namespaces, cgroups, seccomp), "
                            "process (none), auto (linux when possible; default)")
    serve.add_argument("--tmp-size", type=int, default=0,
                       help="MB of private /tmp for every instance, overriding each "
                            "function's diskSize (default: per function, 512 unless set)")
    serve.add_argument("--function-credentials-ttl", type=positive(float),
                       default=DEFAULTS.function_credentials_ttl_seconds, metavar="SECONDS",
                       help="lifetime of the object-store credentials each function instance "
                            "gets, replaced at half of it (default "
                            f"{DEFAULTS.function_credentials_ttl_seconds:g}; at least twice "
                            "the function's timeout)")
    tuning = serve.add_argument_group("async invocations")
    tuning.add_argument("--async-backoff-base", type=positive(float),
                        default=DEFAULTS.async_backoff_base_seconds, metavar="SECONDS",
                        help="delay before the first retry; each retry doubles it "
                             f"(default {DEFAULTS.async_backoff_base_seconds:g})")
    tuning.add_argument("--async-backoff-cap", type=positive(float),
                        default=DEFAULTS.async_backoff_cap_seconds, metavar="SECONDS",
                        help="longest delay between retries "
                             f"(default {DEFAULTS.async_backoff_cap_seconds:g})")
    tuning.add_argument("--async-max-in-flight", type=positive(int),
                        default=DEFAULTS.async_max_in_flight, metavar="N",
                        help="invocations and destination deliveries running at once, in all "
                             f"(default {DEFAULTS.async_max_in_flight})")
    tuning.add_argument("--async-record-retention", type=positive(float),
                        default=DEFAULTS.async_record_retention_seconds, metavar="SECONDS",
                        help="how long records of finished invocations are kept "
                             f"(default {DEFAULTS.async_record_retention_seconds:g}, 7 days)")
    add_connection_options(serve)
    serve.set_defaults(run=serve_command)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def add_connection_options(serve: argparse.ArgumentParser) -> None:
    limits = serve.add_argument_group("client connections")
    limits.add_argument("--request-head-timeout", type=positive(float),
                        default=CONNECTION_DEFAULTS.head_timeout_s, metavar="SECONDS",
                        help="a request head must arrive within this time of the connection "
                             "opening (or of its first byte on a keep-alive connection); "
                             f"else 408 and close (default {CONNECTION_DEFAULTS.head_timeout_s:g})")
    limits.add_argument("--request-body-timeout", type=positive(float),
                        default=CONNECTION_DEFAULTS.body_timeout_s, metavar="SECONDS",
                        help="window over which a request body must arrive at the minimum "
                             f"rate (default {CONNECTION_DEFAULTS.body_timeout_s:g})")
    limits.add_argument("--request-body-min-rate", type=positive(int),
                        default=CONNECTION_DEFAULTS.body_min_rate, metavar="BYTES",
                        help="bytes per second a request body must average over each window "
                             f"(default {CONNECTION_DEFAULTS.body_min_rate})")
    limits.add_argument("--max-connections", type=positive(int), default=0, metavar="N",
                        help="open client connections at most; at the cap a new one evicts the "
                             "one waiting longest for a request head (default: from the "
                             "open-file limit, less a reserve)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
