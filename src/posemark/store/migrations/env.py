"""Alembic environment: runs on the connection handed over by ``upgrade_to_head``."""

from __future__ import annotations

from alembic import context

from posemark.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("posemark migrations run through posemark.store.upgrade_to_head(engine)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
