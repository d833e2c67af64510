"""What every route depends on: the runtime, the caller (from its bearer token), and
the workspace it names if the caller may see it.

Dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency in
the thread pool, a hop that costs more than the work of a touch.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from dockyard.api.auth import token_digest
from dockyard.api.runtime import Runtime
from dockyard.core.errors import Forbidden
from dockyard.core.model import Workspace
from dockyard.service import Principal, admin_principal


def runtime_of(request: Request) -> Runtime:
    state: Runtime = request.app.state.runtime
    return state


async def runtime(request: Request) -> Runtime:
    return runtime_of(request)


Rt = Annotated[Runtime, Depends(runtime)]


async def principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    rt = runtime_of(request)  # not via Rt: one dependency less to solve
    digest = token_digest(authorization)
    found = admin_principal(digest, admin_hash=rt.admin_hash)
    if found is not None:
        return found
    return await run_in_threadpool(rt.dy.principal, digest, admin_hash=None)


Who = Annotated[Principal, Depends(principal)]


async def admin(who: Who) -> Principal:
    if not who.admin:
        raise Forbidden("this needs the admin token")
    return who


Admin = Annotated[Principal, Depends(admin)]


def visible(rt: Runtime, who: Principal, key: str) -> Workspace:
    """The workspace ``key`` if the caller may see it; otherwise it does not exist."""
    return rt.dy.get(key, owner=who.owner)


def view_json(rt: Runtime, key: str) -> dict[str, Any]:
    view = rt.dy.status(key)
    return {**view.to_json(), "checkpoint": view.workspace.checkpoint_id}
