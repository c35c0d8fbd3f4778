"""``fcompute invoke SERVICE[.QUALIFIER]/FUNCTION``: run a function and print what it returned.

The qualifier (a version id, an alias or LATEST) chooses which published code runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fcompute import limits
from fcompute.cli.common import (
    CliError,
    client_command,
    client_options,
    hinted,
    missing_qualifier,
    split_qualified,
    split_target,
)
from fcompute.sdk import Client, FcApiError, InvocationResult

if TYPE_CHECKING:
    from fcompute.cli.common import Commands

# Long enough for the longest function timeout: the platform ends the invocation first.
INVOKE_TIMEOUT = float(limits.TIMEOUT_MAX_S + 60)


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "invoke", parents=[client_options()], help="run a function",
        description="Runs a function. Its result goes to stdout, the log tail (--tail) to "
                    "stderr; a function error exits with status 1.",
    )
    parser.add_argument("target", metavar="SERVICE[.QUALIFIER]/FUNCTION",
                        help="QUALIFIER: a version id, an alias or LATEST (default LATEST)")
    parser.add_argument("--qualifier", default=None, metavar="QUALIFIER",
                        help="the same as SERVICE.QUALIFIER/FUNCTION")
    parser.add_argument("--event", default=None, metavar="TEXT",
                        help="event sent to the function as is, @FILE to read it from a file, "
                             "@- from stdin (default: empty)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--async", dest="asynchronous", action="store_true",
                      help="queue the invocation and print its request id")
    mode.add_argument("--tail", action="store_true",
                      help="print the last 4 KB of the invocation's log to stderr")
    parser.set_defaults(run=client_command(run))


def read_event(value: str | None) -> bytes:
    if value is None:
        return b""
    if value == "@-":
        return sys.stdin.buffer.read()
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read event file {path}: {exc.strerror}") from None
    return value.encode("utf-8")


def target_of(args: argparse.Namespace) -> tuple[str, str | None, str]:
    """Service, qualifier (None for LATEST) and function, from the target and --qualifier."""
    qualified, function = split_target(args.target, function_required=True)
    assert function is not None  # split_target enforces it; this narrows the type
    service, qualifier = split_qualified(qualified)
    if args.qualifier is not None:
        if not args.qualifier or "/" in args.qualifier or "." in args.qualifier:
            raise CliError(f"'{args.qualifier}' is not a qualifier: use a version id, an "
                           "alias name or LATEST")
        if qualifier and qualifier != args.qualifier:
            raise CliError(f"'{args.target}' and --qualifier {args.qualifier} name two "
                           "qualifiers: give one")
        qualifier = args.qualifier
    return service, qualifier, function


def run(args: argparse.Namespace, client: Client) -> int:
    service, qualifier, function = target_of(args)
    event = read_event(args.event)
    try:
        if args.asynchronous:
            print(client.invoke_async(service, function, event, qualifier=qualifier))
            return 0
        result = client.invoke(service, function, event, qualifier=qualifier,
                               log_tail=args.tail, timeout=INVOKE_TIMEOUT)
    except FcApiError as exc:
        if qualifier and exc.code == "FunctionNotFound":
            raise hinted(exc, f"`fcompute ls {service}.{qualifier}` shows the functions "
                              f"{qualifier} has") from None
        raise missing_qualifier(exc, service) or exc from None
    return report(result, show_version=args.tail and qualifier is not None)


def report(result: InvocationResult, *, show_version: bool = False) -> int:
    if result.log_tail:
        sys.stderr.write(result.log_tail if result.log_tail.endswith("\n")
                         else result.log_tail + "\n")
        sys.stderr.flush()
    if show_version and result.service_version:
        # Which version ran: through a weighted alias it varies from call to call.
        print(f"version: {result.service_version}", file=sys.stderr, flush=True)
    if result.error is not None:
        error = result.error
        print(f"fcompute: function error: {error.type}: {error.message}", file=sys.stderr)
        if result.log_tail is None:  # the log tail already holds the traceback
            for frame in error.stack_trace:
                print(frame.rstrip("\n"), file=sys.stderr)
        print(f"request id: {result.request_id}", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    out.write(result.body)
    # Keep the shell prompt off the result's last line, but never alter piped output.
    if sys.stdout.isatty() and result.body and not result.body.endswith(b"\n"):
        out.write(b"\n")
    out.flush()
    return 0
