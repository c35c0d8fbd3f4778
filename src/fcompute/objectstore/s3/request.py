"""An S3 request as the operations see it: method, bucket, key, query, headers.

Addressing. Path style (``/bucket/key``) always works. Virtual-host style
(``Host: bucket.<domain>``, path ``/key``) applies when the Host header's name, port
removed, ends in ``.<domain>`` for one of the front door's domains (by default
``localhost``: ``photos.localhost:9001`` is bucket ``photos``, as RFC 6761 has every
``*.localhost`` name reach the loopback). Any other Host (an IP address, ``localhost``,
a machine's name) is path style, so a host name is never mistaken for a bucket.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from fcompute.objectstore import wire
from fcompute.objectstore.server import Receive, Scope

DEFAULT_DOMAINS = ("localhost",)


def new_request_id() -> str:
    """16 upper-case hex digits, as S3's request ids look."""
    return secrets.token_hex(8).upper()


def parse_query(raw: str) -> dict[str, str]:
    """Decoded parameters (the first of repeated names); ``?uploads`` gives ``""``."""
    query: dict[str, str] = {}
    for part in raw.split("&"):
        if part:
            name, _, value = part.partition("=")
            query.setdefault(unquote_plus(name), unquote_plus(value))
    return query


def host_bucket(host: str, domains: Sequence[str]) -> str:
    """The bucket a virtual-host style Host header names ("" for path style)."""
    name = host.strip().lower()
    if name.startswith("["):  # an IPv6 literal
        return ""
    name = name.rpartition(":")[0] if ":" in name else name
    for domain in domains:
        suffix = "." + domain.lower().strip(".")
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return ""


@dataclass
class S3Request:
    scope: Scope
    receive: Receive
    request_id: str
    method: str
    raw_path: str  # as sent, percent-encoded: what the signature covers
    raw_query: str
    query: dict[str, str]
    bucket: str
    key: str
    virtual_host: bool = False

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive, request_id: str,
                   domains: Sequence[str] = DEFAULT_DOMAINS) -> S3Request:
        raw_path = wire.raw_path(scope)
        raw_query = scope.get("query_string", b"").decode("latin-1")
        bucket = host_bucket(wire.header(scope, b"host"), domains)
        virtual_host = bool(bucket)
        if virtual_host:
            key = unquote(raw_path[1:] if raw_path.startswith("/") else raw_path)
        else:
            bucket, key = wire.split_bucket_key(raw_path)
        return cls(scope, receive, request_id, str(scope["method"]).upper(), raw_path,
                   raw_query, parse_query(raw_query), bucket, key, virtual_host)

    def header(self, name: str) -> str:
        return wire.header(self.scope, name.encode())

    def has(self, name: str) -> bool:
        wanted = name.encode()
        return any(key == wanted for key, _ in self.scope["headers"])

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.scope["headers"])

    @property
    def source_ip(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    @property
    def resource(self) -> str:
        """What errors name as their Resource: ``/bucket/key``."""
        if not self.bucket:
            return "/"
        return f"/{self.bucket}/{self.key}" if self.key else f"/{self.bucket}"
