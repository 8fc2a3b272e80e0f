"""retention: dedup keys outlive their article; an index of articles not yet pruned

Whole-article retention deletes an article but must keep the keys it is known by, or a
feed that still lists the entry would bring it back (fetched, stored and alerted again):
``dedup_keys.article_id`` becomes NULL instead of the key being deleted with it. Body
retention walks the old articles that still have a body or a signature through a
partial index, so each run reads only what it prunes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# As monitor.db.models.UNPRUNED says it (a migration does not import the models).
_UNPRUNED = "body <> '' OR summary <> '' OR minhash IS NOT NULL"
_FK = "fk_dedup_keys_article_id_articles"


def upgrade() -> None:
    with op.batch_alter_table("dedup_keys", schema=None) as batch_op:
        batch_op.drop_constraint(_FK, type_="foreignkey")
        batch_op.alter_column("article_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(_FK, "articles", ["article_id"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_articles_unpruned",
            ["fetched_at"],
            unique=False,
            sqlite_where=sa.text(_UNPRUNED),
            postgresql_where=sa.text(_UNPRUNED),
        )


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_unpruned")
    op.execute("DELETE FROM dedup_keys WHERE article_id IS NULL")
    with op.batch_alter_table("dedup_keys", schema=None) as batch_op:
        batch_op.drop_constraint(_FK, type_="foreignkey")
        batch_op.alter_column("article_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(_FK, "articles", ["article_id"], ["id"], ondelete="CASCADE")
