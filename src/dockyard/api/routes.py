"""The ``/api/v1`` routes. Owner tokens see only their owner's workspaces and sessions
(anything else is a 404, as if it did not exist); policy, reconciler control, stats and
gc are admin-only (403)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from dockyard.api import schemas
from dockyard.api.auth import (
    Forbidden,
    Principal,
    admin_principal,
    stored_principal,
    token_digest,
)
from dockyard.api.events import stream_events
from dockyard.api.runtime import Runtime
from dockyard.core.errors import InvalidInput, NotFound
from dockyard.core.model import PolicyOverrides, Session, SessionStatus, State, Workspace
from dockyard.core.naming import validate_key
from dockyard.core.policy import idle_deadline
from dockyard.engine.base import STDERR
from dockyard.service import AcquireRequest, activity, overrides
from dockyard.service.activity import resource_use, touched_recently
from dockyard.service.checkpoints import checkpoint_json
from dockyard.service.reconciler import run_pass
from dockyard.service.views import list_views
from dockyard.service.webhooks import event_json

OUTPUT_LIMIT = 1024 * 1024  # per stream, in an exec's response

router = APIRouter(prefix="/api/v1")


# Dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency in
# the thread pool, a hop that costs more than the work of a touch.


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
    return await run_in_threadpool(stored_principal, rt.dy.ctx.store, digest)


Who = Annotated[Principal, Depends(principal)]


async def admin(who: Who) -> Principal:
    if not who.admin:
        raise Forbidden("this needs the admin token")
    return who


Admin = Annotated[Principal, Depends(admin)]


def visible(rt: Runtime, who: Principal, key: str) -> Workspace:
    """The workspace ``key`` if the caller may see it; otherwise it does not exist."""
    ws = rt.dy.ctx.store.workspaces.get(validate_key(key))
    if ws is None or not who.may_see(ws.owner):
        raise NotFound(f"no workspace {key!r}")
    return ws


def view_json(rt: Runtime, key: str) -> dict[str, Any]:
    view = rt.dy.status(key)
    data = view.to_json()
    ws = view.workspace
    data["checkpoint"] = ws.checkpoint_id
    return data


# -- workspaces -------------------------------------------------------------------------------


# The hot route comes first: routes are matched in the order they are declared.
@router.post("/workspaces/{key}/touch", tags=["workspaces"])
async def touch(key: str, request: Request, who: Who) -> JSONResponse:
    """Record activity now: the hot path of agents. A touch within a second of the last
    one is answered from memory; otherwise one store write (in the thread pool)."""
    rt = runtime_of(request)
    ws = touched_recently(rt.dy.ctx, key, owner=who.owner)
    if ws is None:
        ws = await run_in_threadpool(rt.dy.touch, key, owner=who.owner)
    deadline = idle_deadline(ws, rt.dy.ctx.policy_for(ws))
    # a response made here, not by FastAPI's serializer: this is the hot path
    return JSONResponse(
        {
            "key": ws.key,
            "state": ws.state.value,
            "last_activity_at": ws.last_activity_at.isoformat(),
            "deadline": deadline.isoformat(),
        }
    )


@router.post("/workspaces", status_code=201, tags=["workspaces"])
def acquire(body: schemas.AcquireBody, rt: Rt, who: Who, response: Response) -> dict[str, Any]:
    """Create the workspace, or reuse/start/restore it (200, with the outcome)."""
    owner = body.owner
    if not who.admin:
        if owner is not None and owner != who.owner:
            raise Forbidden(f"this token acts for owner {who.owner!r} only")
        owner = who.owner
        existing = rt.dy.ctx.store.workspaces.get(validate_key(body.key))
        if existing is not None and existing.owner != owner:
            raise NotFound(f"no workspace {body.key!r}")
    request = AcquireRequest(
        key=body.key,
        owner=owner,
        default_owner=owner or "default",
        repo=body.repo,
        branch=body.branch,
        image=body.image,
        memory=body.resources.memory,
        cpus=body.resources.cpus,
        pids=body.resources.pids,
        labels=body.labels,
        keep=body.keep,
        strategy=body.strategy,
        overrides=PolicyOverrides(idle_timeout=body.policy.idle_timeout),
        from_checkpoint=body.from_checkpoint,
    )
    began = time.perf_counter()
    result = rt.dy.acquire(request)
    rt.metrics.acquire_seconds.labels(outcome=result.outcome.value).observe(
        time.perf_counter() - began
    )
    if result.outcome.value != "created":
        response.status_code = 200
    if result.outcome.value != "reused":
        rt.wake()
    return {
        "outcome": result.outcome.value,
        "note": result.note,
        "restored_from": checkpoint_json(result.checkpoint) if result.checkpoint else None,
        "workspace": view_json(rt, body.key),
    }


@router.get("/workspaces", tags=["workspaces"])
def list_workspaces(
    rt: Rt,
    who: Who,
    owner: str | None = None,
    state: State | None = None,
) -> dict[str, Any]:
    if not who.admin:
        if owner is not None and owner != who.owner:
            return {"workspaces": [], "engine_ok": True}
        owner = who.owner
    views, engine_ok = list_views(rt.dy.ctx, include_removed=state is State.REMOVED, owner=owner)
    items = [
        {**v.to_json(), "checkpoint": v.workspace.checkpoint_id}
        for v in views
        if state is None or v.workspace.state is state
    ]
    limit = rt.dy.ctx.policy.max_workspaces_per_owner
    return {"workspaces": items, "engine_ok": engine_ok, "max_workspaces_per_owner": limit}


@router.get("/whoami", tags=["workspaces"])
async def whoami(who: Who) -> dict[str, Any]:
    """Who the token acts for: the admin, or one owner."""
    return {"admin": who.admin, "owner": who.owner}


@router.get("/workspaces/{key}", tags=["workspaces"])
def get(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    visible(rt, who, key)
    return view_json(rt, key)


@router.delete("/workspaces/{key}", tags=["workspaces"])
def delete(key: str, rt: Rt, who: Who, purge: bool = False, force: bool = False) -> dict[str, Any]:
    visible(rt, who, key)
    change = rt.dy.remove(key, purge=purge, force=force)
    return {"key": key, "changed": change.changed, "purged": purge, "detail": change.detail}


@router.post("/workspaces/{key}/extend", tags=["workspaces"])
def extend(key: str, body: schemas.ExtendBody, rt: Rt, who: Who) -> dict[str, Any]:
    visible(rt, who, key)
    extension = rt.dy.extend(key, by=body.by)
    rt.wake()
    return {**view_json(rt, key), "capped": extension.capped}


@router.post("/workspaces/{key}/park", tags=["workspaces"])
def park(key: str, rt: Rt, who: Who, force: bool = False) -> dict[str, Any]:
    visible(rt, who, key)
    began = time.perf_counter()
    change = rt.dy.park(key, force=force)
    rt.metrics.park_seconds.observe(time.perf_counter() - began)
    return {"changed": change.changed, "detail": change.detail, **view_json(rt, key)}


@router.post("/workspaces/{key}/keep", tags=["workspaces"])
def keep(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    visible(rt, who, key)
    change = rt.dy.keep(key, keep=True)
    return {"changed": change.changed, "detail": change.detail, **view_json(rt, key)}


@router.post("/workspaces/{key}/unkeep", tags=["workspaces"])
def unkeep(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    visible(rt, who, key)
    change = rt.dy.keep(key, keep=False)
    rt.wake()
    return {"changed": change.changed, "detail": change.detail, **view_json(rt, key)}


@router.get("/workspaces/{key}/resources", tags=["workspaces"])
def resources(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    """CPU and memory use now (best effort: null where the engine cannot tell)."""
    visible(rt, who, key)
    use = resource_use(rt.dy.ctx, key)
    return {
        "cpu_percent": use.cpu_percent,
        "memory_bytes": use.memory_bytes,
        "memory_limit": use.memory_limit,
    }


@router.get("/workspaces/{key}/checkpoints", tags=["workspaces"])
def checkpoints(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    visible(rt, who, key)
    return {"checkpoints": [checkpoint_json(c) for c in rt.dy.checkpoints(key)]}


@router.post("/workspaces/{key}/exec", tags=["workspaces"])
def exec_(key: str, body: schemas.ExecBody, rt: Rt, who: Who) -> dict[str, Any]:
    """Run a command to completion; counts as activity. Output is capped at 1 MiB a stream."""
    visible(rt, who, key)
    limit = rt.dy.ctx.settings.api.exec_timeout
    timeout = min(body.timeout, limit) if body.timeout is not None else limit
    if timeout.total_seconds() < 1:
        raise InvalidInput("timeout must be at least 1s")
    argv = ["timeout", "-s", "KILL", str(int(timeout.total_seconds())), *body.command]
    out, err = bytearray(), bytearray()

    def collect(stream: int, data: bytes) -> None:
        target = err if stream == STDERR else out
        if len(target) < OUTPUT_LIMIT:
            target.extend(data[: OUTPUT_LIMIT - len(target)])

    began = time.perf_counter()
    code = rt.dy.exec(
        key, argv, env=body.env, workdir=body.workdir, on_output=collect, session=body.session
    )
    duration = time.perf_counter() - began
    return {
        "exit_code": code,
        "timed_out": code == 137 and duration >= timeout.total_seconds(),
        "stdout": out.decode(errors="replace"),
        "stderr": err.decode(errors="replace"),
        "duration_s": round(duration, 6),
    }


# -- sessions ---------------------------------------------------------------------------------


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


def _session(rt: Runtime, who: Principal, session_id: str, *, key: str | None = None) -> Session:
    session = rt.dy.ctx.store.sessions.get(session_id[:64])
    if session is None or (key is not None and session.workspace_key != key):
        raise NotFound(f"no session {session_id!r}")
    visible(rt, who, session.workspace_key)
    return session


def _use_session(rt: Runtime, who: Principal, session_id: str, *, key: str) -> Session:
    session = _session(rt, who, session_id, key=key)
    ctx = rt.dy.ctx
    if not ctx.store.sessions.use(session.id, workspace_key=key, at=ctx.now(), holder=ctx.holder):
        raise NotFound(f"session {session_id!r} is closed")
    return ctx.store.sessions.get(session.id) or session


@router.post("/workspaces/{key}/sessions", status_code=201, tags=["sessions"])
def open_session(key: str, body: schemas.SessionBody, rt: Rt, who: Who) -> dict[str, Any]:
    """Open a session; 429 when the workspace has its limit of live sessions."""
    ws = visible(rt, who, key)
    ctx = rt.dy.ctx
    session = activity.open_session(
        ctx,
        ws,
        body.kind,
        body.description,
        limit=ctx.policy_for(ws).max_sessions_per_workspace,
    )
    return session_json(session)


@router.get("/workspaces/{key}/sessions", tags=["sessions"])
def list_sessions(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    visible(rt, who, key)
    found = rt.dy.ctx.store.sessions.list(workspace_key=key)
    return {"sessions": [session_json(s) for s in found]}


@router.get("/sessions/{session_id}", tags=["sessions"])
def get_session(session_id: str, rt: Rt, who: Who) -> dict[str, Any]:
    return session_json(_session(rt, who, session_id))


@router.post("/sessions/{session_id}/use", tags=["sessions"])
def use_session(session_id: str, rt: Rt, who: Who) -> dict[str, Any]:
    """Record a use (activity); a detached session is attached again."""
    session = _session(rt, who, session_id)
    return session_json(_use_session(rt, who, session.id, key=session.workspace_key))


@router.delete("/sessions/{session_id}", tags=["sessions"])
def close_session(session_id: str, rt: Rt, who: Who) -> dict[str, Any]:
    session = _session(rt, who, session_id)
    ctx = rt.dy.ctx
    ctx.store.sessions.close(session.id, workspace_key=session.workspace_key, at=ctx.now())
    return session_json(ctx.store.sessions.get(session.id) or session)


# -- policy, reconciler, stats (admin) ----------------------------------------------------------


RECONCILER_FIELDS = {"max_interval", "workers", "busy_sample", "background_interval"}


def _policy_json(rt: Runtime) -> dict[str, Any]:
    settings = rt.dy.ctx.settings
    reconciler = settings.reconciler.model_dump(mode="json", include=RECONCILER_FIELDS)
    return {
        **settings.policy.model_dump(mode="json"),
        "reconciler": {**reconciler, "enabled": rt.reconciler_running},
        "overridden": overrides.overridden(rt.dy.ctx.store),
    }


@router.get("/policy", tags=["admin"])
def get_policy(rt: Rt, _who: Admin) -> dict[str, Any]:
    """The policy in force, and the reconciler's intervals and on/off switch."""
    return _policy_json(rt)


@router.put("/policy", tags=["admin"])
def put_policy(body: dict[str, Any], rt: Rt, _who: Admin) -> dict[str, Any]:
    """Change the policy (a partial update; ``reconciler``: its intervals and ``enabled``),
    validated, in force at once, persisted. The fields set here win over the settings
    file until ``DELETE /policy``; ``overridden`` lists them."""
    ctx = rt.dy.ctx
    changes = dict(body)
    reconciler = changes.pop("reconciler", None) or {}
    if not isinstance(reconciler, dict):
        raise InvalidInput("reconciler: expected an object")
    reconciler = dict(reconciler)
    enabled = reconciler.pop("enabled", None)
    if enabled is not None and not isinstance(enabled, bool):
        raise InvalidInput("reconciler.enabled: expected true or false")
    unknown = set(reconciler) - RECONCILER_FIELDS
    if unknown:
        raise InvalidInput(f"reconciler: unknown fields {sorted(unknown)}")
    overrides.changed(ctx, policy=changes, reconciler=reconciler)
    if enabled is not None:
        overrides.set_reconciler_enabled(ctx.store, enabled)
        _ = rt.start_reconciler() if enabled else rt.stop_reconciler()
    rt.wake()
    return _policy_json(rt)


@router.delete("/policy", tags=["admin"])
def reset_policy(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Forget the policy and reconciler settings set over the API: the settings file is
    in force again (the reconciler's on/off switch stays as it is)."""
    overrides.reset(rt.dy.ctx)
    rt.wake()
    return _policy_json(rt)


@router.post("/reconciler/start", tags=["admin"])
def start_reconciler(rt: Rt, _who: Admin) -> dict[str, Any]:
    return {"changed": rt.start_reconciler(), **_reconciler_json(rt)}


@router.post("/reconciler/stop", tags=["admin"])
def stop_reconciler(rt: Rt, _who: Admin) -> dict[str, Any]:
    return {"changed": rt.stop_reconciler(), **_reconciler_json(rt)}


@router.post("/reconciler/run", tags=["admin"])
def run_reconciler(rt: Rt, _who: Admin, dry_run: bool = False) -> dict[str, object]:
    """One pass now; with ``dry_run`` only the plan."""
    return run_pass(rt.dy.ctx, dry_run=dry_run).to_json(dry_run=dry_run)


def _reconciler_json(rt: Runtime) -> dict[str, Any]:
    status = rt.reconciler.status if rt.reconciler is not None else None
    return {
        "running": rt.reconciler_running,
        "passes": status.passes if status else 0,
        "last_pass_at": status.last_pass_at.isoformat() if status and status.last_pass_at else None,
        "last_pass_s": status.last_pass_s if status else None,
        "next_wakeup": status.next_wakeup.isoformat() if status and status.next_wakeup else None,
        "last_error": status.last_error if status else None,
    }


@router.get("/stats", tags=["admin"])
def stats(rt: Rt, _who: Admin) -> dict[str, Any]:
    ctx = rt.dy.ctx
    views, engine_ok = list_views(ctx, include_removed=True)
    sessions = Counter(s.status.value for s in ctx.store.sessions.list())
    return {
        "configuration": ctx.settings.model_dump(
            mode="json", include={"policy", "reconciler", "gc", "workspace"}
        ),
        "engine_ok": engine_ok,
        "workspaces_by_state": dict(Counter(v.workspace.state.value for v in views)),
        "workspaces_by_owner": dict(
            Counter(v.workspace.owner for v in views if v.workspace.state is not State.REMOVED)
        ),
        "sessions": {
            "active": sessions.get(SessionStatus.ACTIVE.value, 0),
            "inactive": sessions.get(SessionStatus.DETACHED.value, 0)
            + sessions.get(SessionStatus.DEAD.value, 0),
        },
        "reconciler": _reconciler_json(rt),
        "pending_cleanup": [
            {
                "key": v.workspace.key,
                "idle_for_s": v.to_json()["idle_for_s"],
                "deadline": v.deadline.isoformat() if v.deadline else None,
                **(v.pending.to_json(v.now) if v.pending else {}),
            }
            for v in views
            if v.pending is not None
        ],
    }


# -- events -----------------------------------------------------------------------------------


@router.get("/events", tags=["events"])
def events(
    *,
    rt: Rt,
    who: Who,
    request: Request,
    workspace: str | None = None,
    owner: str | None = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """The event table, oldest first after ``after``; with ``Accept: text/event-stream``
    a live stream (server-sent events) of new events instead."""
    if not who.admin:
        if owner is not None and owner != who.owner:
            raise NotFound(f"no events of owner {owner!r}")
        owner = who.owner
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            stream_events(
                rt.dy.ctx.store, request, workspace=workspace, owner=owner, after=after or None
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    rows = rt.dy.ctx.store.events.list(
        after_id=after, limit=limit, workspace_key=workspace, owner=owner
    )
    return {"events": [event_json(r) for r in rows]}
