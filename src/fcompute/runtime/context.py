"""The ``context`` object handed to handlers, shaped like FC's Python runtime.

Standard library only: imported inside every instance.
"""

from __future__ import annotations

import logging
from typing import Any


class Credentials:
    def __init__(self, data: dict[str, Any]) -> None:
        self.access_key_id: str = data.get("accessKeyId", "")
        self.access_key_secret: str = data.get("accessKeySecret", "")
        self.security_token: str = data.get("securityToken", "")
        # FC's runtime exposes both spellings.
        self.accessKeyId = self.access_key_id
        self.accessKeySecret = self.access_key_secret
        self.securityToken = self.security_token


class FunctionMeta:
    def __init__(self, data: dict[str, Any]) -> None:
        self.name: str = data["functionName"]
        self.handler: str = data["handler"]
        self.memory: int = data["memorySize"]
        self.timeout: int = data["timeout"]
        self.initializer: str = data.get("initializer", "")
        self.initialization_timeout: int = data.get("initializationTimeout", 0)


class ServiceMeta:
    def __init__(self, data: dict[str, Any]) -> None:
        self.name: str = data["serviceName"]
        self.log_project: str = data.get("logProject", "")
        self.log_store: str = data.get("logStore", "")
        self.qualifier: str = data.get("qualifier", "LATEST")
        self.version_id: str = data.get("versionId", "")


class Context:
    """Per-invocation context; the function, service and credentials parts are shared."""

    def __init__(
        self,
        request_id: str,
        function: FunctionMeta,
        service: ServiceMeta,
        credentials: Credentials,
        region: str,
        account_id: str,
        logger: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.request_id = request_id
        self.function = function
        self.service = service
        self.credentials = credentials
        self.region = region
        self.account_id = account_id
        self.logger = logger

    def get_logger(self) -> logging.LoggerAdapter[logging.Logger]:
        return self.logger
