"""Alembic environment: migrations run on a connection dockyard hands over.

``dockyard.store.migrate`` opens the connection (and holds the migration lock), puts it
in ``config.attributes["connection"]`` and calls ``alembic upgrade``; there is no
``alembic.ini`` and no URL here.
"""

from __future__ import annotations

from alembic import context

from dockyard.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
