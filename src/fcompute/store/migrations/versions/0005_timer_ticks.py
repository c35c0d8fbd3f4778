"""Timer triggers: the last tick each one fired, and who claimed it.

Revision ID: 0005_timer_ticks
Revises: 0004_versions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_timer_ticks"
down_revision = "0004_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timer_ticks",
        sa.Column("trigger_id", sa.String(36), primary_key=True),
        sa.Column("last_fired_ms", sa.BigInteger, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=False),
        sa.Column("lease_until_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("timer_ticks")
