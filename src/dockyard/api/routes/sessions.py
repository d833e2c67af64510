"""Sessions: open (429 at the workspace's limit), list, get, use (reattaches a detached
one), close."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dockyard.api import responses as out
from dockyard.api import schemas
from dockyard.api.routes.deps import Rt, Who
from dockyard.core.model import Session

router = APIRouter(tags=["sessions"])


def session_json(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "workspace": session.workspace_key,
        "kind": session.kind.value,
        "status": session.status.value,
        "created_at": session.created_at.isoformat(),
        "last_used": session.last_used.isoformat(),
        "description": session.description,
    }


@router.post("/workspaces/{key:path}/sessions", status_code=201, response_model=out.SessionOut)
def open_session(key: str, body: schemas.SessionBody, rt: Rt, who: Who) -> dict[str, Any]:
    """Open a session; 429 when the workspace has its limit of live sessions (after the
    sessions of holders that died were reaped)."""
    session = rt.dy.open_session(key, kind=body.kind, description=body.description, owner=who.owner)
    return session_json(session)


@router.get("/workspaces/{key:path}/sessions", response_model=out.SessionListOut)
def list_sessions(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    return {"sessions": [session_json(s) for s in rt.dy.sessions(key, owner=who.owner)]}


@router.get("/sessions/{session_id}", response_model=out.SessionOut)
def get_session(session_id: str, rt: Rt, who: Who) -> dict[str, Any]:
    return session_json(rt.dy.session(session_id, owner=who.owner))


@router.post("/sessions/{session_id}/use", response_model=out.SessionOut)
def use_session(session_id: str, rt: Rt, who: Who) -> dict[str, Any]:
    """Record a use (activity); a detached session is attached again."""
    return session_json(rt.dy.use_session(session_id, owner=who.owner))


@router.delete("/sessions/{session_id}", response_model=out.SessionOut)
def close_session(session_id: str, rt: Rt, who: Who) -> dict[str, Any]:
    return session_json(rt.dy.close_session(session_id, owner=who.owner))
