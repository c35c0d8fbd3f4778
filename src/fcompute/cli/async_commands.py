"""``fcompute async ls|get|stop|replay``: the records of async invocations.

``fcompute invoke --async`` prints the request id, which names the invocation unless the
caller chose an invocation id of its own.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fcompute.cli.common import CliError, client_command, client_options, print_table, split_target
from fcompute.sdk import Client

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


def _base(target: str) -> str:
    service, function = split_target(target, function_required=True)
    return f"/services/{service}/functions/{function}/stateful-async-invocations"


def _record_path(target: str, invocation_id: str) -> str:
    return f"{_base(target)}/{quote(invocation_id, safe='')}"


def parse_time(text: str) -> str:
    """ISO 8601 or epoch milliseconds -> epoch milliseconds, as the API takes them."""
    if text.isdigit():
        return text
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"'{text}' is neither an ISO 8601 time nor milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time without a zone is local time
    return str(int(moment.timestamp() * 1000))


def show_time(millis: int | None) -> str:
    if millis is None:
        return "-"
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def _error_text(error: JsonDict | None) -> str:
    if not error:
        return ""
    return f"{error.get('errorType')}: {error.get('errorMessage')}"


def list_command(args: argparse.Namespace, client: Client) -> int:
    params = {"limit": str(args.limit)}
    if args.status:
        params["status"] = args.status
    if args.since:
        params["startedTimeBegin"] = parse_time(args.since)
    if args.until:
        params["startedTimeEnd"] = parse_time(args.until)
    if args.next_token:
        params["nextToken"] = args.next_token
    data, _ = client._call("GET", _base(args.target), params=params)
    records: list[JsonDict] = data.get("invocations") or []
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print_table(
        ["INVOCATION ID", "STATUS", "ATTEMPTS", "ACCEPTED", "ENDED", "ERROR"],
        [[r["invocationId"], r["status"], str(len(r.get("attempts") or [])),
          show_time(r.get("startedTime")), show_time(r.get("endTime")),
          _error_text(r.get("error"))[:60]] for r in records],
    )
    if data.get("nextToken"):
        print(f"more: --next-token {data['nextToken']}")
    return 0


def get_command(args: argparse.Namespace, client: Client) -> int:
    record, _ = client._call("GET", _record_path(args.target, args.invocation_id))
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    version = record.get("version") or {}
    lines = [
        ("invocation", record["invocationId"]),
        ("function", f"{record['serviceName']}/{record['functionName']} "
                     f"({record['qualifier']})"),
        ("status", record["status"]),
        ("accepted", show_time(record.get("startedTime"))),
        ("ended", show_time(record.get("endTime"))),
        ("code", version.get("codeChecksum", "-")),
        ("replay of", record.get("replayOf") or "-"),
        ("replayed by", ", ".join(record.get("replayedBy") or []) or "-"),
        ("error", _error_text(record.get("error")) or "-"),
        ("result", record.get("returnPayload") if record.get("returnPayload") is not None
         else "-"),
    ]
    for label, value in lines:
        print(f"{label + ':':13}{value}")
    print()
    print_table(["ATTEMPT", "STATUS", "STARTED", "ENDED", "REQUEST ID", "ERROR"], [
        [str(a["attempt"]), a["status"], show_time(a["startedTime"]), show_time(a["endTime"]),
         a["requestId"], _error_text(a.get("error"))[:60]]
        for a in record.get("attempts") or []
    ])
    for delivery in record.get("destinations") or []:
        print()
        print(f"{delivery['condition']} -> {delivery['destination']}: {delivery['status']} "
              f"after {len(delivery['attempts'])} attempt(s)"
              + (f"; last error {_error_text(delivery['lastError'])}"
                 if delivery.get("lastError") else ""))
    return 0


def stop_command(args: argparse.Namespace, client: Client) -> int:
    record, _ = client._call("PUT", _record_path(args.target, args.invocation_id))
    print(f"{record['invocationId']}: {record['status']}")
    return 0


def replay_command(args: argparse.Namespace, client: Client) -> int:
    record, _ = client._call("POST", f"{_record_path(args.target, args.invocation_id)}/replay",
                             {"target": args.code})
    print(record["invocationId"])
    return 0
