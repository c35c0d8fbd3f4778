"""``fcompute rm SERVICE[/FUNCTION] --yes``: delete a function with its triggers, or a service
with everything in it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from fcompute.cli.common import CliError, client_command, client_options, split_target
from fcompute.sdk import Client

if TYPE_CHECKING:
    from fcompute.cli.common import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "rm", parents=[client_options()], help="delete a function or a whole service",
        description="Deletes SERVICE/FUNCTION with its triggers, or SERVICE with all its "
                    "functions and their triggers. Nothing is deleted without --yes.",
    )
    parser.add_argument("target", metavar="SERVICE[/FUNCTION]")
    parser.add_argument("-y", "--yes", action="store_true", help="really delete")
    parser.set_defaults(run=client_command(run))


def run(args: argparse.Namespace, client: Client) -> int:
    service, function = split_target(args.target, function_required=False)
    # Look everything up first: a typo fails with NotFound before anything is deleted.
    functions = [function] if function else [f.name for f in client.iter_functions(service)]
    plan = {name: [t.name for t in client.iter_triggers(service, name)] for name in functions}
    if function is None:
        client.get_service(service)
    if not args.yes:
        count = sum(len(names) for names in plan.values())
        what = (f"function {service}/{function}" if function
                else f"service {service} with {len(plan)} function(s)")
        raise CliError(f"refusing to delete {what} and {count} trigger(s) without --yes")
    for name, triggers in plan.items():
        for trigger in triggers:
            client.delete_trigger(service, name, trigger)
            print(f"deleted trigger {service}/{name}/{trigger}")
        client.delete_function(service, name)
        print(f"deleted function {service}/{name}")
    if function is None:
        client.delete_service(service)
        print(f"deleted service {service}")
    return 0
