"""FC request signatures as the clients make them (reference A.2), written independently of
``fcompute.api.auth`` so that the platform is checked against the reference, not itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.utils import formatdate
from urllib.parse import parse_qsl, unquote

from tests.fuzz.cases import Case, header_value


def string_to_sign(method: str, path: str, query: str, headers: list[tuple[bytes, bytes]]
                   ) -> str:
    """Reference A.2, with the path as the server reads it (unescaped, latin-1)."""
    seen: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        seen[name] = f"{seen[name]},{value}" if name in seen else value
    resource = unquote(path)
    if resource.startswith("/2016-08-15/proxy/"):
        pairs = sorted(f"{k}={v}" for k, v in parse_qsl(query, keep_blank_values=True))
        resource += "\n" + "\n".join(pairs)
    fc = "".join(f"{k}:{v}\n" for k, v in sorted(seen.items()) if k.startswith("x-fc-"))
    return "\n".join([method, seen.get("content-md5", ""), seen.get("content-type", ""),
                      seen.get("date", ""), fc + resource])


def sign(case: Case, key_id: str, secret: str) -> list[tuple[bytes, bytes]]:
    """The case's headers with Date and Authorization as its ``auth`` mode asks."""
    date = {"bad-date": case.date, "skewed": "Mon, 01 Jan 2001 00:00:00 GMT"}.get(
        case.auth, formatdate(usegmt=True))
    headers = [*case.headers, (b"date", header_value(date))]
    if case.auth == "none":
        return headers
    if case.auth == "garbage":
        return [*headers, (b"authorization", case.garbage)]
    text = string_to_sign(case.method, case.path, case.query, headers)
    signature = base64.b64encode(
        hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()
    key = "nobody" if case.auth == "unknown-key" else key_id
    return [*headers, (b"authorization", f"FC {key}:{signature}".encode())]
