"""alert routes: instant or digest per watchlist and channel, digest marks, urgent
watchlists, and outbox rows that are digests or follow-ups (no one match)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("watchlists", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("urgent", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("watchlist_channels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(length=10), server_default="instant", nullable=False)
        )
        batch_op.add_column(sa.Column("schedule", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("send_empty", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("follow_up_seconds", sa.Integer(), nullable=True))
    op.create_table(
        "digest_marks",
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("last_fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name=op.f("fk_digest_marks_watchlist_id_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watchlist_id", "channel", name=op.f("pk_digest_marks")),
    )
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=12), server_default="match", nullable=False)
        )
        batch_op.add_column(sa.Column("watchlist_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("urgent", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=200), nullable=True))
        batch_op.alter_column("match_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(
            batch_op.f("uq_alert_outbox_dedupe_key"), ["dedupe_key"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alert_outbox_watchlist_id_watchlists"),
            "watchlists",
            ["watchlist_id"],
            ["id"],
            ondelete="CASCADE",
        )
    # Existing rows are matches: their watchlist is their match's.
    op.execute(
        "UPDATE alert_outbox SET watchlist_id = "
        "(SELECT matches.watchlist_id FROM matches WHERE matches.id = alert_outbox.match_id)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM alert_outbox WHERE match_id IS NULL")
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_alert_outbox_watchlist_id_watchlists"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_alert_outbox_dedupe_key"), type_="unique")
        batch_op.alter_column("match_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("dedupe_key")
        batch_op.drop_column("urgent")
        batch_op.drop_column("watchlist_id")
        batch_op.drop_column("kind")
    op.drop_table("digest_marks")
    with op.batch_alter_table("watchlist_channels", schema=None) as batch_op:
        batch_op.drop_column("follow_up_seconds")
        batch_op.drop_column("send_empty")
        batch_op.drop_column("time_zone")
        batch_op.drop_column("schedule")
        batch_op.drop_column("mode")
    with op.batch_alter_table("watchlists", schema=None) as batch_op:
        batch_op.drop_column("urgent")
