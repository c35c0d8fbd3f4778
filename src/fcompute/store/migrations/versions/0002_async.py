"""Async invoke configs (retries, event age, destinations) per function and qualifier.

Revision ID: 0002_async
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_async"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "async_invoke_configs",
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


def downgrade() -> None:
    op.drop_table("async_invoke_configs")
