"""Serving an HTTP trigger request with the user's WSGI handler.

The response streams back chunk by chunk (HTTP_START, HTTP_BODY*, HTTP_END), so
neither the agent nor the platform holds a whole large body.

Standard library only: imported inside every instance.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any

from fcompute.runtime import errors
from fcompute.runtime.protocol import Kind

if TYPE_CHECKING:
    from fcompute.runtime.agent import Agent


def build_environ(agent: Agent, request: dict[str, Any], body: bytes) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": request["path"],
        "QUERY_STRING": request.get("query", ""),
        "SERVER_NAME": request.get("host", "localhost"),
        "SERVER_PORT": str(request.get("port", "")),
        "SERVER_PROTOCOL": request.get("protocol", "HTTP/1.1"),
        "REMOTE_ADDR": request.get("clientIp", ""),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": agent.sink_stream(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "fc.context": agent.context(request["requestId"]),
        "fc.request_uri": request.get("requestUri", request["path"]),
    }
    for name, value in request.get("headers", []):
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key == "CONTENT_LENGTH":
            continue
        else:
            key = "HTTP_" + key
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


CHUNK_BYTES = 1024 * 1024


class WSGIProtocolError(Exception):
    """The application broke the WSGI contract (PEP 3333)."""


def check_header(name: object, value: object) -> None:
    """PEP 3333: header names and values are latin-1 str without control characters."""
    for part in (name, value):
        if not isinstance(part, str):
            raise WSGIProtocolError(f"header {name!r}: names and values must be str")
        try:
            part.encode("latin-1")
        except UnicodeEncodeError:
            raise WSGIProtocolError(
                f"header {name!r}: {part!r} is not latin-1; encode it (e.g. RFC 8187)"
            ) from None
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in part):
            raise WSGIProtocolError(f"header {name!r}: control characters are not allowed")


def serve_http(agent: Agent, request: dict[str, Any], body: bytes) -> None:
    request_id = request["requestId"]
    agent.begin(request_id)
    started = time.perf_counter()
    state: dict[str, Any] = {"head": None, "sent": False}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if exc_info and state["sent"]:
            raise exc_info[1].with_traceback(exc_info[2])
        code = int(status.split(" ", 1)[0])
        for name, value in headers:
            check_header(name, value)
        state["head"] = {"status": code, "headers": [[k, v] for k, v in headers]}
        return write

    def send_head() -> None:
        if not state["sent"]:
            if state["head"] is None:
                raise WSGIProtocolError("the application did not call start_response")
            agent.send(Kind.HTTP_START, state["head"])
            state["sent"] = True

    def write(data: bytes) -> None:
        # Checked before the head goes out, so a wrong type still becomes a 502, not a 200.
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise WSGIProtocolError(f"response chunks must be bytes, got {type(data).__name__}")
        send_head()
        # Large chunks travel as several frames: a frame is capped and the platform
        # forwards each one as it arrives.
        view = memoryview(data)
        for offset in range(0, len(view), CHUNK_BYTES):
            agent.send(Kind.HTTP_BODY, None, bytes(view[offset:offset + CHUNK_BYTES]))

    try:
        result = agent.handler(build_environ(agent, request, body), start_response)
        try:
            for chunk in result:
                write(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        send_head()
    except BaseException as exc:
        error = agent.describe(exc)
        if isinstance(exc, WSGIProtocolError):
            error["errorType"] = errors.WSGI_ERROR
        agent.log_error(error)
        agent.log_end("Invoke", request_id)
        agent.finish_meta(error, request, started)
        # After the head went out the status can no longer change: end the stream with the error.
        error["headSent"] = state["sent"]
        agent.send(Kind.ERROR, error)
        return
    agent.log_end("Invoke", request_id)
    meta: dict[str, Any] = {}
    agent.finish_meta(meta, request, started)
    agent.send(Kind.HTTP_END, meta)
