"""Persistent records: SQLAlchemy Core tables, Alembic migrations, a ``Store`` of table
families (one module each) over one ``Database``. ``store.direct`` is the few statements
of the CLI's quick exec on the standard library's sqlite3 (importing it loads no
SQLAlchemy: the package's names load when used)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.store.db import redact_url, sqlite_url
    from dockyard.store.store import Store

_HOMES = {"Store": "store", "redact_url": "db", "sqlite_url": "db"}

__all__ = ["Store", "redact_url", "sqlite_url"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
