"""Async invocations: their records, stop and replay, and the async-invoke-config.

    .../functions/{f}/stateful-async-invocations[/{id}[/replay]]
    /services/{s}.{qualifier}/functions/{f}/async-invoke-config
    .../functions/{f}/async-invoke-configs

Queueing an invocation is ``invoke_async`` (``invocation.py``); docs/async.md describes
the records, the retry rules and the destinations.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from fcompute.sdk.base import ClientBase, compact, function_path, iterate
from fcompute.sdk.models import AsyncInvocation, AsyncInvokeConfig, JsonDict, Page

ReplayTarget = Literal["original", "latest"]
SortOrder = Literal["desc", "asc"]
# A point in time for the record filters: ms since the epoch, or a datetime.
TimeArg = int | datetime
# Configs exist per qualifier (LATEST, a version id or an alias); LATEST when none is named.
LATEST = "LATEST"


def epoch_millis(moment: TimeArg) -> int:
    """What the API takes for times; a datetime without a zone is local time, like Python's."""
    if isinstance(moment, datetime):
        return int(moment.timestamp() * 1000)
    return moment


def records_path(service: str, function: str, qualifier: str | None = None) -> str:
    return f"{function_path(service, function, qualifier)}/stateful-async-invocations"


def record_path(service: str, function: str, invocation_id: str,
                qualifier: str | None = None) -> str:
    if not invocation_id or "/" in invocation_id:
        # A slash would address another route; the platform allows none in an id anyway.
        raise ValueError(f"{invocation_id!r} is not an async invocation id")
    return f"{records_path(service, function, qualifier)}/{invocation_id}"


def config_path(service: str, function: str, qualifier: str) -> str:
    return f"{function_path(service, function, qualifier)}/async-invoke-config"


class AsyncInvocationsMixin(ClientBase):
    def get_async_invocation(
        self,
        service: str,
        function: str,
        invocation_id: str,
        *,
        include_payload: bool = True,
        qualifier: str | None = None,
    ) -> AsyncInvocation:
        """One record with its attempts and destinations; 404 ``InvocationNotFound``."""
        params = None if include_payload else {"includePayload": "false"}
        data, _ = self._call("GET", record_path(service, function, invocation_id, qualifier),
                             params=params)
        return AsyncInvocation.from_api(data)

    def list_async_invocations(
        self,
        service: str,
        function: str,
        *,
        status: str | None = None,
        started_time_begin: TimeArg | None = None,
        started_time_end: TimeArg | None = None,
        invocation_id_prefix: str | None = None,
        sort_order_by_time: SortOrder | None = None,
        include_payload: bool = False,
        limit: int | None = None,
        next_token: str | None = None,
        qualifier: str | None = None,
    ) -> Page[AsyncInvocation]:
        """One page of a function's records, newest first unless ``sort_order_by_time="asc"``.

        ``started_time_begin`` is inclusive and ``started_time_end`` exclusive; both filter
        on when the invocation was accepted. Payloads come only with ``include_payload``.
        """
        params = compact({
            "status": status,
            "startedTimeBegin": (None if started_time_begin is None
                                 else str(epoch_millis(started_time_begin))),
            "startedTimeEnd": (None if started_time_end is None
                               else str(epoch_millis(started_time_end))),
            "invocationIdPrefix": invocation_id_prefix or None,
            "sortOrderByTime": sort_order_by_time,
            "includePayload": "true" if include_payload else None,
            # Sent whenever given, so that a limit out of range is refused, not ignored.
            "limit": None if limit is None else str(limit),
            "nextToken": next_token,
        })
        data, _ = self._call("GET", records_path(service, function, qualifier), params=params)
        items = data.get("invocations") or []
        return Page([AsyncInvocation.from_api(item) for item in items],
                    data.get("nextToken") or None)

    def iter_async_invocations(
        self,
        service: str,
        function: str,
        *,
        status: str | None = None,
        started_time_begin: TimeArg | None = None,
        started_time_end: TimeArg | None = None,
        invocation_id_prefix: str | None = None,
        sort_order_by_time: SortOrder | None = None,
        include_payload: bool = False,
        page_size: int | None = None,
        qualifier: str | None = None,
    ) -> Iterator[AsyncInvocation]:
        """Every matching record, fetching the next page only when the previous one ran out."""
        return iterate(lambda token: self.list_async_invocations(
            service, function, status=status, started_time_begin=started_time_begin,
            started_time_end=started_time_end, invocation_id_prefix=invocation_id_prefix,
            sort_order_by_time=sort_order_by_time, include_payload=include_payload,
            limit=page_size, next_token=token, qualifier=qualifier))

    def stop_async_invocation(
        self, service: str, function: str, invocation_id: str, *, qualifier: str | None = None
    ) -> AsyncInvocation:
        """Stops a queued, retrying or running invocation and returns its record (``Stopped``).

        One that has already ended raises FcApiError 409 ``InvocationNotRunning``.
        """
        data, _ = self._call("PUT", record_path(service, function, invocation_id, qualifier))
        return AsyncInvocation.from_api(data)

    def replay_async_invocation(
        self,
        service: str,
        function: str,
        invocation_id: str,
        *,
        target: ReplayTarget = "latest",
        qualifier: str | None = None,
    ) -> AsyncInvocation:
        """Runs a Failed, Expired or Stopped invocation again with its payload.

        The replay is a new record (its ``replay_of`` names the original). ``target="latest"``
        runs what the original's qualifier resolves to now; ``"original"`` runs the version
        the original ran again (for LATEST: the same code).
        """
        path = f"{record_path(service, function, invocation_id, qualifier)}/replay"
        data, _ = self._call("POST", path, {"target": target})
        return AsyncInvocation.from_api(data)

    def put_async_invoke_config(
        self,
        service: str,
        function: str,
        *,
        max_async_retry_attempts: int | None = None,
        max_async_event_age_in_seconds: int | None = None,
        on_success: str | None = None,
        on_failure: str | None = None,
        stateful_invocation: bool | None = None,
        qualifier: str = LATEST,
        extra: dict[str, Any] | None = None,
    ) -> AsyncInvokeConfig:
        """Sets the whole config: arguments left out take the platform's defaults.

        ``on_success``/``on_failure`` are a function ARN
        (``acs:fc:{region}:{account}:services/{s}/functions/{f}``) or an http(s) URL.
        """
        destinations: JsonDict = {}
        if on_success:
            destinations["onSuccess"] = {"destination": on_success}
        if on_failure:
            destinations["onFailure"] = {"destination": on_failure}
        body = compact({
            "maxAsyncRetryAttempts": max_async_retry_attempts,
            "maxAsyncEventAgeInSeconds": max_async_event_age_in_seconds,
            "destinationConfig": destinations or None,
            "statefulInvocation": stateful_invocation,
        })
        body.update(extra or {})
        data, _ = self._call("PUT", config_path(service, function, qualifier), body)
        return AsyncInvokeConfig.from_api(data)

    def get_async_invoke_config(
        self, service: str, function: str, *, qualifier: str = LATEST
    ) -> AsyncInvokeConfig:
        """The config; FcApiError 404 ``AsyncConfigNotFound`` when none was put."""
        data, _ = self._call("GET", config_path(service, function, qualifier))
        return AsyncInvokeConfig.from_api(data)

    def delete_async_invoke_config(
        self, service: str, function: str, *, qualifier: str = LATEST
    ) -> None:
        """Back to the defaults; FcApiError 404 ``AsyncConfigNotFound`` when none was put."""
        self._call("DELETE", config_path(service, function, qualifier))

    def list_async_invoke_configs(self, service: str, function: str) -> list[AsyncInvokeConfig]:
        """The function's configs, one per qualifier that has one."""
        data, _ = self._call("GET", f"{function_path(service, function)}/async-invoke-configs")
        return [AsyncInvokeConfig.from_api(item) for item in data.get("configs") or []]
