"""Platform settings: one immutable object built by the CLI and handed to the composition root."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_PORT = 9000
DEFAULT_STORAGE_PORT = 9001


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    # The object store's port (S3 and OSS APIs), on the same host.
    storage_port: int = DEFAULT_STORAGE_PORT
    data_dir: Path = Path("./fcompute-data")
    # Access keys: id -> secret. Empty means unsigned requests are accepted (loopback only).
    access_keys: dict[str, str] = field(default_factory=dict)
    region: str = "local"
    account_id: str = "000000000000"
    # SQLAlchemy URL of the metadata store; empty means SQLite under data_dir.
    database_url: str = ""
    keep_alive_seconds: float = 600.0
    max_instances_per_function: int = 16
    # How long a request may wait for a busy function's instance before 429.
    instance_wait_seconds: float = 10.0
    # How long the invoke path may trust a cached function configuration.
    function_cache_seconds: float = 2.0
    # "auto" picks "linux" when it can isolate (root, namespaces, cgroups), else "process".
    sandbox: str = "auto"
    python_executable: str = ""
    # Size cap of every instance's private /tmp; 0 keeps each function's own (512 MB default).
    sandbox_tmp_size_mb: int = 0
    # Processes and threads one instance may have at once (Linux sandbox).
    sandbox_pids_max: int = 128
    # How long the object-store credentials handed to a function stay valid (a function
    # whose timeout is longer gets longer-lived ones; docs/storage.md). `fcompute serve
    # --function-credentials-ttl`.
    function_credentials_ttl_seconds: float = 3600.0
    # Async invocations: first retry delay (doubling up to the cap) and how many jobs
    # (invocations and destination deliveries) may run at once in all. `fcompute serve`
    # sets these with --async-backoff-base, --async-backoff-cap, --async-max-in-flight
    # and --async-record-retention.
    async_backoff_base_seconds: float = 1.0
    async_backoff_cap_seconds: float = 300.0
    async_max_in_flight: int = 64
    # How long records of finished async invocations are kept.
    async_record_retention_seconds: float = 7 * 86400.0

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'meta.db').resolve()}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def storage_endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.storage_port}"

    @property
    def storage_socket(self) -> Path:
        """The object store's Unix socket: how functions without internet access reach it
        (the Linux sandbox shows it inside their instances; docs/sandbox.md)."""
        return self.data_dir.resolve() / "run" / "storage.sock"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def access_keys_from_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Keys from FCOMPUTE_ACCESS_KEY_ID/SECRET, or a JSON file named by FCOMPUTE_CONFIG."""
    env = dict(os.environ if environ is None else environ)
    keys: dict[str, str] = {}
    config_path = env.get("FCOMPUTE_CONFIG")
    if config_path:
        data = json.loads(Path(config_path).read_text())
        for entry in data.get("accessKeys", []):
            keys[str(entry["id"])] = str(entry["secret"])
    key_id = env.get("FCOMPUTE_ACCESS_KEY_ID")
    secret = env.get("FCOMPUTE_ACCESS_KEY_SECRET")
    if key_id and secret:
        keys[key_id] = secret
    return keys


class UnsafeBindError(Exception):
    """Binding beyond loopback without access keys would expose code execution to the network."""


def check_bind_is_safe(settings: Settings) -> None:
    if not settings.access_keys and not settings.is_loopback:
        raise UnsafeBindError(
            f"refusing to listen on {settings.host} without access keys: anyone who reaches it "
            "could run code. Set FCOMPUTE_ACCESS_KEY_ID and FCOMPUTE_ACCESS_KEY_SECRET, "
            "or bind 127.0.0.1."
        )
