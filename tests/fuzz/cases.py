"""Requests for one operation of the OpenAPI document, valid-looking and hostile.

Every path segment, query parameter, header and body the document describes is drawn from
three pools: names that exist on the platform under test (so handlers get past their
lookups), values the schema accepts, and hostile values (``hostile.py``). A case says how
it is to be signed (``signing.py``): right, except when the case is about the signature.
:meth:`CaseMaker.refusal` says when the document requires the platform to refuse a case.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.fuzz import hostile
from tests.fuzz.hostile import Raw
from tests.fuzz.schemas import Schemas

# httpx refuses URLs over 64 KB (the raw-socket tests send longer ones): every parameter
# is cut to this many characters once percent-encoded.
MAX_ENCODED_CHARS = 4000
AUTH_MODES = ("signed", "none", "garbage", "unknown-key", "bad-date", "skewed")
BAD_DATES = (
    "", "²", "-1", "Fri, 31 Dec 99999999 23:59:59 GMT",
    "Fri, 31 Dec 100000000000000000000 23:59:59 GMT", "Fri, 31 Dec 2026 99:59:59 GMT",
    "Mon, 01 Jan 0000 00:00:00 GMT", "Sun, 31 Feb 2026 00:00:00 GMT", "Thu, 01 Jan 1970",
    "Mon, 01 Jan 2026 00:00:00 +9999", "Mon, 01 Jan 2026 00:00:00 GMT\t\tGMT",
)
GARBAGE_AUTH = (
    b"FC", b"FC :", b"FC fuzz", b"FC fuzz:", b"Bearer x", b"fc fuzz:x", b"FC fuzz:x:y",
    "FC fuzz:é".encode("latin-1"), "FC ²:é".encode(), b"FC fuzz:" + b"\xff" * 44,
    b"FC " + b"k" * 5000 + b":x", b"FC \x80\x81:\x82",
)
HEADERS_SET_BY_CASE = frozenset({"date", "content-md5"})
# What h11 (httpx's HTTP/1.1 writer) sends in a header value; raw sockets send the rest.
_NOT_IN_HEADER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Operation:
    """One (path, method) of the document, its parameters and body resolved."""

    path: str
    method: str
    operation_id: str
    parameters: tuple[dict[str, Any], ...]
    body_schema: dict[str, Any] | None  # a JSON body
    takes_bytes: bool  # a raw body (invocations, HTTP triggers)
    statuses: frozenset[str]

    @property
    def mutates(self) -> bool:
        return self.method in ("post", "put", "delete") and not self.operation_id.startswith(
            ("invoke", "httpTrigger", "replay", "stop"))


def operations(document: dict[str, Any]) -> list[Operation]:
    schemas = Schemas(document)
    found = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            params = tuple(schemas.resolve(p)[0] for p in op.get("parameters", ()))
            content = op.get("requestBody", {}).get("content", {})
            json_body = content.get("application/json", {}).get("schema")
            found.append(Operation(path, method, op["operationId"], params, json_body,
                                   "*/*" in content, frozenset(op["responses"])))
    return found


@dataclass(repr=False)
class Case:
    method: str
    path: str  # percent-encoded, as sent
    query: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    auth: str  # one of AUTH_MODES
    garbage: bytes = b""  # the Authorization header of auth "garbage"
    date: str = ""  # the Date header of auth "bad-date"
    values: dict[str, str] = field(default_factory=dict)  # path and query parameters sent

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def describe(self) -> str:
        body = self.body if len(self.body) <= 200 else (
            self.body[:160] + b"...(%d bytes)" % len(self.body))
        target = self.target if len(self.target) <= 300 else self.target[:300] + "..."
        headers = {k.decode(): v.decode("latin-1")[:80] for k, v in self.headers}
        return f"{self.method} {target} auth={self.auth} headers={headers} body={body!r}"

    # Hypothesis shows the cases it ran; bodies may be megabytes.
    __repr__ = describe

    def _repr_pretty_(self, printer: Any, _cycle: bool) -> None:
        printer.text(self.describe())


def assemble(operation: Operation, values: dict[str, str], body: bytes = b"",
             headers: list[tuple[bytes, bytes]] | None = None, auth: str = "signed") -> Case:
    """A signed JSON request for ``operation`` with these parameter values."""
    path, pairs, sent = operation.path, [], list(headers or [])
    for param in operation.parameters:
        value = values.get(param["name"])
        if value is None:
            continue
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", segment(value))
        elif param["in"] == "query":
            pairs.append(f"{_quoted(param['name'])}={_quoted(value)}")
        elif param["in"] == "header":
            sent.append((param["name"].lower().encode(), header_value(value)))
    sent.append((b"content-type", b"application/json"))
    kept = {k: v for k, v in values.items()
            if any(p["name"] == k and p["in"] != "header" for p in operation.parameters)}
    return Case(operation.method.upper(), path, "&".join(pairs), sent, body, auth,
                values=kept)


def segment(text: str) -> str:
    """One path segment, percent-encoded so that the client sends it unchanged."""
    encoded = quote(text.encode("utf-8", "surrogatepass"), safe="")
    return encoded.replace(".", "%2E") if set(text) <= {"."} and text else encoded


def fitted(text: str) -> str:
    while len(_quoted(text)) > MAX_ENCODED_CHARS:
        text = text[: len(text) // 2]
    return text


def _quoted(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def header_value(text: str) -> bytes:
    """``text`` as UTF-8 header bytes, without what no HTTP/1.1 client can send."""
    return _NOT_IN_HEADER.sub(b"", text.encode("utf-8", "surrogatepass")).strip(b" \t")


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Raw):
        return value.text
    return value if isinstance(value, str) else hostile.encode(value)


class CaseMaker:
    """Draws :class:`Case` objects for operations, with the world's names mixed in.

    Most cases have one *focus*, the one part made hostile (a parameter, the body, the
    signature, the Content-MD5), while every other part exists or is valid: a request
    wrong in five ways is refused for the first and never reaches the code behind it.
    Some cases are hostile everywhere ("chaos").
    """

    def __init__(self, document: dict[str, Any], known: dict[str, list[str]],
                 mutable: dict[str, list[str]], overrides: dict[str, Any]) -> None:
        self.schemas = Schemas(document, overrides)
        self._known = known  # parameter name -> values that exist on the platform
        self._mutable = mutable  # the same, for operations that change or delete

    def strategy(self, operation: Operation) -> st.SearchStrategy[Case]:
        return st.composite(lambda draw: self._draw(draw, operation))()

    def _param_value(self, draw: st.DrawFn, operation: Operation, param: dict[str, Any],
                     hostile_now: bool) -> str:
        pool = (self._mutable if operation.mutates else self._known).get(param["name"], [])
        if hostile_now and draw(st.integers(0, 5)):
            if param["schema"].get("type") == "integer" and draw(st.booleans()):
                return draw(st.sampled_from(hostile.NUMERIC_TEXTS))
            return fitted(as_text(draw(hostile.hostile_scalars())))
        if pool and draw(st.integers(0, 3)) != 0:  # three in four: an existing name
            return draw(st.sampled_from(pool))
        return fitted(as_text(draw(self.schemas.valid(param["schema"]))))

    def _path(self, draw: st.DrawFn, operation: Operation, focus: str, chaos: bool,
              values: dict[str, str]) -> str:
        path = operation.path
        for param in operation.parameters:
            if param["in"] != "path":
                continue
            if param.get("x-fcompute-greedy"):
                parts = draw(st.lists(st.one_of(st.text(max_size=8), st.sampled_from(
                    hostile.STRINGS)), max_size=4))
                encoded = "/".join(segment(p) for p in parts)
            else:
                value = self._param_value(draw, operation, param,
                                          chaos or focus == param["name"])
                values[param["name"]] = value
                encoded = segment(value)
            path = path.replace("{" + param["name"] + "}", encoded)
        return path

    def _query(self, draw: st.DrawFn, operation: Operation, focus: str, chaos: bool,
               values: dict[str, str]) -> str:
        pairs: list[tuple[str, str]] = []
        for param in operation.parameters:
            if param["in"] != "query":
                continue
            focused = focus == param["name"]
            if not (focused or param.get("required") or draw(st.booleans())):
                continue
            if param["schema"].get("type") == "object":  # free-form (HTTP triggers)
                pairs += draw(st.dictionaries(st.text(max_size=6), st.text(max_size=12),
                                              max_size=3)).items()
            else:
                value = self._param_value(draw, operation, param, chaos or focused)
                values[param["name"]] = value
                pairs.append((param["name"], value))
        if focus == "extra-query" or (chaos and draw(st.booleans())):
            pairs.append((draw(st.sampled_from(hostile.STRINGS)),
                          fitted(as_text(draw(hostile.hostile_scalars())))))
        return "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in pairs)

    def _headers(self, draw: st.DrawFn, operation: Operation, focus: str, chaos: bool
                 ) -> list[tuple[bytes, bytes]]:
        headers = []
        for param in operation.parameters:
            name = param["name"].lower()
            focused = focus == param["name"]
            if param["in"] != "header" or name in HEADERS_SET_BY_CASE or not (
                    focused or draw(st.booleans())):
                continue
            headers.append((name.encode(), header_value(
                self._param_value(draw, operation, param, chaos or focused))))
        return headers

    def _body(self, draw: st.DrawFn, operation: Operation, hostile_now: bool) -> bytes:
        if operation.body_schema is not None:
            value = draw(self.schemas.valid(operation.body_schema))
            if hostile_now:
                kind = draw(st.sampled_from(("mutated", "mutated", "mutated", "hostile", "raw")))
                if kind == "raw":
                    return draw(hostile.raw_bodies())
                value = (draw(hostile.hostile_values()) if kind == "hostile"
                         else hostile.mutate(value, draw))
            return hostile.encode(value).encode("utf-8", "surrogatepass")
        if operation.takes_bytes:
            if not hostile_now:
                return draw(st.binary(max_size=256))
            return draw(st.one_of(hostile.raw_bodies(), st.sampled_from(hostile.SIZES).map(
                lambda n: b"x" * n)))
        return draw(st.sampled_from((b"", b"{}", b"\xff"))) if hostile_now else b""

    def _draw(self, draw: st.DrawFn, operation: Operation) -> Case:
        names = [p["name"] for p in operation.parameters
                 if p["name"].lower() not in HEADERS_SET_BY_CASE]
        focus = draw(st.sampled_from([*names, "body", "body", "auth", "md5", "content-type",
                                      "extra-query", "chaos"]))
        chaos = focus == "chaos"
        body = self._body(draw, operation, chaos or focus == "body")
        headers = self._headers(draw, operation, focus, chaos)
        content_type = b"application/json"
        if chaos or focus == "content-type":
            content_type = draw(st.sampled_from((b"application/octet-stream", b"",
                                                 b"text/plain; \xff", b"application/json")))
        if content_type:
            headers.append((b"content-type", content_type))
        md5 = draw(st.sampled_from(("right", "hex", "wrong", "garbage", "none"))) if (
            chaos or focus == "md5") else "none"
        digest = hashlib.md5(body, usedforsecurity=False)
        md5_value = {"right": base64.b64encode(digest.digest()),
                     "hex": base64.b64encode(digest.hexdigest().encode()),
                     "wrong": base64.b64encode(b"\x00" * 16), "garbage": "²é".encode()}
        if md5 in md5_value:
            headers.append((b"content-md5", md5_value[md5]))
        auth = draw(st.sampled_from(AUTH_MODES)) if chaos or focus == "auth" else "signed"
        values: dict[str, str] = {}
        case = Case(operation.method.upper(), self._path(draw, operation, focus, chaos, values),
                    self._query(draw, operation, focus, chaos, values), headers, body, auth,
                    values=values)
        if auth == "garbage":
            case.garbage = draw(st.sampled_from(GARBAGE_AUTH))
        if auth == "bad-date":
            case.date = draw(st.sampled_from(BAD_DATES))
        return case

    def refusal(self, operation: Operation, case: Case) -> str:
        """Why the document says the platform must refuse ``case`` ('' when it need not)."""
        for param in operation.parameters:
            value = case.values.get(param["name"])
            if value is None or (value == "" and param["in"] == "query"):  # "" is not given
                continue
            schema = self.schemas.resolve(param["schema"])[0]
            if schema.get("type") == "integer":
                if not DECIMAL.fullmatch(value) or not (
                        schema["minimum"] <= int(value) <= schema["maximum"]):
                    return f"{param['name']}: {value[:40]!r} is not an integer in range"
                continue
            if "enum" in schema and param["in"] == "query":  # read case-insensitively
                if value.lower() not in [str(e).lower() for e in schema["enum"]]:
                    return f"{param['name']}: {value[:40]!r} is not one of {schema['enum']}"
                continue
            reason = self.schemas.violation(schema, value, param["name"])
            if reason:
                return reason
        reads_body = any(p["name"] == "Content-MD5" for p in operation.parameters)
        declared = dict(case.headers).get(b"content-md5")
        if reads_body and declared and not md5_matches(declared, case.body):  # "" is not given
            return "Content-MD5: does not match the body"
        if operation.body_schema is None:
            return ""
        problem, value = strict_json(case.body)
        return problem or self.schemas.violation(operation.body_schema, value)


DECIMAL = re.compile(r"[0-9]{1,32}")


def md5_matches(declared: bytes, body: bytes) -> bool:
    """Content-MD5 as the document describes it: base64 of the digest or of its hex."""
    digest = hashlib.md5(body, usedforsecurity=False)
    try:
        value = base64.b64decode(declared.strip(), validate=True)
    except ValueError:
        return False
    return value in (digest.digest(), digest.hexdigest().encode()) or (
        value.lower() == digest.hexdigest().encode())


def strict_json(body: bytes) -> tuple[str, Any]:
    """(why ``body`` is not the strict JSON the API reads, its value); an empty body is
    ``{}``. Strict: no NaN or Infinity, no number overflowing to infinity, nesting at
    most 64 deep, no NUL and no lone surrogate in strings (docs/api.md, input rules)."""
    if not body.strip():
        return "", {}

    def refuse(text: str) -> Any:
        raise ValueError(f"{text} is not JSON")

    def finite(text: str) -> float:
        number = float(text)
        if math.isinf(number):
            raise ValueError(f"{text[:20]} overflows")
        return number

    try:
        value = json.loads(body, parse_constant=refuse, parse_float=finite)
    except (ValueError, RecursionError) as exc:
        return f"body: not strict JSON ({str(exc)[:60]})", None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list) and depth > 64:
            return "body: nested deeper than 64", None
        if isinstance(item, dict):
            stack += [(k, depth) for k in item] + [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
        elif isinstance(item, str) and ("\x00" in item or _LONE_SURROGATE.search(item)):
            return "body: a string holds NUL or a lone surrogate", None
    return "", value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
