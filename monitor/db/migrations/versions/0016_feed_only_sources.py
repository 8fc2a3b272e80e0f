"""sources: fetch_pages (false: the feed's entry is the article); frontier entries keep
the entry's full content

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fetch_pages", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("frontier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("frontier", schema=None) as batch_op:
        batch_op.drop_column("content")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("fetch_pages")
