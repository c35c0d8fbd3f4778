"""Everything the API stored survives a restart of the platform on the same data directory."""

from __future__ import annotations

import signal
from typing import Any

import fc2
import httpx
import pytest

from tests.conftest import API, deploy
from tests.platform_process import PlatformProcess

CODE = {
    "index.py": """
        import json, os

        def init(context):
            pass

        def handler(event, context):
            return json.dumps({"event": event.decode(), "greeting": os.environ["GREETING"]})

        def web(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"web:" + environ["PATH_INFO"].encode()]
    """,
    "data.txt": "kept",
}


def snapshot(client: fc2.Client) -> dict[str, Any]:
    service = client.get_service("keep")
    function = client.get_function("keep", "fn")
    trigger = client.get_trigger("keep", "web", "http")
    timer = client.get_trigger("keep", "fn", "tick")
    return {
        "service": (service.data, service.headers["etag"]),
        "function": (function.data, function.headers["etag"]),
        "trigger": (trigger.data, trigger.headers["etag"]),
        "timer": (timer.data, timer.headers["etag"]),
        "services": client.list_services(prefix="keep").data,
        "functions": client.list_functions("keep").data,
        "code_checksum": client.get_function_code("keep", "fn").data["checksum"],
    }


def populate(client: fc2.Client) -> None:
    client.create_service("keep", description="survives", internetAccess=False,
                          logConfig={"project": "p", "logstore": "s"})
    deploy(client, "keep", "fn", CODE, memorySize=512, timeout=9, initializer="index.init",
           initializationTimeout=5, environmentVariables={"GREETING": "hello"},
           description="kept function")
    deploy(client, "keep", "web", CODE, handler="index.web")
    client.create_trigger("keep", "web", "http", "http",
                          {"authType": "anonymous", "methods": ["GET", "POST"]}, None, None,
                          description="door")
    client.create_trigger("keep", "fn", "tick", "timer",
                          {"cronExpression": "0 0 8 * * *", "enable": False, "payload": "p"},
                          None, None)
    # One update, so the stored record is not just the created one.
    client.update_function("keep", "fn", environmentVariables={"GREETING": "hello again"})


def check_works(platform: PlatformProcess, client: fc2.Client) -> None:
    result = client.invoke_function("keep", "fn", payload=b"after").data
    assert result == b'{"event": "after", "greeting": "hello again"}'
    response = httpx.get(f"{platform.endpoint}{API}/proxy/keep/web/some/path")
    assert response.status_code == 200
    assert response.content == b"web:/some/path"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL],
                         ids=["clean-stop", "killed"])
def test_everything_survives_a_restart(platform: PlatformProcess, client: fc2.Client,
                                       stop_signal: int) -> None:
    populate(client)
    check_works(platform, client)
    before = snapshot(client)
    download_before = httpx.get(client.get_function_code("keep", "fn").data["url"]).content

    platform.stop(stop_signal)
    platform.start()

    after = snapshot(client)
    assert after == before
    check_works(platform, client)
    # The stored code package is the same one.
    code = client.get_function_code("keep", "fn").data
    assert httpx.get(code["url"]).content == download_before

    # And the restarted platform keeps accepting changes.
    client.update_service("keep", description="changed after restart")
    client.delete_trigger("keep", "fn", "tick")
    platform.restart()
    assert client.get_service("keep").data["description"] == "changed after restart"
    with pytest.raises(fc2.FcError):
        client.get_trigger("keep", "fn", "tick")
    check_works(platform, client)


def test_old_code_links_survive_a_restart(platform: PlatformProcess, client: fc2.Client) -> None:
    client.create_service("keep")
    deploy(client, "keep", "fn", CODE)
    url = client.get_function_code("keep", "fn").data["url"]
    before = httpx.get(url).content
    platform.restart()
    again = httpx.get(url)
    assert again.status_code == 200
    assert again.content == before
