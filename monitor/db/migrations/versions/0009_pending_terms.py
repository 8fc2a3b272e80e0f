"""pending_terms: archive terms queued in the article's transaction

Inserting into the SQLite FTS5 index in every article's transaction made FTS5 flush a
new segment per article, the largest cost of storing one; the terms now wait in a plain
table and enter the index in batches.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_terms",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_pending_terms_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_pending_terms")),
    )


def downgrade() -> None:
    op.drop_table("pending_terms")
