"""Versions and aliases: service snapshots, their functions, and named pointers to them.

Revision ID: 0004_versions
Revises: 0003_disk_size
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_versions"
down_revision = "0003_disk_size"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(
            sa.Column("last_version", sa.Integer, nullable=False, server_default="0")
        )
    op.create_table(
        "versions",
        sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), primary_key=True),
        sa.Column("version_id", sa.Integer, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("service_config", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("modified", sa.String(32), nullable=False),
    )
    op.create_table(
        "version_functions",
        sa.Column("service_id", sa.String(36), primary_key=True),
        sa.Column("version_id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("function_id", sa.String(36), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("code_checksum", sa.String(32), nullable=False),
        sa.Column("code_size", sa.BigInteger, nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("modified", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id", "version_id"], ["versions.service_id", "versions.version_id"],
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_version_functions_code_digest", "version_functions", ["code_digest"])
    op.create_table(
        "aliases",
        sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("weights", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("modified", sa.String(32), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aliases")
    op.drop_index("ix_version_functions_code_digest", "version_functions")
    op.drop_table("version_functions")
    op.drop_table("versions")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("last_version")
