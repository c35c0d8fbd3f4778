"""An S3 request as the operations see it: method, bucket, key, query, headers.

Addressing. boto3 sends path style (``/bucket/key``) to any custom endpoint, and
virtual-host style (``Host: <bucket>.<endpoint host>``, path ``/key``) when configured
with ``addressing_style: virtual``. The store is not told the names it is reached by, so
it reads the Host header (port removed) the way the OSS front door does: never a bucket
when it is an IP address or ``localhost``; ``<bucket>.localhost`` (any bucket name, dots
too: RFC 6761 has every ``*.localhost`` name reach the loopback); otherwise a dotted name
whose first label is an existing bucket, or a valid bucket name being created by
``PUT /``. A path-style client that reaches the store under a dotted name whose first
label is also a bucket's name is therefore read as virtual-host style: such clients use an
IP or ``localhost`` endpoint.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from fcompute.objectstore import wire
from fcompute.objectstore.engine import BUCKET_NAME
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


def host_name(host: str) -> str:
    """The Host header without its port (``[::1]:9001`` -> ``::1``), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_bucket(host: str, method: str, raw_path: str, bucket_exists: Callable[[str], bool],
                domains: Sequence[str] = DEFAULT_DOMAINS) -> str:
    """The bucket a virtual-host style request names in its Host header ("" for path
    style)."""
    name = host_name(host)
    if not name or _is_ip(name) or name in domains:
        return ""
    for domain in domains:
        suffix = "." + domain
        if name.endswith(suffix) and BUCKET_NAME.fullmatch(name[:-len(suffix)]):
            return name[:-len(suffix)]
    label, dot, rest = name.partition(".")
    if not dot or not rest or not BUCKET_NAME.fullmatch(label):
        return ""
    if bucket_exists(label):
        return label
    creating = method == "PUT" and raw_path in ("", "/")
    return label if creating else ""


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
                   bucket_exists: Callable[[str], bool],
                   domains: Sequence[str] = DEFAULT_DOMAINS) -> S3Request:
        raw_path = wire.raw_path(scope)
        raw_query = scope.get("query_string", b"").decode("latin-1")
        method = str(scope["method"]).upper()
        bucket = host_bucket(wire.header(scope, b"host"), method, raw_path, bucket_exists,
                             domains)
        virtual_host = bool(bucket)
        if virtual_host:
            key = unquote(raw_path[1:] if raw_path.startswith("/") else raw_path)
        else:
            bucket, key = wire.split_bucket_key(raw_path)
        return cls(scope, receive, request_id, method, raw_path,
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
