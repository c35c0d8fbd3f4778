"""The platform's own check of response heads (the agent's check can be bypassed by user code)."""

from __future__ import annotations

import pytest

from fcompute.api.proxy import response_head


def test_valid_head_passes_and_drops_connection_headers() -> None:
    status, headers = response_head({"status": 201, "headers": [
        ["Content-Type", "text/plain"], ["Connection", "close"], ["X-A", "b\tc"],
    ]})
    assert status == 201
    assert headers == [(b"content-type", b"text/plain"), (b"x-a", b"b\tc")]


@pytest.mark.parametrize("meta", [
    {"status": 99, "headers": []},
    {"status": "200", "headers": []},
    {"status": 200, "headers": [["X-A", "a\r\nInjected: yes"]]},
    {"status": 200, "headers": [["X-A\r\nB", "v"]]},
    {"status": 200, "headers": [["X A", "v"]]},
    {"status": 200, "headers": [["X-A", "\u4e2d"]]},
    {"status": 200, "headers": [["X-A"]]},
    {"status": 200, "headers": [["", "v"]]},
])
def test_heads_that_would_corrupt_the_response_are_refused(meta: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"status|header"):
        response_head(meta)
