"""``fcompute async ls|get|stop|replay``: the records of async invocations.

``fcompute invoke --async`` prints the invocation id (the request id, as the CLI chooses
no id of its own). The commands call the SDK's async methods (``sdk/async_invocations.py``).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fcompute.cli.common import CliError, client_command, client_options, print_table, split_target
from fcompute.sdk import Client, FunctionError

if TYPE_CHECKING:
    from fcompute.cli.common import Commands

JsonDict = dict[str, Any]
STATUSES = ["Enqueued", "Running", "Retrying", "Succeeded", "Failed", "Expired", "Stopped"]


def register(commands: Commands) -> None:
    group = commands.add_parser(
        "async", help="list, inspect, stop and replay async invocations",
        description="Every async invocation has a record: its status, each attempt, the "
                    "result or error, and where its destinations stand.",
    )
    actions = group.add_subparsers(dest="action", required=True)

    ls = actions.add_parser("ls", parents=[client_options()],
                            help="list a function's async invocations, newest first")
    ls.add_argument("target", metavar="SERVICE/FUNCTION")
    ls.add_argument("--status", choices=STATUSES, type=str.capitalize)
    ls.add_argument("--since", metavar="TIME",
                    help="accepted at or after TIME (ISO 8601, or ms since the epoch)")
    ls.add_argument("--until", metavar="TIME", help="accepted before TIME")
    ls.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    ls.add_argument("--next-token", default="", help="continue a previous listing")
    ls.add_argument("--json", action="store_true", help="print the API's JSON")
    ls.set_defaults(run=client_command(list_command))

    get = actions.add_parser("get", parents=[client_options()],
                             help="show one invocation: attempts, result, destinations")
    get.add_argument("target", metavar="SERVICE/FUNCTION")
    get.add_argument("invocation_id", metavar="ID")
    get.add_argument("--json", action="store_true", help="print the API's JSON record")
    get.set_defaults(run=client_command(get_command))

    stop = actions.add_parser("stop", parents=[client_options()],
                              help="stop a queued or running invocation")
    stop.add_argument("target", metavar="SERVICE/FUNCTION")
    stop.add_argument("invocation_id", metavar="ID")
    stop.set_defaults(run=client_command(stop_command))

    replay = actions.add_parser(
        "replay", parents=[client_options()],
        help="run a failed, expired or stopped invocation again with its payload",
    )
    replay.add_argument("target", metavar="SERVICE/FUNCTION")
    replay.add_argument("invocation_id", metavar="ID")
    code = replay.add_mutually_exclusive_group()
    code.add_argument("--latest", dest="code", action="store_const", const="latest",
                      help="on the function's current code (default)")
    code.add_argument("--original", dest="code", action="store_const", const="original",
                      help="on the code the invocation first ran")
    replay.set_defaults(run=client_command(replay_command), code="latest")


def _target(args: argparse.Namespace) -> tuple[str, str]:
    service, function = split_target(args.target, function_required=True)
    assert function is not None  # split_target enforces it; this narrows the type
    return service, function


def _invocation(args: argparse.Namespace) -> tuple[str, str, str]:
    service, function = _target(args)
    if not args.invocation_id or "/" in args.invocation_id:
        raise CliError(f"'{args.invocation_id}' is not an invocation id")
    return service, function, args.invocation_id


def parse_time(text: str) -> int:
    """ISO 8601 or epoch milliseconds -> epoch milliseconds, as the API takes them."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"'{text}' is neither an ISO 8601 time nor milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time without a zone is local time
    return int(moment.timestamp() * 1000)


def show_time(millis: int | None) -> str:
    if millis is None:
        return "-"
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def _error_text(error: FunctionError | None) -> str:
    if not error:
        return ""
    return f"{error.type}: {error.message}"


def list_command(args: argparse.Namespace, client: Client) -> int:
    service, function = _target(args)
    page = client.list_async_invocations(
        service, function, status=args.status,
        started_time_begin=parse_time(args.since) if args.since else None,
        started_time_end=parse_time(args.until) if args.until else None,
        limit=args.limit, next_token=args.next_token or None,
    )
    if args.json:
        # The API's page as it came: the records' own JSON, and the token when there is one.
        data: JsonDict = {"invocations": [r.raw for r in page.items]}
        if page.next_token:
            data["nextToken"] = page.next_token
        print(json.dumps(data, indent=2))
        return 0
    print_table(
        ["INVOCATION ID", "STATUS", "ATTEMPTS", "ACCEPTED", "ENDED", "ERROR"],
        [[r.invocation_id, r.status, str(len(r.attempts)), show_time(r.started_time),
          show_time(r.end_time), _error_text(r.error)[:60]] for r in page.items],
    )
    if page.next_token:
        print(f"more: --next-token {page.next_token}")
    return 0


def get_command(args: argparse.Namespace, client: Client) -> int:
    record = client.get_async_invocation(*_invocation(args))
    if args.json:
        print(json.dumps(record.raw, indent=2))
        return 0
    # The result as the API gives it: text, or base64 when it is not UTF-8.
    result = record.raw.get("returnPayload")
    lines = [
        ("invocation", record.invocation_id),
        ("function", f"{record.service_name}/{record.function_name} ({record.qualifier})"),
        ("status", record.status),
        ("accepted", show_time(record.started_time)),
        ("ended", show_time(record.end_time)),
        ("code", record.version.code_checksum if record.version else "-"),
        ("replay of", record.replay_of or "-"),
        ("replayed by", ", ".join(record.replayed_by) or "-"),
        ("error", _error_text(record.error) or "-"),
        ("result", result if result is not None else "-"),
    ]
    for label, value in lines:
        print(f"{label + ':':13}{value}")
    print()
    print_table(["ATTEMPT", "STATUS", "STARTED", "ENDED", "REQUEST ID", "ERROR"], [
        [str(a.attempt), a.status, show_time(a.started_time), show_time(a.end_time),
         a.request_id, _error_text(a.error)[:60]]
        for a in record.attempts
    ])
    for delivery in record.destinations:
        print()
        print(f"{delivery.condition} -> {delivery.destination}: {delivery.status} "
              f"after {len(delivery.attempts)} attempt(s)"
              + (f"; last error {_error_text(delivery.last_error)}"
                 if delivery.last_error else ""))
    return 0


def stop_command(args: argparse.Namespace, client: Client) -> int:
    record = client.stop_async_invocation(*_invocation(args))
    print(f"{record.invocation_id}: {record.status}")
    return 0


def replay_command(args: argparse.Namespace, client: Client) -> int:
    record = client.replay_async_invocation(*_invocation(args), target=args.code)
    print(record.invocation_id)
    return 0
