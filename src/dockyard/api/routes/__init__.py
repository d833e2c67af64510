"""The ``/api/v1`` routes, one module per resource. Owner tokens see only their owner's
workspaces and sessions (anything else is a 404, as if it did not exist); policy,
reconciler control and stats are admin-only (403).

The workspaces router comes first: routes are matched in the order they are declared,
and its touch route is the agents' hot path.
"""

from __future__ import annotations

from fastapi import APIRouter

from dockyard.api import responses as out
from dockyard.api.routes import admin, engines, events, files, sessions, workspaces

router = APIRouter(prefix="/api/v1", responses=out.ERRORS)
for _module in (workspaces, files, sessions, admin, engines, events):
    router.include_router(_module.router)
router.include_router(workspaces.by_key)  # last: a key may hold "/" (``core.naming``)
