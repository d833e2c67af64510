"""Where a new workspace goes: the facts placement needs, read, then ``core.fleet.place``.

Each candidate engine is checked (its daemon is the one on record and answers: a
success is trusted for a while, ``runtime.fleet``); its load is the number of
workspaces with a container on it, from the store, so every replica counts the same.
A workspace that had a record before (removed, expired) stays on its engine while that
engine is configured: a kept volume is there. A parked one is restored on its engine,
unless that engine drains (or is gone from the settings) and its work can move (a
``git`` checkpoint is a bundle outside every engine): then it is placed anew.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from dockyard.core.errors import EngineRefused, EngineUnavailable, InvalidValue
from dockyard.core.fleet import Candidate, Health, NoEngine, place
from dockyard.core.model import SaveStrategy, Workspace
from dockyard.service.runtime.context import Context
from dockyard.service.workspaces.requests import AcquireRequest

log = logging.getLogger("dockyard.placement")

#: Work saved this way can be restored on another engine.
MOVABLE = frozenset({SaveStrategy.GIT})


def choose_engine(ctx: Context, request: AcquireRequest, *, previous: Workspace | None) -> str:
    """The engine for a new workspace; ``NoEngine`` (why not) if none can take it."""
    fleet = ctx.engines
    if previous is not None and previous.engine in fleet.engines and request.engine is None:
        return previous.engine
    if request.engine is not None and request.engine not in fleet.engines:
        known = ", ".join(fleet.names)
        raise InvalidValue(f"no engine {request.engine!r} here (engines: {known})")
    names = [request.engine] if request.engine is not None else fleet.names
    draining = {record.name for record in ctx.store.engines.list() if record.draining}
    load = ctx.store.workspaces.load_by_engine()
    problems = {name: _problem(ctx, name) for name in names}
    lone = problems[names[0]] if len(names) == 1 else None
    if lone is not None:
        raise lone  # one engine: its own error, as it is
    candidates = [
        Candidate(
            name=name,
            health=_health(problems[name]),
            load=load.get(name, 0),
            capacity=fleet.capacity(name),
            draining=name in draining,
            labels=fleet.labels(name),
        )
        for name in names
    ]
    return place(candidates, require=request.engine_labels)


@contextmanager
def place_held(ctx: Context, engine: str) -> Iterator[None]:
    """Held while a new workspace's intent is written on ``engine``: an engine with a
    capacity is counted again under its lease (the choice was made without it), and a
    full one refused (``NoEngine``: try again, another engine is chosen then)."""
    capacity = ctx.engines.capacity(engine)
    if capacity is None:
        yield
        return
    with ctx.engine_lock(engine):
        load = ctx.store.workspaces.load_by_engine().get(engine, 0)
        if load >= capacity:
            raise NoEngine(f"engine {engine!r} filled up meanwhile ({load}/{capacity}); try again")
        yield


def restore_engine(ctx: Context, ws: Workspace) -> str:
    """Where parked ``ws`` comes back: its engine, or a new one if that one drains (or
    is not configured any more) and the work can move."""
    if ws.strategy not in MOVABLE:
        return ws.engine
    if ws.engine in ctx.engines.engines:
        record = ctx.store.engines.get(ws.engine)
        if record is None or not record.draining:
            return ws.engine
    return choose_engine(ctx, AcquireRequest(key=ws.key), previous=None)


def engine_health(ctx: Context, name: str) -> Health:
    """Whether ``name`` answers as the daemon on record (a recent yes is trusted)."""
    return _health(_problem(ctx, name))


def _problem(ctx: Context, name: str) -> EngineUnavailable | None:
    try:
        ctx.on(name).verify_engine()
    except EngineUnavailable as exc:
        log.log(logging.WARNING if isinstance(exc, EngineRefused) else logging.INFO, "%s", exc)
        return exc
    return None


def _health(problem: EngineUnavailable | None) -> Health:
    if problem is None:
        return Health.READY
    return Health.REFUSED if isinstance(problem, EngineRefused) else Health.UNREACHABLE
