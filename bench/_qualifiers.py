"""The qualified invoke targets the benchmarks measure next to LATEST.

Two versions of the same service run the same no-op handler (version 2 differs from
version 1 only in the function's description, which publishing needs to see a change),
and the alias ``prod`` points at version 1 with 30 % of its requests weighted to
version 2, so that every request through it takes the weighted branch of resolution.
``bench.1`` is the plain version: resolution without an alias.

Two controls take the alias's cost apart: the alias ``solo`` resolves through the same
weighted branch (a random draw, a search of the weights) but sends practically every
request to version 1, so it runs on one pool like LATEST; and a 70/30 split, drawn by the
client, over two LATEST functions with the same handler runs on two pools, as the weighted
alias does, without any alias.

Both ``invoke_bench`` (over HTTP) and ``_inprocess`` (through the ASGI app) run these
requests with their own transports.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

API = "/2016-08-15"
ALIAS = "prod"
ALIAS_VERSION = "1"
WEIGHTED_VERSION = "2"
WEIGHT = 0.3
SOLO_ALIAS = "solo"
SOLO_WEIGHT = 1e-9  # kept by the resolver (it drops only zero weights), next to never drawn
TWIN = "noop-twin"  # the same handler as another LATEST function: the split without an alias
SPLIT_SEED = 20160815
SPLIT_CYCLE = 1000  # clients cycle through this many pre-drawn choices

# Accepted by --qualifiers: which qualified targets to measure next to LATEST.
CHOICES = {
    "none": (),
    "alias": (ALIAS,),
    "all": (ALIAS, ALIAS_VERSION),
}


@dataclass(frozen=True)
class SetupRequest:
    method: str
    path: str
    body: bytes


def setup_requests(service: str, function: str) -> list[SetupRequest]:
    """Publishes versions 1 and 2 of ``service`` and creates the weighted alias."""

    def request(method: str, path: str, body: dict[str, object]) -> SetupRequest:
        return SetupRequest(method, f"{API}/services/{service}{path}", json.dumps(body).encode())

    return [
        request("POST", "/versions", {"description": "bench version 1"}),
        request("PUT", f"/functions/{function}", {"description": "bench version 2"}),
        request("POST", "/versions", {"description": "bench version 2"}),
        request("POST", "/aliases", {
            "aliasName": ALIAS, "versionId": ALIAS_VERSION,
            "additionalVersionWeight": {WEIGHTED_VERSION: WEIGHT},
        }),
    ]


def control_requests(service: str) -> list[SetupRequest]:
    """Creates the alias ``solo`` (after ``setup_requests``)."""
    body = {"aliasName": SOLO_ALIAS, "versionId": ALIAS_VERSION,
            "additionalVersionWeight": {WEIGHTED_VERSION: SOLO_WEIGHT}}
    return [SetupRequest("POST", f"{API}/services/{service}/aliases", json.dumps(body).encode())]


def split(main: T, other: T, share: float = WEIGHT) -> Sequence[T]:
    """A fixed pseudo-random sequence with ``share`` of ``other``, drawn as the alias draws."""
    draw = random.Random(SPLIT_SEED).random
    return [other if draw() < share else main for _ in range(SPLIT_CYCLE)]


def invoke_path(service: str, qualifier: str, function: str) -> str:
    """The invoke route of ``function`` through ``qualifier`` ("" for no qualifier)."""
    qualified = f"{service}.{qualifier}" if qualifier else service
    return f"{API}/services/{qualified}/functions/{function}/invocations"


def label(qualifier: str) -> str:
    return f"version {qualifier}" if qualifier[:1].isdigit() else f"alias {qualifier}"
