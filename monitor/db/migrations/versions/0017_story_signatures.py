"""articles: story signatures recomputed with rasid's own hash functions

Signatures made with datasketch's hashing (SHA-1 per shingle, permutations modulo a
prime) cannot be compared with those of monitor.stories now (a hash of each word once,
multiply-add-shift permutations): every stored one is made again from the article's
title and body, so stories already under way keep gathering their copies.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BATCH = 500

_ARTICLES = sa.table(
    "articles",
    sa.column("id", sa.Integer),
    sa.column("title", sa.Text),
    sa.column("body", sa.Text),
    sa.column("minhash", sa.LargeBinary),
)


def upgrade() -> None:
    # What makes signatures today: a migration that runs later makes them the same way.
    from monitor.stories import fingerprint, to_bytes

    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(_ARTICLES.c.id, _ARTICLES.c.title, _ARTICLES.c.body)
            .where(_ARTICLES.c.id > last, _ARTICLES.c.minhash.is_not(None))
            .order_by(_ARTICLES.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for article_id, title, body in rows:
            signature = fingerprint(str(title or ""), str(body or ""))
            updates.append(
                {"key": article_id, "minhash": to_bytes(signature) if signature else None}
            )
        connection.execute(
            _ARTICLES.update()
            .where(_ARTICLES.c.id == sa.bindparam("key"))
            .values(minhash=sa.bindparam("minhash")),
            updates,
        )
        last = rows[-1][0]


def downgrade() -> None:
    # The old signatures cannot be made again here: stories restart from new articles.
    op.execute(_ARTICLES.update().values(minhash=None))
