"""Alembic environment: migrations run on the connection rasid hands over at start."""

from __future__ import annotations

from alembic import context

from monitor.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("rasid runs its migrations itself at start (monitor.db.session)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
