"""Per-function disk size: the MB of private /tmp each instance gets.

Revision ID: 0003_disk_size
Revises: 0002_async
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_disk_size"
down_revision = "0002_async"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(
            sa.Column("disk_size", sa.Integer, nullable=False, server_default="512")
        )


def downgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("disk_size")
