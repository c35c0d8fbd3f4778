"""``fcompute ls [SERVICE[.QUALIFIER][/FUNCTION]]``: list services, functions or triggers."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from fcompute.cli.common import (
    CliError,
    client_command,
    client_options,
    missing_qualifier,
    print_table,
    split_qualified,
    split_target,
)
from fcompute.sdk import Client, FcApiError

if TYPE_CHECKING:
    from fcompute.cli.common import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "ls", parents=[client_options()], help="list services, functions or triggers",
        description="Without an argument lists the services; with SERVICE its functions "
                    "(with SERVICE.QUALIFIER those of that version or alias); with "
                    "SERVICE/FUNCTION that function's triggers.",
    )
    parser.add_argument("target", nargs="?", default="",
                        metavar="SERVICE[.QUALIFIER][/FUNCTION]")
    parser.add_argument("--json", action="store_true",
                        help="print the API's JSON objects, one list, instead of a table")
    parser.set_defaults(run=client_command(run))


def run(args: argparse.Namespace, client: Client) -> int:
    if not args.target:
        services = list(client.iter_services())
        show(args.json, [s.raw for s in services], ["NAME", "MODIFIED", "DESCRIPTION"],
             [[s.name, s.last_modified_time, s.description] for s in services])
        return 0
    qualified, function = split_target(args.target, function_required=False)
    service, qualifier = split_qualified(qualified)
    if function is None:
        try:
            functions = list(client.iter_functions(service, qualifier=qualifier))
        except FcApiError as exc:
            raise missing_qualifier(exc, service) or exc from None
        show(args.json, [f.raw for f in functions],
             ["NAME", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "CODE", "MODIFIED"],
             [[f.name, f.runtime, f.handler, f"{f.memory_size}MB", f"{f.timeout}s",
               f"{f.code_size}B", f.last_modified_time] for f in functions])
        return 0
    if qualifier:
        raise CliError(f"triggers are not versioned: `fcompute ls {service}/{function}` lists "
                       "them (a trigger's qualifier says which version it runs)")
    triggers = list(client.iter_triggers(service, function))
    show(args.json, [t.raw for t in triggers], ["NAME", "TYPE", "CONFIG", "MODIFIED"],
         [[t.name, t.type, json.dumps(t.config, sort_keys=True), t.last_modified_time]
          for t in triggers])
    return 0


def show(
    as_json: bool, raw: list[dict[str, Any]], header: list[str], rows: list[list[str]]
) -> None:
    if as_json:
        print(json.dumps(raw, indent=2))
    else:
        print_table(header, rows)
