"""Helpers shared by the resource handlers: qualifiers, pagination, If-Match."""

from __future__ import annotations

from fcompute import limits, validation
from fcompute.api.http import Request
from fcompute.errors import InvalidArgument
from fcompute.model import LATEST

API_PREFIX = "/2016-08-15"


def split_qualifier(service: str) -> tuple[str, str]:
    """``svc.qualifier`` -> (``svc``, ``qualifier``); no qualifier means LATEST."""
    name, _, qualifier = service.partition(".")
    return name, qualifier or LATEST


def unqualified(service: str) -> str:
    if "." in service:
        raise InvalidArgument(
            f"'{service}': this operation does not take a qualifier; use the service name"
        )
    return service


def list_limit(request: Request) -> int:
    """The ``limit`` query parameter of a listing: 1 to LIST_LIMIT_MAX, default
    LIST_LIMIT_DEFAULT."""
    raw = request.query.get("limit", "")
    if not raw:
        return limits.LIST_LIMIT_DEFAULT
    return validation.decimal("limit", raw, 1, limits.LIST_LIMIT_MAX)


def page_args(request: Request) -> tuple[str, str, int]:
    query = request.query
    limit = list_limit(request)
    start = query.get("nextToken") or query.get("startKey") or ""
    prefix = query.get("prefix", "")
    for name, value in (("prefix", prefix), ("nextToken", start)):
        # Names never hold NUL, and PostgreSQL refuses it in text comparisons.
        if "\x00" in value:
            raise InvalidArgument(f"{name} must not contain NUL (%00)")
    return prefix, start, limit


def if_match(request: Request) -> str | None:
    value = request.header("if-match")
    return value or None
