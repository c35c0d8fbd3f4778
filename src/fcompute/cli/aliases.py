"""``fcompute aliases set|create|update|get|list|delete SERVICE [NAME]``: names for versions.

An alias points at a version and may send a share of the requests to other versions
(``--weight VERSION=SHARE``). ``fcompute invoke SERVICE.ALIAS/FUNCTION`` runs through one.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING

from fcompute.cli.common import (
    CliError,
    client_command,
    client_options,
    hinted,
    print_table,
    say,
    unqualified_service,
)
from fcompute.sdk import Alias, Client, FcApiError

if TYPE_CHECKING:
    from fcompute.cli.common import Commands

VERSION_HELP = "the version id the alias names (`fcompute versions list SERVICE`)"
WEIGHT_HELP = ("send this share (0..1) of the requests to VERSION instead (repeatable; "
               "the shares sum to at most 1)")


def register(commands: Commands) -> None:
    group = commands.add_parser(
        "aliases", aliases=["alias"], help="name versions and split traffic between them",
        description="An alias points at a version of a service, optionally sending a share "
                    "of the requests to other versions. Run through one with "
                    "`fcompute invoke SERVICE.ALIAS/FUNCTION`.",
    )
    actions = group.add_subparsers(dest="action", required=True)

    put = actions.add_parser(
        "set", parents=[client_options()],
        help="create the alias or repoint it: exactly this version and these weights",
    )
    _name_arguments(put)
    put.add_argument("--version", required=True, metavar="VERSION", help=VERSION_HELP)
    put.add_argument("--weight", action="extend", nargs="+", default=[],
                     metavar="VERSION=SHARE", help=WEIGHT_HELP + "; none given removes them")
    put.add_argument("--description", default=None, metavar="TEXT",
                     help="(default: left as it is)")
    put.set_defaults(run=client_command(set_command))

    create = actions.add_parser("create", parents=[client_options()],
                                help="create an alias; fails if it exists")
    _name_arguments(create)
    create.add_argument("--version", required=True, metavar="VERSION", help=VERSION_HELP)
    create.add_argument("--weight", action="extend", nargs="+", default=[],
                        metavar="VERSION=SHARE", help=WEIGHT_HELP)
    create.add_argument("--description", default=None, metavar="TEXT")
    create.set_defaults(run=client_command(create_command))

    update = actions.add_parser("update", parents=[client_options()],
                                help="change what is given; the rest stays")
    _name_arguments(update)
    update.add_argument("--version", default=None, metavar="VERSION", help=VERSION_HELP)
    weights = update.add_mutually_exclusive_group()
    weights.add_argument("--weight", action="extend", nargs="+", default=None,
                         metavar="VERSION=SHARE", help=WEIGHT_HELP + "; replaces the weights")
    weights.add_argument("--no-weights", action="store_true",
                         help="send every request to the alias's version")
    update.add_argument("--description", default=None, metavar="TEXT")
    update.add_argument("--if-match", default=None, metavar="ETAG",
                        help="only if the alias still has this ETag (see `aliases get`)")
    update.set_defaults(run=client_command(update_command))

    get = actions.add_parser("get", parents=[client_options()], help="show one alias")
    _name_arguments(get)
    get.add_argument("--json", action="store_true", help="print the API's JSON")
    get.set_defaults(run=client_command(get_command))

    ls = actions.add_parser("list", aliases=["ls"], parents=[client_options()],
                            help="list a service's aliases by name")
    ls.add_argument("service", metavar="SERVICE")
    ls.add_argument("--prefix", default="", help="only names starting with this")
    ls.add_argument("--json", action="store_true", help="print the API's JSON objects")
    ls.set_defaults(run=client_command(list_command))

    delete = actions.add_parser("delete", aliases=["rm"], parents=[client_options()],
                                help="delete an alias (its versions stay)")
    _name_arguments(delete)
    delete.add_argument("--if-match", default=None, metavar="ETAG",
                        help="only if the alias still has this ETag")
    delete.set_defaults(run=client_command(delete_command))


def _name_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("name", metavar="ALIAS")


def _target(args: argparse.Namespace, what: str) -> tuple[str, str]:
    service = unqualified_service(args.service, what)
    if not args.name or "/" in args.name or "." in args.name:
        raise CliError(f"'{args.name}' is not an alias name: use letters, digits, _ and -")
    return service, args.name


def parse_weights(pairs: list[str]) -> dict[str, float]:
    """``VERSION=SHARE`` pairs; the platform judges the shares (0..1, sum at most 1)."""
    weights: dict[str, float] = {}
    for pair in pairs:
        version, _, share = pair.partition("=")
        weight = _number(share)
        if not version or weight is None:
            raise CliError(f"invalid --weight {pair!r}: use VERSION=SHARE, e.g. 4=0.1 "
                           "sends a tenth of the requests to version 4")
        weights[version] = weight
    return weights


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    # NaN and infinity have no JSON spelling.
    return value if math.isfinite(value) else None


def describe(service: str, alias: Alias) -> str:
    """``demo.prod: version 3`` or ``demo.prod: version 3, weights 4=0.1``."""
    text = f"{service}.{alias.name}: version {alias.version_id}"
    if alias.additional_version_weight:
        text += f", weights {weights_text(alias)}"
    return text


def weights_text(alias: Alias) -> str:
    return ", ".join(f"{version}={share:g}"
                     for version, share in sorted(alias.additional_version_weight.items()))


def _explain(exc: FcApiError, service: str, name: str) -> CliError | None:
    """The next step for the failures a user can act on."""
    if exc.code == "AliasNotFound":
        return hinted(exc, f"`fcompute aliases set {service} {name} --version N` creates it")
    if exc.code == "AliasAlreadyExists":
        return hinted(exc, f"`fcompute aliases set {service} {name} --version N` repoints it")
    if exc.code == "PreconditionFailed":
        return hinted(exc, f"the alias changed meanwhile; `fcompute aliases get {service} "
                           f"{name}` shows it and its ETag now")
    if exc.code == "InvalidArgument" and "version" in exc.message.lower():
        return hinted(exc, f"`fcompute versions list {service}` shows the versions")
    return None


def set_command(args: argparse.Namespace, client: Client) -> int:
    service, name = _target(args, "an alias")
    weights = parse_weights(args.weight)
    try:
        alias, created = set_alias(client, service, name, args.version, weights,
                                   args.description)
    except FcApiError as exc:
        raise _explain(exc, service, name) or exc from None
    say(f"{'created' if created else 'updated'} alias {describe(service, alias)}")
    return 0


def set_alias(
    client: Client, service: str, name: str, version: str, weights: dict[str, float],
    description: str | None = None,
) -> tuple[Alias, bool]:
    """Points the alias at exactly ``version`` with ``weights``, creating it if missing.

    Returns the alias and whether it was created.
    """
    try:
        current = client.get_alias(service, name)
    except FcApiError as exc:
        if exc.code != "AliasNotFound":
            raise
        try:
            return client.create_alias(service, name, version, description=description,
                                       additional_version_weight=weights or None), True
        except FcApiError as race:
            if race.code != "AliasAlreadyExists":  # created meanwhile: repoint it below
                raise
        current = client.get_alias(service, name)
    # If-Match: a concurrent change is reported rather than silently overwritten.
    updated = client.update_alias(service, name, version_id=version, description=description,
                                  additional_version_weight=weights, if_match=current.etag)
    return updated, False


def create_command(args: argparse.Namespace, client: Client) -> int:
    service, name = _target(args, "an alias")
    weights = parse_weights(args.weight)
    try:
        alias = client.create_alias(service, name, args.version, description=args.description,
                                    additional_version_weight=weights or None)
    except FcApiError as exc:
        raise _explain(exc, service, name) or exc from None
    say(f"created alias {describe(service, alias)}")
    return 0


def update_command(args: argparse.Namespace, client: Client) -> int:
    service, name = _target(args, "an alias")
    weights = {} if args.no_weights else (
        None if args.weight is None else parse_weights(args.weight))
    if args.version is None and weights is None and args.description is None:
        raise CliError("nothing to update: give --version, --weight, --no-weights or "
                       "--description")
    try:
        alias = client.update_alias(service, name, version_id=args.version,
                                    description=args.description,
                                    additional_version_weight=weights, if_match=args.if_match)
    except FcApiError as exc:
        raise _explain(exc, service, name) or exc from None
    say(f"updated alias {describe(service, alias)}")
    return 0


def get_command(args: argparse.Namespace, client: Client) -> int:
    service, name = _target(args, "an alias")
    try:
        alias = client.get_alias(service, name)
    except FcApiError as exc:
        raise _explain(exc, service, name) or exc from None
    if args.json:
        print(json.dumps(alias.raw, indent=2))
        return 0
    for label, value in [
        ("alias", f"{service}.{alias.name}"),
        ("version", alias.version_id),
        ("weights", weights_text(alias) or "-"),
        ("description", alias.description or "-"),
        ("etag", alias.etag or "-"),
        ("created", alias.created_time),
        ("modified", alias.last_modified_time),
    ]:
        print(f"{label + ':':13}{value}")
    return 0


def list_command(args: argparse.Namespace, client: Client) -> int:
    service = unqualified_service(args.service, "listing aliases")
    aliases = list(client.iter_aliases(service, prefix=args.prefix))
    if args.json:
        print(json.dumps([a.raw for a in aliases], indent=2))
        return 0
    print_table(["NAME", "VERSION", "WEIGHTS", "MODIFIED", "DESCRIPTION"],
                [[a.name, a.version_id, weights_text(a) or "-", a.last_modified_time,
                  a.description] for a in aliases])
    return 0


def delete_command(args: argparse.Namespace, client: Client) -> int:
    service, name = _target(args, "an alias")
    try:
        client.delete_alias(service, name, if_match=args.if_match)
    except FcApiError as exc:
        raise _explain(exc, service, name) or exc from None
    say(f"deleted alias {service}.{name}")
    return 0
