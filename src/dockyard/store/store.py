"""The store: one object per table family, over one database (SQLite or PostgreSQL).

``Store.open`` migrates the schema if it is behind and reads the installation id; an
up-to-date store is opened with reads only (the id is written once, by the first
open of a new database). The families are the only way to the tables::

    store.workspaces   records, compare-and-set, the working set, touches
    store.sessions     sessions (their use is activity on the workspace)
    store.events       the event table          store.outbox   webhook deliveries
    store.checkpoints  checkpoint records       store.images   image use times
    store.tokens       API tokens (hashed)      store.leases   lease rows
    store.meta         small named values       store.liveness is a holder alive
    store.notices      "look again" to every manager on the database (PostgreSQL)
    store.engines      each engine's daemon identity, draining
    store.pool         the warm pool's ready containers
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from dockyard.core.errors import StoreError, StoreUnavailable
from dockyard.store import migrate
from dockyard.store.checkpoints import Checkpoints, ImageUse
from dockyard.store.db import Database, reason, redact_url
from dockyard.store.engines import Engines
from dockyard.store.events import Events, Outbox
from dockyard.store.leases import Leases
from dockyard.store.liveness import liveness
from dockyard.store.meta import Meta
from dockyard.store.notices import notices
from dockyard.store.pool import PoolMembers
from dockyard.store.schema import meta
from dockyard.store.sessions import Sessions
from dockyard.store.tokens import Tokens
from dockyard.store.workspaces import Workspaces

INSTALLATION_KEY = "installation_id"


class Store:
    """Records of one dockyard installation."""

    def __init__(self, db: Database, *, installation_id: str) -> None:
        self.db = db
        self.installation_id = installation_id
        self.url = db.url
        self.workspaces = Workspaces(db)
        self.sessions = Sessions(db, workspaces=self.workspaces)
        self.events = Events(db)
        self.outbox = Outbox(db)
        self.checkpoints = Checkpoints(db)
        self.images = ImageUse(db)
        self.tokens = Tokens(db)
        self.leases = Leases(db)
        self.liveness = liveness(db)
        self.meta = Meta(db)
        self.notices = notices(db)
        self.pool = PoolMembers(db)
        self.engines = Engines(db)

    @classmethod
    def open(cls, url: str, *, upgrade_context: Mapping[str, Any] | None = None) -> Store:
        """Open (creating and migrating if needed) the database at ``url``;
        ``upgrade_context`` is handed to the migrations that need it, if any run."""
        db = Database.connect(url)
        try:
            migrate.upgrade(db.engine, context=upgrade_context or {})
            installation = _installation_id(db)
        except sa.exc.OperationalError as exc:
            db.dispose()
            raise StoreUnavailable(
                f"cannot open the store at {redact_url(url)}: {reason(exc)}"
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            db.dispose()
            raise StoreError(f"store at {redact_url(url)}: {reason(exc)}") from exc
        return cls(db, installation_id=installation)

    def close(self) -> None:
        self.db.dispose()

    def ping(self) -> str:
        """Check the database answers; returns its schema revision."""
        with self.db.read() as conn:
            return migrate.current_revision(conn) or "none"


def _installation_id(db: Database) -> str:
    """The installation's id: read (the common case, no write), else made once."""
    query = sa.select(meta.c.value).where(meta.c.key == INSTALLATION_KEY)
    with db.engine.connect() as conn:
        existing = conn.execute(query).scalar()
    if existing:
        return str(existing)
    with db.engine.connect() as raw:
        conn = raw.execution_options(dockyard_write=True)
        with conn.begin():
            made = secrets.token_hex(6)
            conn.execute(db.insert_ignore(meta).values(key=INSTALLATION_KEY, value=made))
            return str(conn.execute(query).scalar_one())
