from __future__ import annotations

from pathlib import Path

import fc2

from tests.conftest import write_code


def test_deploy_and_invoke_with_official_sdk(client: fc2.Client, tmp_path: Path) -> None:
    code = write_code(tmp_path / "code", {"index.py": """
        def handler(event, context):
            return b"echo:" + event
    """})
    client.create_service("svc")
    client.create_function("svc", "echo", "python3", "index.handler", codeDir=str(code))
    response = client.invoke_function("svc", "echo", payload=b"hi")
    assert response.data == b"echo:hi"
