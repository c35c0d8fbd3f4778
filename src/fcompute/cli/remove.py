"""``fcompute rm SERVICE[/FUNCTION] --yes``: delete a function with its triggers, or a service
with everything in it: functions, triggers, aliases and versions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from fcompute.cli.common import (
    CliError,
    client_command,
    client_options,
    split_qualified,
    split_target,
)
from fcompute.sdk import Client

if TYPE_CHECKING:
    from fcompute.cli.common import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "rm", parents=[client_options()], help="delete a function or a whole service",
        description="Deletes SERVICE/FUNCTION with its triggers (published versions keep "
                    "their copy), or SERVICE with all its functions, triggers, aliases and "
                    "versions. Nothing is deleted without --yes.",
    )
    parser.add_argument("target", metavar="SERVICE[/FUNCTION]")
    parser.add_argument("-y", "--yes", action="store_true", help="really delete")
    parser.set_defaults(run=client_command(run))


def run(args: argparse.Namespace, client: Client) -> int:
    qualified, function = split_target(args.target, function_required=False)
    service, qualifier = split_qualified(qualified)
    if qualifier:
        raise CliError(f"rm deletes services and functions, not versions or aliases: use "
                       f"`fcompute versions delete {service} VERSION` or `fcompute aliases "
                       f"delete {service} ALIAS`")
    # Look everything up first: a typo fails with NotFound before anything is deleted.
    functions = [function] if function else [f.name for f in client.iter_functions(service)]
    plan = {name: [t.name for t in client.iter_triggers(service, name)] for name in functions}
    aliases: list[str] = []
    versions: list[str] = []
    if function is None:
        client.get_service(service)
        # A service with aliases or versions cannot be deleted: they go first, aliases
        # before the versions they point at.
        aliases = [a.name for a in client.iter_aliases(service)]
        versions = [v.version_id for v in client.iter_versions(service)]
    if not args.yes:
        count = sum(len(names) for names in plan.values())
        published = "".join(f", {n} {kind}" for n, kind in [(len(versions), "version(s)"),
                                                            (len(aliases), "alias(es)")] if n)
        what = (f"function {service}/{function}" if function
                else f"service {service} with {len(plan)} function(s){published}")
        raise CliError(f"refusing to delete {what} and {count} trigger(s) without --yes")
    for name, triggers in plan.items():
        for trigger in triggers:
            client.delete_trigger(service, name, trigger)
            print(f"deleted trigger {service}/{name}/{trigger}")
        client.delete_function(service, name)
        print(f"deleted function {service}/{name}")
    for alias in aliases:
        client.delete_alias(service, alias)
        print(f"deleted alias {service}.{alias}")
    for version in versions:
        client.delete_version(service, version)
        print(f"deleted version {version} of service {service}")
    if function is None:
        client.delete_service(service)
        print(f"deleted service {service}")
    return 0
