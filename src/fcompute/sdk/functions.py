"""Function operations: /services/{service}/functions[/{function}[/code]]."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

from fcompute.sdk.base import ClientBase, compact, function_path, iterate, service_path
from fcompute.sdk.models import Function, FunctionCode, JsonDict, Page
from fcompute.sdk.packaging import load_code

# Zip bytes, a directory to zip, or a path to a .zip file.
Code = bytes | str | os.PathLike[str]


def function_fields(
    *,
    code: Code | None,
    handler: str | None,
    runtime: str | None,
    memory_size: int | None,
    timeout: int | None,
    environment: dict[str, str] | None,
    description: str | None,
    initializer: str | None,
    initialization_timeout: int | None,
    instance_concurrency: int | None,
    extra: dict[str, Any] | None,
) -> JsonDict:
    fields = compact({
        "handler": handler, "runtime": runtime, "memorySize": memory_size, "timeout": timeout,
        "environmentVariables": environment, "description": description,
        "initializer": initializer, "initializationTimeout": initialization_timeout,
        "instanceConcurrency": instance_concurrency,
    })
    if code is not None:
        fields["code"] = {"zipFile": base64.b64encode(load_code(code)).decode("ascii")}
    fields.update(extra or {})
    return fields


class FunctionsMixin(ClientBase):
    def create_function(
        self,
        service: str,
        name: str,
        *,
        handler: str,
        code: Code,
        runtime: str = "python3",
        memory_size: int | None = None,
        timeout: int | None = None,
        environment: dict[str, str] | None = None,
        description: str | None = None,
        initializer: str | None = None,
        initialization_timeout: int | None = None,
        instance_concurrency: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Function:
        body = {"functionName": name, **function_fields(
            code=code, handler=handler, runtime=runtime, memory_size=memory_size,
            timeout=timeout, environment=environment, description=description,
            initializer=initializer, initialization_timeout=initialization_timeout,
            instance_concurrency=instance_concurrency, extra=extra,
        )}
        data, etag = self._call("POST", f"{service_path(service)}/functions", body)
        return Function.from_api(data, etag)

    def update_function(
        self,
        service: str,
        name: str,
        *,
        code: Code | None = None,
        handler: str | None = None,
        runtime: str | None = None,
        memory_size: int | None = None,
        timeout: int | None = None,
        environment: dict[str, str] | None = None,
        description: str | None = None,
        initializer: str | None = None,
        initialization_timeout: int | None = None,
        instance_concurrency: int | None = None,
        extra: dict[str, Any] | None = None,
        if_match: str | None = None,
    ) -> Function:
        """Changes only the given fields; ``environment={}`` clears the variables."""
        body = function_fields(
            code=code, handler=handler, runtime=runtime, memory_size=memory_size,
            timeout=timeout, environment=environment, description=description,
            initializer=initializer, initialization_timeout=initialization_timeout,
            instance_concurrency=instance_concurrency, extra=extra,
        )
        data, etag = self._call("PUT", function_path(service, name), body, if_match=if_match)
        return Function.from_api(data, etag)

    def get_function(self, service: str, name: str, *, qualifier: str | None = None) -> Function:
        data, etag = self._call("GET", function_path(service, name, qualifier))
        return Function.from_api(data, etag)

    def get_function_code(
        self, service: str, name: str, *, qualifier: str | None = None
    ) -> FunctionCode:
        data, _ = self._call("GET", f"{function_path(service, name, qualifier)}/code")
        return FunctionCode(checksum=str(data.get("checksum", "")), url=str(data.get("url", "")))

    def download_function_code(
        self, service: str, name: str, *, qualifier: str | None = None
    ) -> bytes:
        """The function's zip package, fetched through its presigned link."""
        code = self.get_function_code(service, name, qualifier=qualifier)
        return self._transport.get_url(code.url)

    def list_functions(
        self,
        service: str,
        *,
        qualifier: str | None = None,
        prefix: str = "",
        limit: int | None = None,
        next_token: str | None = None,
    ) -> Page[Function]:
        path = f"{service_path(service, qualifier)}/functions"
        return self._page(path, "functions", Function.from_api, prefix, limit, next_token)

    def iter_functions(
        self, service: str, *, qualifier: str | None = None, prefix: str = "",
        page_size: int | None = None,
    ) -> Iterator[Function]:
        return iterate(lambda token: self.list_functions(
            service, qualifier=qualifier, prefix=prefix, limit=page_size, next_token=token))

    def delete_function(self, service: str, name: str, *, if_match: str | None = None) -> None:
        self._call("DELETE", function_path(service, name), if_match=if_match)
