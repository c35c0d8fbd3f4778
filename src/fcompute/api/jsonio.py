"""Strict JSON in and out of the API.

Python's ``json`` is lenient where a hostile client can hurt: it accepts ``NaN`` and
``Infinity`` (not JSON) and reads ``1e999`` as infinity; it recurses once per nesting level
(a body of 1,000 ``[`` raises RecursionError); and it decodes ``"\\u0000"`` and lone
surrogates (``"\\ud800"``) into strings that PostgreSQL, SQLite's UTF-8 encoder and
``execve`` refuse later, far from the request. :func:`loads` refuses all of these up front
with InvalidArgument; :func:`dumps` never writes ``NaN`` or ``Infinity``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fcompute import limits
from fcompute.errors import InvalidArgument


def _refuse_constant(name: str) -> Any:
    raise InvalidArgument(f"request body is not valid JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidArgument(f"request body is not valid JSON: {text[:40]} is out of range")
    return value


def loads(raw: bytes) -> Any:
    """The JSON value of ``raw``, or InvalidArgument saying what is wrong with it."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from None
    check(value)
    return value


def _too_deep() -> InvalidArgument:
    return InvalidArgument(
        f"request body nests arrays and objects deeper than {limits.MAX_JSON_DEPTH} levels"
    )


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise InvalidArgument("request body holds a NUL character (\\u0000) in a string")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(
                "request body holds a lone UTF-16 surrogate (\\ud800-\\udfff) in a string"
            ) from None


def check(value: Any) -> None:
    """Raises InvalidArgument unless ``value`` nests at most MAX_JSON_DEPTH containers deep
    (the outermost counting as one) and its strings and keys hold no NUL or lone surrogate.

    Iterative, so it never recurses itself; its cost is one step per value, and the string
    checks run in C (a 100 MB base64 string costs a few milliseconds).
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict | list):
            depth += 1
            if depth > limits.MAX_JSON_DEPTH:
                raise _too_deep()
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_string(key)
                    stack.append((child, depth))
            else:
                stack.extend((child, depth) for child in item)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(child) for child in value]
    return value


def dumps(data: Any) -> bytes:
    """``data`` as JSON bytes; a non-finite float (only in rows stored before :func:`loads`
    refused them) is written as null rather than as the invalid ``NaN``."""
    try:
        return json.dumps(data, allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(data), allow_nan=False).encode()
