"""What every route depends on: the runtime, the caller (from its bearer token), and
the workspace it names if the caller may see it.

Dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency in
the thread pool, a hop that costs more than the work of a touch.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dockyard.api.runtime import Runtime
from dockyard.api.threads import on_engine

__all__ = ["Admin", "Rt", "Who", "on_engine", "runtime_of", "view_json", "visible"]
from dockyard.core.errors import Forbidden
from dockyard.core.model import Workspace
from dockyard.service import ContainerInfo, Principal


def runtime_of(request: Request) -> Runtime:
    state: Runtime = request.app.state.runtime
    return state


async def runtime(request: Request) -> Runtime:
    return runtime_of(request)


Rt = Annotated[Runtime, Depends(runtime)]


#: Declares the bearer token in the API's description (the docs page's "Authorize");
#: the guard (``api.guard``) has checked it before any route runs.
bearer = HTTPBearer(auto_error=False, description="an admin or owner token")


async def principal(
    request: Request, _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The caller, as the guard found it before the body was read."""
    found: Principal = request.state.principal
    return found


Who = Annotated[Principal, Depends(principal)]


async def admin(who: Who) -> Principal:
    if not who.admin:
        raise Forbidden("this needs the admin token")
    return who


Admin = Annotated[Principal, Depends(admin)]


def visible(rt: Runtime, who: Principal, key: str) -> Workspace:
    """The workspace ``key`` if the caller may see it; otherwise it does not exist."""
    return rt.dy.get(key, owner=who.owner)


def view_json(rt: Runtime, key: str, *, seen: ContainerInfo | None = None) -> dict[str, Any]:
    view = rt.dy.status(key, seen=seen)
    return {**view.to_json(), "checkpoint": view.workspace.checkpoint_id}
