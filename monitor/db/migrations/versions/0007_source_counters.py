"""sources: counters of extraction fallbacks and mojibake polls

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(
            sa.Column("extraction_fallbacks", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("mojibake_polls", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("mojibake_polls")
        batch.drop_column("extraction_fallbacks")
