"""The sandbox seam.

A sandbox backend starts one instance process tree per :class:`InstanceSpec`,
running the runtime agent with one end of a socket pair; the platform keeps the
other end. Contract:

- ``start`` returns only when the process exists; the agent may still be booting.
- ``kill`` ends the whole process tree and is idempotent; after ``wait`` returns,
  no process of the instance is left and its resources (cgroups, mounts, temp
  directories) are released.
- ``exit_reason`` tells, after the process ended, whether the sandbox killed it for
  a limit (``out-of-memory``) so callers can report a precise error.
- ``code_path`` is where the function's code appears inside the instance (the
  agent's ``codeDir``): the host path for a plain process, ``/code`` in a sandbox.
- ``open`` prepares the backend off the request path (a zygote boots); ``start``
  opens it too if nobody did. ``close`` ends every instance.
- ``share_storage`` (before ``open``) names the object store's Unix socket and port: an
  instance whose network the sandbox confines (``internet_access=False``) must still
  reach the store at ``127.0.0.1:<port>``, and nothing else.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol


class ExitReason(Enum):
    RUNNING = "running"
    EXITED = "exited"
    KILLED = "killed"
    OUT_OF_MEMORY = "out-of-memory"


@dataclass(frozen=True)
class InstanceSpec:
    instance_id: str
    function_key: str
    code_dir: Path
    log_path: Path
    memory_mb: int
    internet_access: bool = True
    tmp_size_mb: int = 512
    environment: dict[str, str] = field(default_factory=dict)


class SandboxProcess(Protocol):
    @property
    def pid(self) -> int: ...
    @property
    def socket(self) -> socket.socket: ...
    @property
    def code_path(self) -> str: ...
    def kill(self) -> None: ...
    async def wait(self) -> int: ...
    def exit_reason(self) -> ExitReason: ...


class Sandbox(Protocol):
    name: str
    isolates: bool

    def share_storage(self, socket_path: Path, port: int) -> None: ...
    async def open(self) -> None: ...
    async def start(self, spec: InstanceSpec) -> SandboxProcess: ...
    async def close(self) -> None: ...
