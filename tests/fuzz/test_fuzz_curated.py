"""Curated boundary values (``curated.py``), one at a time, for every operation.

The same contract as the random batches, and a request the document refuses must not be
accepted. Whatever a curated request creates is deleted again, so the limits on functions
per service and triggers per function never hide a validation gap.
"""

from __future__ import annotations

import itertools

import pytest

from fcompute.api.openapi import document
from tests.conftest import API
from tests.fuzz import curated
from tests.fuzz.cases import CaseMaker, Operation, operations
from tests.fuzz.contract import Checker, Findings
from tests.fuzz.world import World

DOCUMENT = document()
NAME_FIELDS = {"createService": "serviceName", "createFunction": "functionName",
               "createTrigger": "triggerName"}


@pytest.mark.parametrize("operation", operations(DOCUMENT), ids=lambda o: o.operation_id)
def test_curated_values_keep_the_contract(operation: Operation, world: World,
                                          checker: Checker) -> None:
    findings = Findings()
    maker: CaseMaker = world.case_maker(DOCUMENT)
    counter = itertools.count()
    base = world.base_values(operation.path, operation.parameters)
    for case in curated.cases(operation, base, lambda: f"cur{next(counter)}"):
        response = checker.check(operation, case, findings)
        if response is None:
            continue
        refusal = maker.refusal(operation, case)
        if refusal and response.status_code < 300:
            findings.add(f"{response.status_code} although the document refuses it: "
                         f"{refusal.split(': ', 1)[0]}", case, refusal)
        if response.status_code == 200 and operation.operation_id in NAME_FIELDS:
            name = response.json()[NAME_FIELDS[operation.operation_id]]
            world.client.call("DELETE", f"{case.path.removeprefix(API)}/{name}")
        if response.status_code == 204:
            world.repair()
    checker.assert_alive()
    findings.assert_none()
