"""The OpenAPI document: served unsigned, true to the router, and fully understood by the
fuzz suite's strategies (so that every operation in it really is fuzzed)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx

from fcompute.api.openapi import OPENAPI_PATH, document, held_to
from fcompute.api.routing import Router
from tests.fuzz.cases import operations
from tests.fuzz.schemas import Schemas
from tests.platform_process import PlatformProcess


def walk(value: Any) -> list[Any]:
    found = [value]
    children = value.values() if isinstance(value, dict) else (
        value if isinstance(value, list) else ())
    for child in children:
        found += walk(child)
    return found


def test_the_platform_serves_the_whole_document_without_a_signature(
    fuzz_platform: PlatformProcess,
) -> None:
    response = httpx.get(f"{fuzz_platform.endpoint}{OPENAPI_PATH}")  # the platform has keys
    assert response.status_code == 200, response.text
    assert response.headers["x-fc-request-id"]
    served = response.json()
    undescribed = [(path, method) for path, item in served["paths"].items()
                   for method, op in item.items() if op.get("x-fcompute-undescribed")]
    assert not undescribed, f"routes without a description in api/openapi.py: {undescribed}"
    described = document()
    unrouted = [(path, method) for path, item in described["paths"].items()
                for method in item if method not in served["paths"].get(path, {})]
    assert not unrouted, f"described operations the router does not have: {unrouted}"
    assert served == described


def test_a_route_without_a_description_is_served_as_undescribed() -> None:
    router = Router()

    async def handler(*_args: object) -> Any:
        raise AssertionError("never called")

    router.add("GET", "/2016-08-15/services", handler)
    router.add("POST,PATCH", "/2016-08-15/services", handler)
    router.add("*", "/2016-08-15/widgets/{widget*}", handler)
    held = held_to(document(), router.routes())
    assert set(held["paths"]) == {"/2016-08-15/services", "/2016-08-15/widgets/{widget}"}
    services = held["paths"]["/2016-08-15/services"]
    assert services["get"] == document()["paths"]["/2016-08-15/services"]["get"]
    assert services["patch"]["x-fcompute-undescribed"]
    widgets = held["paths"]["/2016-08-15/widgets/{widget}"]
    assert sorted(widgets) == ["delete", "get", "head", "options", "patch", "post", "put"]
    assert all(op["x-fcompute-undescribed"] for op in widgets.values())


def test_references_parameters_and_operation_ids_hold_together() -> None:
    doc = document()
    schemas = Schemas(doc)
    for node in walk(doc):
        if isinstance(node, dict) and "$ref" in node:
            schemas.resolve(node)  # raises KeyError when dangling
    ids = Counter(op.operation_id for op in operations(doc))
    assert [i for i, n in ids.items() if n > 1] == []
    for op in operations(doc):
        in_path = set(re.findall(r"\{(\w+)\}", op.path))
        declared = {p["name"] for p in op.parameters if p["in"] == "path"}
        assert in_path == declared, (op.operation_id, in_path, declared)
        assert op.statuses, op.operation_id


def test_the_fuzz_strategies_understand_every_schema() -> None:
    doc = document()
    schemas = Schemas(doc)
    for op in operations(doc):
        for param in op.parameters:
            schemas.valid(param["schema"])
        if op.body_schema is not None:
            schemas.valid(op.body_schema)
    for schema in doc["components"]["schemas"].values():
        schemas.valid(schema)
