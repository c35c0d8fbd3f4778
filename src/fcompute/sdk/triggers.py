"""Trigger operations: /services/{service}/functions/{function}/triggers[/{trigger}]."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fcompute.sdk.base import ClientBase, compact, function_path, iterate
from fcompute.sdk.models import JsonDict, Page, Trigger

ALL_METHODS = ("GET", "POST", "PUT", "DELETE")


def http_trigger_config(
    methods: Sequence[str] = ALL_METHODS, auth_type: str = "anonymous"
) -> JsonDict:
    """``auth_type`` is ``anonymous`` (no signature) or ``function`` (signed requests only)."""
    return {"authType": auth_type, "methods": [m.upper() for m in methods]}


def triggers_path(service: str, function: str) -> str:
    return f"{function_path(service, function)}/triggers"


class TriggersMixin(ClientBase):
    def create_trigger(
        self,
        service: str,
        function: str,
        name: str,
        trigger_type: str,
        config: JsonDict,
        *,
        description: str | None = None,
        qualifier: str | None = None,
        source_arn: str | None = None,
        invocation_role: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Trigger:
        body = {"triggerName": name, "triggerType": trigger_type, "triggerConfig": config,
                **compact({"description": description, "qualifier": qualifier,
                           "sourceArn": source_arn, "invocationRole": invocation_role}),
                **(extra or {})}
        data, etag = self._call("POST", triggers_path(service, function), body)
        return Trigger.from_api(data, etag)

    def get_trigger(self, service: str, function: str, name: str) -> Trigger:
        data, etag = self._call("GET", f"{triggers_path(service, function)}/{name}")
        return Trigger.from_api(data, etag)

    def list_triggers(
        self,
        service: str,
        function: str,
        *,
        prefix: str = "",
        limit: int | None = None,
        next_token: str | None = None,
    ) -> Page[Trigger]:
        return self._page(triggers_path(service, function), "triggers", Trigger.from_api,
                          prefix, limit, next_token)

    def iter_triggers(
        self, service: str, function: str, *, prefix: str = "", page_size: int | None = None
    ) -> Iterator[Trigger]:
        return iterate(lambda token: self.list_triggers(
            service, function, prefix=prefix, limit=page_size, next_token=token))

    def update_trigger(
        self,
        service: str,
        function: str,
        name: str,
        *,
        config: JsonDict | None = None,
        description: str | None = None,
        qualifier: str | None = None,
        invocation_role: str | None = None,
        if_match: str | None = None,
    ) -> Trigger:
        body = compact({"triggerConfig": config, "description": description,
                        "qualifier": qualifier, "invocationRole": invocation_role})
        data, etag = self._call("PUT", f"{triggers_path(service, function)}/{name}", body,
                                if_match=if_match)
        return Trigger.from_api(data, etag)

    def delete_trigger(
        self, service: str, function: str, name: str, *, if_match: str | None = None
    ) -> None:
        self._call("DELETE", f"{triggers_path(service, function)}/{name}", if_match=if_match)
