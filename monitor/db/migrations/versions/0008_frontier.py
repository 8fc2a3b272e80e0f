"""the frontier: new feed entries whose articles are not stored yet

A poll used to count as done while its new entries' pages were only requests in
Scrapy's memory: a crash then lost them for good (the next poll saw the same bytes).
Now each new entry is a row, written with the poll and deleted with its article.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "frontier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feed_url", sa.Text(), nullable=False),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_frontier_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frontier")),
        sa.UniqueConstraint("entry_key", name=op.f("uq_frontier_entry_key")),
    )
    op.create_index(op.f("ix_frontier_source_id"), "frontier", ["source_id"])
    op.create_index("ix_frontier_due", "frontier", ["state", "claimed_until"])
    with op.batch_alter_table("sources") as batch:
        batch.add_column(
            sa.Column("entries_unusable", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("entries_over_cap", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("entries_over_cap")
        batch.drop_column("entries_unusable")
    op.drop_index("ix_frontier_due", table_name="frontier")
    op.drop_index(op.f("ix_frontier_source_id"), table_name="frontier")
    op.drop_table("frontier")
