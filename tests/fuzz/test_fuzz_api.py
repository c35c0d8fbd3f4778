"""Every operation of the OpenAPI document, fuzzed against one running platform.

Each operation is one batch of generated requests (paths, queries, headers, bodies and
signatures; ``cases.py``); every answer must keep the contract (``contract.py``), a request
the document refuses (a name ending in a newline, a field over its cap, NaN) must not be
accepted, and the platform must answer a health check after the batch.
"""

from __future__ import annotations

import pytest

from fcompute.api.openapi import document
from tests.fuzz.cases import Case, Operation, operations
from tests.fuzz.contract import Budget, Checker, Findings
from tests.fuzz.world import World

DOCUMENT = document()
EXAMPLES = 60  # per operation in CI: about 40 operations, a minute in all


@pytest.mark.parametrize("operation", operations(DOCUMENT), ids=lambda o: o.operation_id)
def test_operation_keeps_the_contract(
    operation: Operation, world: World, checker: Checker, budget: Budget
) -> None:
    findings = Findings()
    maker = world.case_maker(DOCUMENT)

    def example(case: Case) -> None:
        response = checker.check(operation, case, findings)
        if response is None:
            return
        refusal = maker.refusal(operation, case)
        if refusal and response.status_code < 300:
            findings.add(f"{response.status_code} although the document refuses it: "
                         f"{refusal.split(': ', 1)[0]}", case, refusal)
        if operation.mutates and response.status_code == 204:
            world.repair()

    budget.run(maker.strategy(operation), example, default=EXAMPLES)
    checker.assert_alive()
    findings.assert_none()
