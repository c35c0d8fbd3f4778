"""Demo event function: greets the ``name`` of a JSON event.

Deployed by ``scripts/demo`` as demo/hello with handler ``hello.handler``.
"""

from __future__ import annotations

import json
from typing import Any


def handler(event: bytes, context: Any) -> str:
    try:
        data = json.loads(event) if event.strip() else {}
    except ValueError:
        data = {}
    name = data.get("name", "world") if isinstance(data, dict) else "world"
    # Printed lines become the invocation's log (see `fcompute invoke --tail`).
    print(f"greeting {name} in request {context.request_id}")
    return json.dumps({"message": f"hello, {name}!", "requestId": context.request_id}) + "\n"
