"""Alembic environment: migrations run on the connection that ``reference_app.schema`` passes.

Run them with ``python -m reference_app --migrate`` (or ``alembic`` with
``-x url=...`` is not supported: the app owns the connection handling).
"""

from __future__ import annotations

from alembic import context

from reference_app.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
