"""Workspaces: acquire, list, get, remove, touch, extend, park, keep, resources,
checkpoints, exec."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dockyard.api import responses as out
from dockyard.api import schemas, streaming
from dockyard.api.hot import touch_json
from dockyard.api.routes.deps import Rt, Who, on_engine, runtime_of, view_json, visible
from dockyard.api.runtime import Runtime
from dockyard.core.checkpoints import checkpoint_json
from dockyard.core.commands import check_command
from dockyard.core.errors import Forbidden, InvalidValue, NotFound
from dockyard.core.model import Outcome, State
from dockyard.service import STDERR, STDOUT, AcquireRequest, Principal

OUTPUT_LIMIT = 1024 * 1024  # per stream, in an exec's response

router = APIRouter(tags=["workspaces"])
#: ``GET``/``DELETE /workspaces/{key}``: included after every other router, since a key
#: may hold ``/`` and this path would take ``a/sessions`` for the key ``a/sessions``.
by_key = APIRouter(tags=["workspaces"])


# The hot route comes first: routes are matched in the order they are declared.
@router.post("/workspaces/{key:path}/touch", responses={200: {"model": out.TouchOut}})
async def touch(key: str, request: Request, who: Who) -> JSONResponse:
    """Record activity now: the hot path of agents. A touch within a second of the last
    one is answered from memory; otherwise one store write (in the thread pool)."""
    rt = runtime_of(request)
    ws = rt.dy.touched_recently(key, owner=who.owner)
    if ws is None:
        ws = await run_in_threadpool(rt.dy.touch, key, owner=who.owner)
    # a response made here, not by FastAPI's serializer: this is the hot path (and
    # within a second of the last touch, api.hot answers before FastAPI is reached)
    return JSONResponse(touch_json(rt, ws))


@router.post(
    "/workspaces",
    status_code=201,
    response_model=out.AcquireOut,
    responses={200: {"model": out.AcquireOut, "description": "reused, started or restored"}},
)
async def acquire(
    body: Annotated[schemas.AcquireBody, Body(openapi_examples=schemas.ACQUIRE_EXAMPLES)],
    rt: Rt,
    who: Who,
    response: Response,
) -> dict[str, Any]:
    """Create the workspace, or reuse/start/restore it (200, with the outcome)."""
    return await on_engine(lambda: _acquire(body, rt, who, response))


def _acquire(
    body: schemas.AcquireBody, rt: Runtime, who: Principal, response: Response
) -> dict[str, Any]:
    owner = body.owner
    if not who.admin:
        if owner is not None and owner != who.owner:
            raise Forbidden(f"this token acts for owner {who.owner!r} only")
        owner = who.owner
        try:
            existing = rt.dy.get(body.key)
        except NotFound:
            existing = None
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
        disk=body.resources.disk,
        labels=body.labels,
        keep=body.keep,
        strategy=body.strategy,
        overrides=body.policy.overrides(),
        from_checkpoint=body.from_checkpoint,
        engine=body.engine,
        engine_labels=body.engine_labels,
    )
    began = time.perf_counter()
    result = rt.dy.acquire(request)
    rt.metrics.acquire_seconds.labels(outcome=result.outcome.value).observe(
        time.perf_counter() - began
    )
    if result.outcome is not Outcome.CREATED:
        response.status_code = 200
    if result.outcome is not Outcome.REUSED:
        rt.wake()
    return {
        "outcome": result.outcome.value,
        "note": result.note,
        "restored_from": checkpoint_json(result.checkpoint) if result.checkpoint else None,
        "workspace": view_json(rt, body.key, seen=result.container),
    }


@router.get("/workspaces", response_model=out.WorkspaceListOut)
def list_workspaces(
    rt: Rt,
    who: Who,
    owner: str | None = None,
    state: State | None = None,
) -> dict[str, Any]:
    limit = rt.dy.policy.max_workspaces_per_owner
    if not who.admin:
        if owner is not None and owner != who.owner:
            return {"workspaces": [], "engine_ok": True, "max_workspaces_per_owner": limit}
        owner = who.owner
    views, engine_ok = rt.dy.list(include_removed=state is State.REMOVED, owner=owner)
    items = [
        {**v.to_json(), "checkpoint": v.workspace.checkpoint_id}
        for v in views
        if state is None or v.workspace.state is state
    ]
    return {"workspaces": items, "engine_ok": engine_ok, "max_workspaces_per_owner": limit}


@router.get("/whoami", response_model=out.WhoamiOut)
async def whoami(who: Who) -> dict[str, Any]:
    """Who the token acts for: the admin, or one owner."""
    return {"admin": who.admin, "owner": who.owner}


@router.post("/workspaces/{key:path}/extend", response_model=out.ExtendedOut)
def extend(
    key: str,
    body: Annotated[schemas.ExtendBody, Body(openapi_examples=schemas.EXTEND_EXAMPLES)],
    rt: Rt,
    who: Who,
) -> dict[str, Any]:
    visible(rt, who, key)
    extension = rt.dy.extend(key, by=body.by)
    rt.wake()
    return {**view_json(rt, key), "capped": extension.capped}


@router.post("/workspaces/{key:path}/park", response_model=out.ChangedOut)
def park(key: str, rt: Rt, who: Who, force: bool = False) -> dict[str, Any]:
    visible(rt, who, key)
    began = time.perf_counter()
    change = rt.dy.park(key, force=force)
    rt.metrics.park_seconds.observe(time.perf_counter() - began)
    return {"changed": change.changed, "detail": change.detail, **view_json(rt, key)}


@router.post("/workspaces/{key:path}/keep", response_model=out.ChangedOut)
def keep(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    visible(rt, who, key)
    change = rt.dy.keep(key, keep=True)
    return {"changed": change.changed, "detail": change.detail, **view_json(rt, key)}


@router.post("/workspaces/{key:path}/unkeep", response_model=out.ChangedOut)
def unkeep(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    visible(rt, who, key)
    change = rt.dy.keep(key, keep=False)
    rt.wake()
    return {"changed": change.changed, "detail": change.detail, **view_json(rt, key)}


@router.get("/workspaces/{key:path}/resources", response_model=out.UsageOut)
def resources(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    """CPU, memory and disk use now (best effort: null where the engine cannot tell;
    ``disk_complete`` false when the measurement ran out of its time budget and the disk
    figures are lower bounds)."""
    use = rt.dy.resources(key, owner=who.owner)
    return {
        "cpu_percent": use.cpu_percent,
        "memory_bytes": use.memory_bytes,
        "memory_limit": use.memory_limit,
        **use.disk_json(),
    }


@router.get("/workspaces/{key:path}/checkpoints", response_model=out.CheckpointListOut)
def checkpoints(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    found = rt.dy.checkpoints(key, owner=who.owner)
    return {"checkpoints": [checkpoint_json(c) for c in found]}


@router.post(
    "/workspaces/{key:path}/exec",
    response_model=out.ExecOut,
    responses=streaming.responses("`output` with its `stream`"),
)
async def exec_(key: str, body: schemas.ExecBody, request: Request, rt: Rt, who: Who) -> Any:
    """Run a command to completion; counts as activity. Output is kept up to 1 MiB a
    stream: ``truncated`` says whether some was cut, ``stdout_bytes``/``stderr_bytes``
    how much the command wrote. Streamed (``Accept``), nothing is cut."""
    kind = streaming.wanted(request)
    return await on_engine(lambda: _exec(key, body, kind, rt, who))


def _exec(key: str, body: schemas.ExecBody, kind: str | None, rt: Runtime, who: Principal) -> Any:
    visible(rt, who, key)
    check_command(body.command, body.env)  # as sent: its indices, before the wrapper's
    limit = rt.dy.settings.api.exec_timeout
    timeout = min(body.timeout, limit) if body.timeout is not None else limit
    if timeout.total_seconds() < 1:
        raise InvalidValue("timeout must be at least 1s")
    argv = ["timeout", "-s", "KILL", str(int(timeout.total_seconds())), *body.command]
    written = {STDOUT: 0, STDERR: 0}

    def run(sink: Callable[[int, bytes], None]) -> dict[str, Any]:
        """Run it with ``sink`` for its output: what every answer says of how it went."""

        def counted(stream: int, data: bytes) -> None:
            written[STDERR if stream == STDERR else STDOUT] += len(data)
            sink(stream, data)

        began = time.perf_counter()
        code = rt.dy.exec(
            key,
            argv,
            env=body.env,
            workdir=body.workdir,
            on_output=counted,
            session=body.session,
            owner=who.owner,
        )
        duration = time.perf_counter() - began
        return {
            "exit_code": code,
            "timed_out": code == 137 and duration >= timeout.total_seconds(),
            "stdout_bytes": written[STDOUT],
            "stderr_bytes": written[STDERR],
            "duration_s": round(duration, 6),
        }

    if kind is not None:
        texts = {STDOUT: streaming.Text(), STDERR: streaming.Text()}

        def streamed(emit: streaming.Emit) -> dict[str, Any]:
            def relay(stream: int, data: bytes) -> None:
                name = "stderr" if stream == STDERR else "stdout"
                emit({"stream": name, "output": texts[stream].decode(data)})

            return run(relay)

        return streaming.stream(kind, streamed)
    kept = {STDOUT: bytearray(), STDERR: bytearray()}

    def collect(stream: int, data: bytes) -> None:
        target = kept[STDERR if stream == STDERR else STDOUT]
        if len(target) < OUTPUT_LIMIT:
            target.extend(data[: OUTPUT_LIMIT - len(target)])

    result = run(collect)
    return {
        **result,
        "stdout": kept[STDOUT].decode(errors="replace"),
        "stderr": kept[STDERR].decode(errors="replace"),
        "truncated": written[STDOUT] > len(kept[STDOUT]) or written[STDERR] > len(kept[STDERR]),
    }


@by_key.get("/workspaces/{key:path}", response_model=out.WorkspaceOut)
def get(key: str, rt: Rt, who: Who) -> dict[str, Any]:
    visible(rt, who, key)
    return view_json(rt, key)


@by_key.delete("/workspaces/{key:path}", response_model=out.RemovedOut)
def delete(key: str, rt: Rt, who: Who, purge: bool = False, force: bool = False) -> dict[str, Any]:
    visible(rt, who, key)
    change = rt.dy.remove(key, purge=purge, force=force)
    return {"key": key, "changed": change.changed, "purged": purge, "detail": change.detail}
