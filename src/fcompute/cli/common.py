"""What the client commands share: the endpoint, keys, and turning failures into one line.

Each command group module exposes ``register(commands)``; a command that talks to
the platform wraps its function with :func:`client_command`, which builds the SDK
client and reports every SDK failure as ``fcompute: <message>`` with exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from fcompute.sdk import Client, FcApiError, FcConnectionError, FcTimeoutError

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
# Management calls are quick; invocations pass their own, longer timeout.
REQUEST_TIMEOUT = 60.0

if TYPE_CHECKING:
    # What ``add_subparsers()`` returns; each command group's ``register`` takes it.
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
ClientCommand = Callable[[argparse.Namespace, Client], int]


class CliError(Exception):
    """A failure the user can fix, reported as one line without a traceback."""


def add_endpoint_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--endpoint", default=default, metavar="URL",
        help=f"platform URL (default: $FCOMPUTE_ENDPOINT or {DEFAULT_ENDPOINT})",
    )


def client_options() -> argparse.ArgumentParser:
    """Parent parser so ``--endpoint`` also works after the command name.

    SUPPRESS keeps a value given before the command from being overwritten.
    """
    parent = argparse.ArgumentParser(add_help=False)
    add_endpoint_option(parent, argparse.SUPPRESS)
    return parent


def make_client(args: argparse.Namespace) -> Client:
    endpoint = (getattr(args, "endpoint", None) or os.environ.get("FCOMPUTE_ENDPOINT")
                or DEFAULT_ENDPOINT)
    key_id = os.environ.get("FCOMPUTE_ACCESS_KEY_ID") or None
    secret = os.environ.get("FCOMPUTE_ACCESS_KEY_SECRET") or None
    if bool(key_id) != bool(secret):
        raise CliError("set both FCOMPUTE_ACCESS_KEY_ID and FCOMPUTE_ACCESS_KEY_SECRET, or neither")
    return Client(endpoint, key_id, secret, timeout=REQUEST_TIMEOUT)


def fail(message: str) -> int:
    print(f"fcompute: {message}", file=sys.stderr)
    return 1


def client_command(command: ClientCommand) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            with make_client(args) as client:
                return command(args, client)
        except FcTimeoutError as exc:
            return fail(f"fcompute at {exc.endpoint} did not answer: {exc.reason}")
        except FcConnectionError as exc:
            return fail(f"cannot reach fcompute at {exc.endpoint}: is `fcompute serve` running? "
                        f"({exc.reason})")
        except FcApiError as exc:
            return fail(f"{exc.code}: {exc.message}")
        except CliError as exc:
            return fail(str(exc))
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            # The reader went away (`fcompute ls | head`): silence the final flush as well.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1

    return run


def split_target(target: str, *, function_required: bool) -> tuple[str, str | None]:
    """``SERVICE/FUNCTION`` (or just ``SERVICE`` where allowed) -> its parts."""
    service, slash, function = target.partition("/")
    if not service or (slash and not function) or "/" in function:
        raise CliError(f"'{target}' is not SERVICE/FUNCTION")
    if function_required and not function:
        raise CliError(f"'{target}' names no function: use SERVICE/FUNCTION")
    return service, function or None


def split_qualified(service: str) -> tuple[str, str | None]:
    """``SERVICE.QUALIFIER`` -> its parts, split on the first dot as the platform does."""
    name, dot, qualifier = service.partition(".")
    if not name or (dot and not qualifier):
        raise CliError(f"'{service}' is not SERVICE or SERVICE.QUALIFIER")
    return name, qualifier or None


def unqualified_service(service: str, what: str) -> str:
    """The service name for commands that act on the service itself, never on a version."""
    name, qualifier = split_qualified(service)
    if qualifier:
        raise CliError(f"'{service}' names {qualifier!r} of service {name}: {what} takes the "
                       f"service name alone ({name})")
    return name


def hinted(exc: FcApiError, hint: str) -> CliError:
    """The platform's error with the next step for the user, still one line."""
    return CliError(f"{exc.code}: {exc.message}; {hint}")


def missing_qualifier(exc: FcApiError, service: str) -> CliError | None:
    """For a version or alias that does not exist: where to see those that do."""
    if exc.code == "VersionNotFound":
        return hinted(exc, f"`fcompute versions list {service}` shows its versions")
    if exc.code == "AliasNotFound":
        return hinted(exc, f"`fcompute aliases list {service}` shows its aliases")
    return None


def say(line: str) -> None:
    """A progress line, flushed so that it shows at once even when stdout is a pipe."""
    print(line, flush=True)


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
