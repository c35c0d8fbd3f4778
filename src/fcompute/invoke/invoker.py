"""Runs invocations: from a resolved function to a result, through the warm pool."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from fcompute.config import Settings
from fcompute.invoke.catalog import FunctionCatalog, Resolved
from fcompute.invoke.logfiles import LogFiles
from fcompute.invoke.result import InvocationResult, Timings
from fcompute.invoke.storage_access import FunctionStorage, Issued
from fcompute.model import LATEST
from fcompute.pool import replies
from fcompute.pool.connection import Frame
from fcompute.pool.factory import LaunchSpec
from fcompute.pool.instance import InstanceFailure
from fcompute.pool.pool import FunctionPool, InstancePool
from fcompute.runtime.protocol import Kind

log = logging.getLogger(__name__)


_UUID_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_request_id() -> str:
    """A random (version 4) UUID, as FC request ids are.

    Formatted straight from the random bytes: a third of the cost of ``str(uuid.uuid4())``,
    and every request gets one.
    """
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


class Invoker:
    def __init__(
        self, settings: Settings, catalog: FunctionCatalog, pool: InstancePool, logs: LogFiles
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._pool = pool
        self._logs = logs
        # None: instances get no way into the object store (empty credentials).
        self._storage: FunctionStorage | None = None

    def use_storage(self, storage: FunctionStorage) -> None:
        """Instances started from now on get the store's address and credentials."""
        self._storage = storage

    def launch_spec(self, resolved: Resolved) -> LaunchSpec:
        service, function = resolved.service, resolved.function
        config, log_config = function.config, service.config.log_config or {}
        own = function.config.environment
        credentials: dict[str, str] = {}
        variables: dict[str, str] = {}
        store_env: dict[str, str] = {}
        storage = self._storage
        if storage is not None:
            variables = storage.credential_variables(own)
            issued = self._issue(resolved)
            credentials = issued.meta
            store_env = {**storage.address_environment(service.config.internet_access, own),
                         **storage.credential_environment(issued, variables)}
        # The platform's own variables win: a function cannot make its code misreport them.
        environment = {**own, **store_env, **self._environment(resolved)}
        return LaunchSpec(
            function_key=resolved.key,
            code_digest=function.code.digest,
            memory_mb=config.memory_size,
            tmp_size_mb=config.disk_size,
            internet_access=service.config.internet_access,
            log_path=self._logs.path(service.name, function.name),
            initialization_timeout=float(config.initialization_timeout),
            has_initializer=bool(config.initializer),
            init_meta={
                "serviceName": service.name,
                "functionName": function.name,
                "handler": config.handler,
                "initializer": config.initializer,
                "initializationTimeout": config.initialization_timeout,
                "memorySize": config.memory_size,
                "timeout": config.timeout,
                "region": self._settings.region,
                "accountId": self._settings.account_id,
                "qualifier": resolved.qualifier,
                "versionId": "" if resolved.version == LATEST else resolved.version,
                "logProject": log_config.get("project", ""),
                "logStore": log_config.get("logstore", ""),
                "credentials": credentials,
                # Which environment variables the agent rewrites when credentials change.
                "credentialVariables": variables,
                "environment": environment,
            },
        )

    def _environment(self, resolved: Resolved) -> dict[str, str]:
        """The FC_* variables."""
        service, function = resolved.service, resolved.function
        env = {
            "FC_FUNCTION_NAME": function.name,
            "FC_SERVICE_NAME": service.name,
            "FC_FUNCTION_HANDLER": function.config.handler,
            "FC_FUNCTION_MEMORY_SIZE": str(function.config.memory_size),
            "FC_REGION": self._settings.region,
            "FC_ACCOUNT_ID": self._settings.account_id,
            "FC_QUALIFIER": resolved.qualifier,
        }
        return env

    def _pool_for(self, resolved: Resolved) -> FunctionPool:
        pool = self._pool.get(resolved.key)
        if pool is None:
            pool = self._pool.create(resolved.pool_group, self.launch_spec(resolved))
        return pool

    def _issue(self, resolved: Resolved) -> Issued:
        assert self._storage is not None
        config = resolved.function.config
        longest = max(config.timeout, config.initialization_timeout if config.initializer else 0)
        return self._storage.issue(resolved.key, f"{resolved.service.name}/"
                                   f"{resolved.function.name}", float(longest))

    def _credentials(self, pool: FunctionPool, resolved: Resolved) -> Issued | None:
        """The credentials requests of this pool hand their instance (None: no store)."""
        storage = self._storage
        if storage is None:
            return None
        issued = storage.current(resolved.key)
        if issued is None:
            issued = self._issue(resolved)
            # Instances this pool starts from now on get them at INIT too: the factory
            # copies init_meta at each start, so replacing its entries is enough.
            init_meta = pool.launch.init_meta
            init_meta["credentials"] = issued.meta
            init_meta["environment"] = {
                **init_meta["environment"],
                **storage.credential_environment(issued, init_meta["credentialVariables"]),
            }
        return issued

    async def invoke(
        self, resolved: Resolved, event: bytes, *, request_id: str, log_tail: bool = False
    ) -> InvocationResult:
        result = InvocationResult(request_id=request_id)
        pool = self._pool_for(resolved)
        self._credentials(pool, resolved)  # current before a cold start's INIT
        try:
            instance, start = await pool.acquire(request_id)
        except InstanceFailure as failure:
            # A failed start (import error, initializer) goes to the function's log as well.
            result.error = failure.error
            await self._note_failure(pool.launch.log_path, request_id, result, log_tail)
            return result
        # Again after the wait for an instance: they must outlast this request's timeout.
        issued = self._credentials(pool, resolved)
        request: dict[str, Any] = {"requestId": request_id, "logTail": log_tail}
        if issued is not None and (credentials := issued.for_instance(instance.id)):
            request["credentials"] = credentials
        result.timings.add_start(start)
        # Only an instance that answered goes back to the pool: if this task is cancelled
        # mid-request, the instance may still answer later and must not serve anyone else.
        healthy = False
        try:
            kind, meta, payload = await instance.request(
                Kind.INVOKE, request, event, float(resolved.function.config.timeout),
            )
            healthy = True
        except InstanceFailure as failure:
            result.error = failure.error
            await self._note_failure(pool.launch.log_path, request_id, result, log_tail)
            return result
        finally:
            pool.release(instance, healthy)
        result.timings.handler_ms = replies.milliseconds(meta, "handlerMs")
        if log_tail:
            result.log_tail = replies.text(meta, "logTail")
        if kind is Kind.RESULT:
            result.body = payload
        else:
            result.error = replies.error_of(meta)
        return result

    async def _note_failure(
        self, log_path: Path, request_id: str, result: InvocationResult, log_tail: bool
    ) -> None:
        """The instance failed to start or died mid-invocation: finish the log framing of
        the invocation and recover its tail."""
        error = result.error or {}
        await asyncio.to_thread(
            self._logs.close_failed, log_path, request_id,
            f"{error.get('errorType')}: {error.get('errorMessage')}",
        )
        if log_tail:
            result.log_tail = await asyncio.to_thread(self._logs.tail_of, log_path, request_id)

    async def http(
        self, resolved: Resolved, request: dict[str, Any], body: bytes, timings: Timings
    ) -> AsyncGenerator[Frame, None]:
        """Streams the WSGI response frames; raises InstanceFailure before the first frame."""
        pool = self._pool_for(resolved)
        self._credentials(pool, resolved)
        request_id = request["requestId"]
        instance, start = await pool.acquire(request_id)
        issued = self._credentials(pool, resolved)
        if issued is not None and (credentials := issued.for_instance(instance.id)):
            request["credentials"] = credentials
        timings.add_start(start)
        timeout = float(resolved.function.config.timeout)
        timings.deadline = asyncio.get_running_loop().time() + timeout
        healthy = False
        try:
            async for frame in instance.stream(Kind.HTTP, request, body, timeout):
                if frame[0] in (Kind.HTTP_END, Kind.ERROR):
                    timings.handler_ms = replies.milliseconds(frame[1], "handlerMs")
                    healthy = True
                yield frame
        except InstanceFailure as failure:
            error = failure.error
            await asyncio.to_thread(
                self._logs.close_failed, pool.launch.log_path, request_id,
                f"{error['errorType']}: {error['errorMessage']}",
            )
            raise
        finally:
            pool.release(instance, healthy)

    async def close(self) -> None:
        """Nothing to release: async invocations live in ``fcompute.asyncinvoke``."""
