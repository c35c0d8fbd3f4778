"""``fcompute invoke SERVICE/FUNCTION``: run a function and print what it returned."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fcompute import limits
from fcompute.cli.common import CliError, client_command, client_options, split_target
from fcompute.sdk import Client, InvocationResult

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
    parser.add_argument("target", metavar="SERVICE/FUNCTION")
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


def run(args: argparse.Namespace, client: Client) -> int:
    service, function = split_target(args.target, function_required=True)
    assert function is not None  # split_target enforces it; this narrows the type
    event = read_event(args.event)
    if args.asynchronous:
        print(client.invoke_async(service, function, event))
        return 0
    result = client.invoke(service, function, event, log_tail=args.tail, timeout=INVOKE_TIMEOUT)
    return report(result)


def report(result: InvocationResult) -> int:
    if result.log_tail:
        sys.stderr.write(result.log_tail if result.log_tail.endswith("\n")
                         else result.log_tail + "\n")
        sys.stderr.flush()
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
