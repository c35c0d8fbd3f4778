"""Hostile values: wrong JSON types, huge and Unicode numbers, NaN, deep nesting, control
characters, names ending in a newline, and bodies that are not JSON at all.

Bodies are written by :func:`encode`, which passes :class:`Raw` text through unchanged:
``json.dumps`` cannot write 5,000-digit integers, ``1e999`` or 100,000 nested arrays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """JSON text written as is."""

    text: str


def encode(value: Any) -> str:
    """JSON text of ``value``; NaN and Infinity are written as Python's json writes them."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(item) for item in value) + "]"
    return json.dumps(value)


def nested(depth: int, leaf: str = "1") -> Raw:
    half = depth // 2
    return Raw('{"a":' * half + "[" * (depth - half) + leaf + "]" * (depth - half) + "}" * half)


SIZES = (300, 5_000, 70_000, 1_100_000)
NUMBER_TEXTS = (
    "1" + "0" * 5000,  # more digits than int() converts by default (4300)
    "-" + "9" * 400, "1e999", "-1e999", "1e-999", "1" * 40, "18446744073709551616",
    "9223372036854775808", "-9223372036854775809", "0.1e1", "1E400", "-0", "1.0",
)
STRINGS = (
    "", " ", "\n", "\t", "name\n", "name\r\n", "name ", " name", "\x00", "a\x00b", "\x01\x7f",
    "\u2028", "\u202e", "\ufeff", "\ud800", "\udfff", "\U0001f600", "é", "ß", "İ", "名前",
    "²", "¹⁰", "١٢", "٣", "\U0001d7d7", "Ⅻ", "1", "-1", "+1", " 1", "1 ", "1\n", "0x10", "1e3",
    "1_000",
    "NaN", "Infinity", "-Infinity", "true", "null", "[]", "{}", "..", "../..", ".", "%00",
    "%zz", "%", "a/b", "a.b", "a.LATEST", "a.1", "FC_X", "LATEST", "$(id)", "' OR '1'='1",
    "@every 100000000000000000000h", "@every 99999999h", "@every 0m", "@every", "* * * * * *",
    "@every " + "9" * 5000 + "m", "@every 1m\n", "0 0 8 * * *\n", "99999 0 8 * * *",
    "99999-12-31", "Fri, 31 Dec 99999999 23:59:59 GMT",
)


# Where a number is read from text (queries, headers): what int() and str.isdigit() disagree
# on, signs, spaces, exponents, and more digits than int() converts.
NUMERIC_TEXTS = (
    "²", "¹⁰", "\u0661", "\u0663\u0663", "\U0001d7d7", "Ⅻ", "-1", "0", "+1", " 1", "1 ", "1\n",
    "1e3", "0x10", "1.5", "", "1_000", "99999999999999999999", "9" * 33, "9" * 5000, "0" * 40 + "1",
    "18446744073709551616", "253402300800000", "NaN", "-0",
)


def big_strings() -> st.SearchStrategy[str]:
    return st.builds(lambda size, char: char * size, st.sampled_from(SIZES),
                     st.sampled_from(("x", "9", "é", "\U0001f600", "\x00", "a\n")))


def hostile_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from((None, True, False, 0, -1, 1, 2**31, 2**53 + 1, 2**63, -(2**63) - 1,
                         10**30, 1.5, -0.0, 1e308, float("nan"), float("inf"), float("-inf"))),
        st.sampled_from(STRINGS), st.sampled_from(STRINGS), st.sampled_from(NUMERIC_TEXTS),
        st.sampled_from(NUMBER_TEXTS).map(Raw),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.text(st.characters(codec="utf-8", categories=["Cc", "Zs", "Zl", "Zp", "Cf", "Nd",
                                                          "No", "Nl"]), max_size=8),
        big_strings(),
    )


def hostile_values() -> st.SearchStrategy[Any]:
    """Any JSON-ish value: scalars above, containers of them, very deep nesting."""
    return st.one_of(
        hostile_scalars(),
        st.builds(nested, st.sampled_from((63, 64, 65, 200, 5_000, 200_000))),
        st.recursive(hostile_scalars(), lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.one_of(st.sampled_from(STRINGS), st.text(max_size=8)), inner,
                            max_size=4)), max_leaves=8),
    )


def raw_bodies() -> st.SearchStrategy[bytes]:
    """Bodies that are not one JSON object."""
    return st.one_of(
        st.sampled_from((
            b"", b" ", b"\n", b"{", b"}", b"[", b"null", b"0", b'"text"', b"[]", b"{}{}",
            b"{} garbage", b'{"a":1,"a":2}', b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00",
            b'{"a":"\xff"}', b'{"a":"\xc0\xaf"}', b'{"a":"\xed\xa0\x80"}', b"{'a': 1}",
            b'{"a":NaN}', b'{"a":-Infinity}', b'{"a":1e999}', b'{"a":01}', b'{"a":.5}',
            b'{"a":"\\ud800"}', b'{"a":"\\u0000"}', b'{"\\u0000":1}', b'{"a":"\t"}',
            b"\x00" * 64, "{\"a\":\"é\"}".encode("latin-1"),
        )),
        st.binary(max_size=64),
        st.builds(lambda depth: ("[" * depth).encode(), st.sampled_from((100, 100_000))),
    )


def mutate(value: Any, draw: st.DrawFn, depth: int = 0) -> Any:
    """``value`` with one part replaced by a hostile value, removed, or an extra key."""
    if isinstance(value, dict) and value and depth < 4:
        key = draw(st.sampled_from(sorted(value)))
        action = draw(st.sampled_from(("replace", "replace", "descend", "drop", "add")))
        changed = dict(value)
        if action == "drop":
            del changed[key]
        elif action == "add":
            changed[draw(st.sampled_from(STRINGS))] = draw(hostile_values())
        elif action == "descend" and isinstance(value[key], dict | list):
            changed[key] = mutate(value[key], draw, depth + 1)
        else:
            changed[key] = draw(hostile_values())
        return changed
    if isinstance(value, list) and value and depth < 4:
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], draw(hostile_values()), *value[index + 1:]]
    return draw(hostile_values())
