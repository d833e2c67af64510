"""Persistent records: SQLAlchemy Core tables, Alembic migrations, a ``Store`` of table
families (one module each) over one ``Database``."""

from dockyard.store.db import redact_url, sqlite_url
from dockyard.store.store import Store

__all__ = ["Store", "redact_url", "sqlite_url"]
