"""outbox: index pending rows in id order

Claims walk pending alerts oldest first; without this index a backlog (a receiver down
for hours) made every claim sort all pending rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alert_outbox_order", "alert_outbox", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_alert_outbox_order", table_name="alert_outbox")
