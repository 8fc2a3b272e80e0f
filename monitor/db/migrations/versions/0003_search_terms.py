"""watchlists.slop, and a full-text index of each stored article's word stems

A backtest (``rasid watch test QUERY --archive``) must not run the matcher over every
stored article: the index finds the few that contain every word of some branch of the
query, and only those are verified. It holds the same stems the matcher compares (light
stems of normalized words), not raw text, so "بطائرتين" is found by "طائرة". SQLite uses
a contentless FTS5 table without positions (membership is all a candidate needs);
PostgreSQL a stripped tsvector under a GIN index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("watchlists") as batch:
        batch.add_column(sa.Column("slop", sa.Integer(), nullable=False, server_default="1"))
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE article_terms USING fts5("
            "terms, content='', detail=none, tokenize='unicode61 remove_diacritics 0')"
        )
    else:
        op.execute(
            "CREATE TABLE article_terms ("
            "article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE, "
            "terms TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_article_terms_terms ON article_terms USING gin (terms)")


def downgrade() -> None:
    op.execute("DROP TABLE article_terms")
    with op.batch_alter_table("watchlists") as batch:
        batch.drop_column("slop")
