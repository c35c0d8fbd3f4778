"""Services, functions and triggers.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("internet_access", sa.Boolean, nullable=False),
        sa.Column("log_config", sa.JSON),
        sa.Column("vpc_config", sa.JSON),
        sa.Column("nas_config", sa.JSON),
        sa.Column("tracing_config", sa.JSON),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("modified", sa.String(32), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
    )
    op.create_table(
        "functions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("runtime", sa.String(64), nullable=False),
        sa.Column("handler", sa.String(256), nullable=False),
        sa.Column("memory_size", sa.Integer, nullable=False),
        sa.Column("timeout", sa.Integer, nullable=False),
        sa.Column("initializer", sa.String(256), nullable=False),
        sa.Column("initialization_timeout", sa.Integer, nullable=False),
        sa.Column("environment", sa.JSON, nullable=False),
        sa.Column("instance_concurrency", sa.Integer, nullable=False),
        sa.Column("instance_type", sa.String(32), nullable=False),
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
    op.create_index("ix_functions_service_id", "functions", ["service_id"])
    op.create_table(
        "triggers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("function_id", sa.String(36), sa.ForeignKey("functions.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("source_arn", sa.Text),
        sa.Column("invocation_role", sa.Text, nullable=False),
        sa.Column("qualifier", sa.String(128)),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("modified", sa.String(32), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.UniqueConstraint("function_id", "name", name="uq_triggers_function_name"),
    )
    op.create_index("ix_triggers_function_id", "triggers", ["function_id"])


def downgrade() -> None:
    op.drop_table("triggers")
    op.drop_table("functions")
    op.drop_table("services")
