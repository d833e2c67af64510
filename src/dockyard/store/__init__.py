"""Persistent records: SQLAlchemy Core tables, Alembic migrations, one ``Store`` class."""

from dockyard.store.store import Store, redact_url, sqlite_url

__all__ = ["Store", "redact_url", "sqlite_url"]
