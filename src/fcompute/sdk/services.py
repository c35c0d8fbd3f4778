"""Service operations: /services[/{service}]."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fcompute.sdk.base import ClientBase, compact, iterate, service_path
from fcompute.sdk.models import JsonDict, Page, Service


def service_fields(
    description: str | None, role: str | None, internet_access: bool | None,
    log_config: JsonDict | None, extra: dict[str, Any] | None,
) -> JsonDict:
    fields = compact({"description": description, "role": role,
                      "internetAccess": internet_access, "logConfig": log_config})
    fields.update(extra or {})
    return fields


class ServicesMixin(ClientBase):
    def create_service(
        self,
        name: str,
        *,
        description: str | None = None,
        role: str | None = None,
        internet_access: bool | None = None,
        log_config: JsonDict | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Service:
        """``extra`` carries API fields without a parameter here, in camelCase."""
        body = {"serviceName": name,
                **service_fields(description, role, internet_access, log_config, extra)}
        data, etag = self._call("POST", "/services", body)
        return Service.from_api(data, etag)

    def get_service(self, name: str, *, qualifier: str | None = None) -> Service:
        data, etag = self._call("GET", service_path(name, qualifier))
        return Service.from_api(data, etag)

    def list_services(
        self, *, prefix: str = "", limit: int | None = None, next_token: str | None = None
    ) -> Page[Service]:
        return self._page("/services", "services", Service.from_api, prefix, limit, next_token)

    def iter_services(self, *, prefix: str = "", page_size: int | None = None) -> Iterator[Service]:
        return iterate(lambda token: self.list_services(
            prefix=prefix, limit=page_size, next_token=token))

    def update_service(
        self,
        name: str,
        *,
        description: str | None = None,
        role: str | None = None,
        internet_access: bool | None = None,
        log_config: JsonDict | None = None,
        extra: dict[str, Any] | None = None,
        if_match: str | None = None,
    ) -> Service:
        body = service_fields(description, role, internet_access, log_config, extra)
        data, etag = self._call("PUT", service_path(name), body, if_match=if_match)
        return Service.from_api(data, etag)

    def delete_service(self, name: str, *, if_match: str | None = None) -> None:
        self._call("DELETE", service_path(name), if_match=if_match)
