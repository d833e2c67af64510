"""Sessions: open (429 at the workspace's limit), list, get, use (reattaches a detached
one), close; commands in a ``command`` session, answered whole or streamed."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket

from dockyard.api import responses as out
from dockyard.api import schemas, streaming
from dockyard.api.routes.deps import Rt, Who
from dockyard.api.terminal import serve_terminal
from dockyard.core.errors import DockyardError
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
        "closed_reason": session.closed_reason.value if session.closed_reason else None,
        "running_since": session.running_since.isoformat() if session.running_since else None,
    }


@router.post("/workspaces/{key:path}/sessions", status_code=201, response_model=out.SessionOut)
def open_session(key: str, body: schemas.SessionBody, rt: Rt, who: Who) -> dict[str, Any]:
    """Open a session; 429 when the workspace has its limit of live sessions (after the
    sessions of holders that died were reaped). A ``command`` session's shell starts
    now; a ``shell`` session's when a terminal first attaches."""
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
    """Close a session: its process in the container ends; the workspace stays."""
    return session_json(rt.dy.close_session(session_id, owner=who.owner))


@router.websocket("/sessions/{session_id}/terminal")
async def terminal(websocket: WebSocket, session_id: str) -> None:
    """A ``shell`` session's terminal (``dockyard.api.terminal`` has the protocol)."""
    await serve_terminal(websocket, websocket.app.state.runtime, session_id)


@router.post(
    "/sessions/{session_id}/commands",
    response_model=out.CommandOut,
    responses=streaming.responses("`output`"),
)
def run_command(
    session_id: str, body: schemas.CommandBody, request: Request, rt: Rt, who: Who
) -> Any:
    """Run a command in a ``command`` session (its working directory, environment and
    background jobs carry over between commands); 409 while another runs in it. Past
    its timeout the command is interrupted and the session stays usable."""
    session = rt.dy.command_session(session_id, owner=who.owner)
    timeout = body.timeout.total_seconds() if body.timeout is not None else None
    kind = streaming.wanted(request)
    if kind is None:
        result = rt.dy.run_command(session.id, body.command, timeout_s=timeout, owner=who.owner)
        return result.to_json()

    def run(emit: streaming.Emit) -> dict[str, Any]:
        text = streaming.Text()
        result = rt.dy.run_command(
            session.id,
            body.command,
            timeout_s=timeout,
            on_output=lambda data: emit({"output": text.decode(data)}),
            owner=who.owner,
        )
        return result.to_json()

    def stop() -> None:
        with contextlib.suppress(DockyardError):  # it ended meanwhile, or was closed
            rt.dy.interrupt_command(session.id, owner=who.owner)

    response: Response = streaming.stream(kind, run, on_gone=stop)
    return response
