"""The warm pool's rows: one per ready container, until a workspace takes it."""

from __future__ import annotations

import sqlalchemy as sa

from dockyard.core.pool import PoolMember
from dockyard.store.db import Database
from dockyard.store.schema import pool_members


class PoolMembers:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, member: PoolMember) -> None:
        with self._db.write() as conn:
            conn.execute(
                pool_members.insert().values(
                    name=member.name,
                    container_id=member.container_id,
                    volume=member.volume,
                    spec=member.spec_id,
                    image=member.image,
                    engine=member.engine,
                    created_at=member.created_at,
                )
            )

    def list(self, *, engine: str | None = None, spec_id: str | None = None) -> list[PoolMember]:
        """The ready members, oldest first."""
        query = sa.select(pool_members).order_by(pool_members.c.created_at, pool_members.c.name)
        if engine is not None:
            query = query.where(pool_members.c.engine == engine)
        if spec_id is not None:
            query = query.where(pool_members.c.spec == spec_id)
        with self._db.read() as conn:
            return [_member(row._mapping) for row in conn.execute(query)]

    def remove(self, name: str) -> bool:
        """Delete the member's row; False if it was gone (taken, or dropped)."""
        with self._db.write() as conn:
            deleted = conn.execute(pool_members.delete().where(pool_members.c.name == name))
            return deleted.rowcount == 1


def _member(row: sa.RowMapping) -> PoolMember:
    return PoolMember(
        name=row["name"],
        container_id=row["container_id"],
        volume=row["volume"],
        spec_id=row["spec"],
        image=row["image"],
        engine=row["engine"],
        created_at=row["created_at"],
    )
