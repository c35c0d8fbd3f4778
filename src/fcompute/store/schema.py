"""Table definitions. Changes here need a new migration under ``migrations/versions``."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

services = sa.Table(
    "services",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("role", sa.Text, nullable=False, default=""),
    sa.Column("internet_access", sa.Boolean, nullable=False, default=True),
    sa.Column("log_config", sa.JSON),
    sa.Column("vpc_config", sa.JSON),
    sa.Column("nas_config", sa.JSON),
    sa.Column("tracing_config", sa.JSON),
    # The id of the newest version ever published (0: none), so ids are never reused.
    sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("modified", sa.String(32), nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
)

functions = sa.Table(
    "functions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "service_id", sa.String(36), sa.ForeignKey("services.id"), nullable=False, index=True
    ),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("runtime", sa.String(64), nullable=False),
    sa.Column("handler", sa.String(256), nullable=False),
    sa.Column("memory_size", sa.Integer, nullable=False),
    sa.Column("timeout", sa.Integer, nullable=False),
    sa.Column("initializer", sa.String(256), nullable=False, default=""),
    sa.Column("initialization_timeout", sa.Integer, nullable=False),
    sa.Column("environment", sa.JSON, nullable=False),
    sa.Column("instance_concurrency", sa.Integer, nullable=False, default=1),
    sa.Column("instance_type", sa.String(32), nullable=False, default="e1"),
    sa.Column("disk_size", sa.Integer, nullable=False, server_default="512"),
    sa.Column("ca_port", sa.Integer),
    sa.Column("custom_container_config", sa.JSON),
    sa.Column("code_checksum", sa.String(32), nullable=False),
    sa.Column("code_size", sa.BigInteger, nullable=False),
    sa.Column("code_digest", sa.String(64), nullable=False),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("modified", sa.String(32), nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.UniqueConstraint("service_id", "name", name="uq_functions_service_name"),
)

triggers = sa.Table(
    "triggers",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "function_id", sa.String(36), sa.ForeignKey("functions.id"), nullable=False, index=True
    ),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("source_arn", sa.Text),
    sa.Column("invocation_role", sa.Text, nullable=False, default=""),
    sa.Column("qualifier", sa.String(128)),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("modified", sa.String(32), nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.UniqueConstraint("function_id", "name", name="uq_triggers_function_name"),
)

# One row per function and qualifier; deleting the function deletes its configs.
async_invoke_configs = sa.Table(
    "async_invoke_configs",
    metadata,
    sa.Column(
        "function_id", sa.String(36), sa.ForeignKey("functions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("max_retry_attempts", sa.Integer, nullable=False),
    sa.Column("max_event_age_seconds", sa.Integer, nullable=False),
    sa.Column("on_success", sa.Text),
    sa.Column("on_failure", sa.Text),
    sa.Column("stateful_invocation", sa.Boolean, nullable=False),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("modified", sa.String(32), nullable=False),
)

# A version: the service's config when it was published; its functions are in
# version_functions. ``fingerprint`` hashes what it snapshots, so publishing again with
# nothing changed can be refused.
versions = sa.Table(
    "versions",
    metadata,
    sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), primary_key=True),
    sa.Column("version_id", sa.Integer, primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("service_config", sa.JSON, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("modified", sa.String(32), nullable=False),
)

# Each function of a version as it was: its id, config (JSON, see store/snapshots.py) and code.
version_functions = sa.Table(
    "version_functions",
    metadata,
    sa.Column("service_id", sa.String(36), primary_key=True),
    sa.Column("version_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("function_id", sa.String(36), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("code_checksum", sa.String(32), nullable=False),
    sa.Column("code_size", sa.BigInteger, nullable=False),
    sa.Column("code_digest", sa.String(64), nullable=False, index=True),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("modified", sa.String(32), nullable=False),
    sa.ForeignKeyConstraint(
        ["service_id", "version_id"], ["versions.service_id", "versions.version_id"],
        ondelete="CASCADE",
    ),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version_id", sa.Integer, nullable=False),
    # {"<version id>": weight}: the extra versions and their shares of the traffic.
    sa.Column("weights", sa.JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("modified", sa.String(32), nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
)

# One row per timer trigger that has fired: the last nominal tick fired (Unix ms) and the
# process that claimed it. A tick is claimed by moving ``last_fired_ms`` forward with a
# conditional UPDATE, which only one of the processes sharing the database wins. No foreign
# key: deleting a trigger leaves its row behind (trigger ids are never reused).
timer_ticks = sa.Table(
    "timer_ticks",
    metadata,
    sa.Column("trigger_id", sa.String(36), primary_key=True),
    sa.Column("last_fired_ms", sa.BigInteger, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=False),
    sa.Column("lease_until_ms", sa.BigInteger, nullable=False),
)
