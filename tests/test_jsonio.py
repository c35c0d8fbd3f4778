"""Unit tests of the API's strict JSON: what loads refuses and what dumps never writes."""

from __future__ import annotations

import json
import math
import time

import pytest

from fcompute import limits
from fcompute.api import jsonio
from fcompute.errors import InvalidArgument


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_depth_is_counted_from_the_outermost_container() -> None:
    assert jsonio.loads(nested(limits.MAX_JSON_DEPTH)) is not None
    assert jsonio.loads(b'{"a": ' + nested(limits.MAX_JSON_DEPTH - 1) + b"}")
    assert jsonio.loads(b"1") == 1
    with pytest.raises(InvalidArgument, match="deeper"):
        jsonio.loads(nested(limits.MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize("depth", [900, 1000, 100_000])
def test_recursion_is_an_invalid_argument(depth: int) -> None:
    with pytest.raises(InvalidArgument, match="deeper"):
        jsonio.loads(nested(depth))
    with pytest.raises(InvalidArgument, match="deeper"):
        jsonio.loads(b'{"a":' * depth + b"1" + b"}" * depth)


@pytest.mark.parametrize("raw", [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"1e999",
                                 b"[-1e400]"])
def test_non_finite_numbers_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidArgument, match="JSON"):
        jsonio.loads(raw)


@pytest.mark.parametrize("raw", [b'"a\\u0000"', b'{"\\u0000": 1}', b'["\\ud800"]',
                                 b'{"\\udfff": 1}', '"\ud800"'.encode("utf-16", "surrogatepass")])
def test_nul_and_lone_surrogates_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidArgument):
        jsonio.loads(raw)


def test_valid_json_is_unchanged() -> None:
    raw = b'{"a": [1, 2.5, -0.0, "\\ud83d\\ude00", "\\u00e9", null, true], "b": {}}'
    assert jsonio.loads(raw) == json.loads(raw)
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        jsonio.loads(b"{")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        jsonio.loads(b"\xff")


def test_dumps_writes_null_for_non_finite_floats() -> None:
    data = {"a": [math.nan, 1.5, {"b": math.inf}], "c": -math.inf, "d": "NaN"}
    assert json.loads(jsonio.dumps(data)) == {"a": [None, 1.5, {"b": None}], "c": None,
                                              "d": "NaN"}
    assert jsonio.dumps({"x": 1}) == b'{"x": 1}'


def test_a_large_code_upload_is_checked_quickly() -> None:
    body = b'{"code": {"zipFile": "' + b"A" * (100 * 1024 * 1024) + b'"}}'
    started = time.perf_counter()
    jsonio.loads(body)
    # Generous: the check itself is a few ms; the parse dominates.
    assert time.perf_counter() - started < 10
