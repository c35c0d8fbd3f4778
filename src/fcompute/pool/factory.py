"""Starts instances: prepares code, asks the sandbox for a process, runs INIT."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcompute.codestore.base import CodeStore
from fcompute.pool.connection import ConnectionLost, InstanceConnection
from fcompute.pool.instance import Instance, InstanceFailure, InstanceState, StartInfo
from fcompute.pool.replies import error_of
from fcompute.runtime import errors as runtime_errors
from fcompute.runtime.protocol import Kind
from fcompute.sandbox.base import InstanceSpec, Sandbox

# How long the agent may take to boot and import the handler (the initializer has its own limit).
LOAD_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start an instance of one function configuration."""

    function_key: str
    code_digest: str
    memory_mb: int
    internet_access: bool
    log_path: Path
    initialization_timeout: float
    has_initializer: bool
    init_meta: dict[str, Any] = field(hash=False)
    # Size cap of the instance's private /tmp (the sandbox may impose its own default).
    tmp_size_mb: int = 512


class InstanceFactory:
    def __init__(self, sandbox: Sandbox, codestore: CodeStore) -> None:
        self._sandbox = sandbox
        self._codestore = codestore

    async def start(self, launch: LaunchSpec, request_id: str) -> tuple[Instance, StartInfo]:
        began = time.perf_counter()
        code_dir = await asyncio.to_thread(self._codestore.extracted, launch.code_digest)
        code_done = time.perf_counter()
        instance_id = uuid.uuid4().hex[:16]
        spec = InstanceSpec(
            instance_id=instance_id,
            function_key=launch.function_key,
            code_dir=code_dir,
            log_path=launch.log_path,
            memory_mb=launch.memory_mb,
            internet_access=launch.internet_access,
            tmp_size_mb=launch.tmp_size_mb,
        )
        try:
            process = await self._sandbox.start(spec)
        except OSError as exc:
            raise InstanceFailure(runtime_errors.START_FAILED,
                                  f"the instance could not start: {exc}") from exc
        loop = asyncio.get_running_loop()
        connection = InstanceConnection()
        await loop.create_unix_connection(lambda: connection, sock=process.socket)
        instance = Instance(instance_id, launch.function_key, process, connection)
        meta = dict(launch.init_meta, codeDir=process.code_path, initRequestId=request_id)
        try:
            kind, reply, _ = await instance.request(Kind.INIT, meta, b"", LOAD_TIMEOUT_SECONDS)
            loaded = time.perf_counter()
            if kind is Kind.LOADED:
                try:
                    kind, reply, _ = await instance.request_more(
                        meta, launch.initialization_timeout)
                except InstanceFailure as exc:
                    if exc.error["errorType"] == runtime_errors.TIMEOUT:
                        raise InstanceFailure(
                            runtime_errors.INITIALIZER_TIMEOUT,
                            f"the initializer did not finish within "
                            f"{launch.initialization_timeout:g} seconds",
                        ) from None
                    raise
        except InstanceFailure:
            instance.kill()
            raise
        except ConnectionLost:
            raise await instance.failure() from None
        except BaseException:
            # Cancelled while starting: nobody will ever lease this instance, so end it now.
            instance.kill()
            raise
        if kind is not Kind.READY:
            instance.kill()
            error = error_of(reply, runtime_errors.START_FAILED)
            raise InstanceFailure(
                error["errorType"], error["errorMessage"] or "the instance failed to start",
                error["stackTrace"],
            )
        done = time.perf_counter()
        instance.state = InstanceState.IDLE
        info = StartInfo(
            code_ms=(code_done - began) * 1000,
            start_ms=(loaded - code_done) * 1000,
            init_ms=(done - loaded) * 1000,
        )
        return instance, info
