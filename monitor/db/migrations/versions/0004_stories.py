"""articles: story membership and MinHash signature

A watchlist alerts once per story: a later outlet's copy of a story joins it
(``story_id`` = the founding article) instead of alerting again. The signature is kept
so the in-memory LSH index can be rebuilt at start.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("minhash", sa.LargeBinary(), nullable=True))
        batch.create_foreign_key(
            "fk_articles_story_id_articles", "articles", ["story_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_articles_story_id", ["story_id"])


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_index("ix_articles_story_id")
        batch.drop_constraint("fk_articles_story_id_articles", type_="foreignkey")
        batch.drop_column("minhash")
        batch.drop_column("story_id")
