"""Fields read from an instance's replies, with the types the platform relies on.

The meta of a reply frame is whatever JSON object the instance wrote; user code can write
it too. These readers never raise: a field of the wrong type reads as its default (an
error's fields as text), so a forged reply can only hurt its own caller.
"""

from __future__ import annotations

import math
from typing import Any

MAX_ERROR_TEXT = 64 * 1024
MAX_STACK_LINES = 256


def _text(value: object, default: str = "") -> str:
    if value is None:
        return default
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_ERROR_TEXT]


def error_of(meta: dict[str, Any], default_type: str = "") -> dict[str, Any]:
    """``{"errorMessage", "errorType", "stackTrace"}`` of an ERROR or INIT_FAILED reply."""
    stack = meta.get("stackTrace")
    lines = [_text(line) for line in stack[:MAX_STACK_LINES]] if isinstance(stack, list) else []
    return {
        "errorMessage": _text(meta.get("errorMessage")),
        "errorType": _text(meta.get("errorType"), default_type) or default_type,
        "stackTrace": lines,
    }


def milliseconds(meta: dict[str, Any], name: str) -> float:
    """A duration the agent measured; 0 when missing or not a finite, non-negative number."""
    value = meta.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else 0.0


def text(meta: dict[str, Any], name: str) -> str:
    value = meta.get(name)
    return value if isinstance(value, str) else ""
