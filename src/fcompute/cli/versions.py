"""``fcompute versions publish|list|delete SERVICE``: the published versions of a service.

A version is a snapshot of the service's config and of every function's config and code.
``fcompute invoke SERVICE.VERSION/FUNCTION`` runs one; ``fcompute aliases`` names them.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import TYPE_CHECKING, Any

from fcompute.cli.common import (
    CliError,
    client_command,
    client_options,
    hinted,
    print_table,
    say,
    unqualified_service,
)
from fcompute.sdk import Alias, Client, FcApiError, Version
from fcompute.sdk.versions import Direction

if TYPE_CHECKING:
    from fcompute.cli.common import Commands


def register(commands: Commands) -> None:
    group = commands.add_parser(
        "versions", aliases=["version"], help="publish, list and delete versions of a service",
        description="A version is a snapshot of a service: its config and every function's "
                    "config and code as they are when it is published. Run one with "
                    "`fcompute invoke SERVICE.VERSION/FUNCTION`; `fcompute aliases` names one.",
    )
    actions = group.add_subparsers(dest="action", required=True)

    publish = actions.add_parser("publish", parents=[client_options()],
                                 help="snapshot the service as a new version")
    publish.add_argument("service", metavar="SERVICE")
    publish.add_argument("--description", default=None, metavar="TEXT")
    publish.add_argument("--json", action="store_true", help="print the API's JSON")
    publish.set_defaults(run=client_command(publish_command))

    ls = actions.add_parser("list", aliases=["ls"], parents=[client_options()],
                            help="list the versions, newest first, with the aliases on each")
    ls.add_argument("service", metavar="SERVICE")
    ls.add_argument("--forward", action="store_true", help="oldest first")
    ls.add_argument("--limit", type=int, default=None, metavar="N",
                    help="one page of at most N versions (default: every version)")
    ls.add_argument("--next-token", default="", metavar="TOKEN",
                    help="continue a listing where the previous page stopped")
    ls.add_argument("--json", action="store_true", help="print the API's JSON")
    ls.set_defaults(run=client_command(list_command))

    delete = actions.add_parser("delete", aliases=["rm"], parents=[client_options()],
                                help="delete a version no alias uses")
    delete.add_argument("service", metavar="SERVICE")
    delete.add_argument("version", metavar="VERSION")
    delete.set_defaults(run=client_command(delete_command))


def publish_or_newest(
    client: Client, service: str, description: str | None = None
) -> tuple[Version, bool]:
    """Publishes a version; when nothing changed since the newest one, returns that one.

    The flag says whether the version is new.
    """
    try:
        return client.publish_version(service, description=description), True
    except FcApiError as exc:
        if exc.code != "ServiceNotModified":
            raise
        newest = client.newest_version(service)
        if newest is None:  # the platform says "not modified" yet shows no version
            raise
        return newest, False


def publish_command(args: argparse.Namespace, client: Client) -> int:
    service = unqualified_service(args.service, "publishing")
    version, new = publish_or_newest(client, service, args.description)
    if not new:
        raise CliError(f"ServiceNotModified: nothing changed in service {service} since "
                       f"version {version.version_id}; change a function or the service "
                       f"first, or use version {version.version_id} as it is")
    if args.json:
        print(json.dumps(version.raw, indent=2))
    else:
        say(f"published version {version.version_id} of service {service}")
    return 0


def aliases_on(version_id: str, aliases: list[Alias]) -> str:
    """Which aliases send requests to the version: ``prod`` for all of theirs, ``canary(0.1)``
    for a weighted share."""
    names = []
    for alias in aliases:
        if alias.version_id == version_id:
            names.append(alias.name)
        elif version_id in alias.additional_version_weight:
            names.append(f"{alias.name}({alias.additional_version_weight[version_id]:g})")
    return ", ".join(names)


def list_command(args: argparse.Namespace, client: Client) -> int:
    service = unqualified_service(args.service, "listing versions")
    direction: Direction = "FORWARD" if args.forward else "BACKWARD"
    next_token: str | None = None
    if args.limit is None and not args.next_token:
        versions = list(client.iter_versions(service, direction=direction))
    else:
        page = client.list_versions(service, direction=direction, limit=args.limit,
                                    next_token=args.next_token or None)
        versions, next_token = page.items, page.next_token
    if args.json:
        data: dict[str, Any] = {"versions": [v.raw for v in versions]}
        if next_token:
            data["nextToken"] = next_token
        print(json.dumps(data, indent=2))
        return 0
    aliases = list(client.iter_aliases(service))
    print_table(["VERSION", "CREATED", "ALIASES", "DESCRIPTION"],
                [[v.version_id, v.created_time, aliases_on(v.version_id, aliases),
                  v.description] for v in versions])
    if next_token:
        print(f"more: --next-token {next_token}")
    return 0


def delete_command(args: argparse.Namespace, client: Client) -> int:
    service = unqualified_service(args.service, "deleting a version")
    if not args.version.isdigit():
        raise CliError(f"'{args.version}' is not a version id: versions are numbered 1, 2, ...; "
                       f"`fcompute versions list {service}` shows them")
    try:
        client.delete_version(service, args.version)
    except FcApiError as exc:
        if exc.code == "VersionInUse":
            # The message names the alias; the commands to free the version name it too.
            named = re.search(r"alias '([^']+)'", exc.message)
            alias = named.group(1) if named else "ALIAS"
            raise hinted(exc, f"repoint the alias (`fcompute aliases set {service} {alias} "
                              f"--version N`) or delete it (`fcompute aliases delete "
                              f"{service} {alias}`)") from None
        if exc.code == "VersionNotFound":
            raise hinted(exc, f"`fcompute versions list {service}` shows the versions") from None
        raise
    say(f"deleted version {args.version} of service {service}")
    return 0
