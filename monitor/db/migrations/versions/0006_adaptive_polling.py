"""sources: adaptive interval, robots.txt choice, pausing

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("current_interval_seconds", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("interval_pinned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("obey_robots", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        for column in (
            "paused_reason",
            "paused_at",
            "obey_robots",
            "interval_pinned",
            "current_interval_seconds",
        ):
            batch.drop_column(column)
