"""The fleet as an operator sees it: each engine's health, identity, load; confirming
a replaced daemon; draining an engine (its workspaces parked, restored elsewhere).

Draining marks the engine (no new workspace is placed there) and parks each live
workspace on it, its work saved first. A parked workspace whose engine drains is
restored on another engine when its checkpoint can move (``git``: a bundle outside
the engine); a ``volume`` or ``image`` one stays, because its work is on that engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.core.errors import DockyardError, NotFound
from dockyard.core.fleet import Health
from dockyard.core.model import CONTAINERLESS_STATES, State
from dockyard.service.runtime.context import Context, Progress, no_progress
from dockyard.service.workspaces import lifecycle
from dockyard.service.workspaces.placement import MOVABLE, engine_health


@dataclass(frozen=True, slots=True)
class EngineView:
    name: str
    url: str | None  # None: on record (workspaces name it) but not configured here
    health: Health
    daemon_id: str | None
    seen_id: str | None  # another daemon answers there: refused until confirmed
    draining: bool
    load: int
    capacity: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "health": self.health.value,
            "daemon_id": self.daemon_id,
            "seen_id": self.seen_id,
            "draining": self.draining,
            "load": self.load,
            "capacity": self.capacity,
            "labels": dict(self.labels),
        }


def list_engines(ctx: Context, *, ask: bool = True) -> list[EngineView]:
    """Every configured engine, then those only records name; with ``ask``, each
    engine is checked now (a recent success is trusted), else its last known health
    is shown (what a metrics scrape wants: no waiting on an engine that is down)."""
    load = ctx.store.workspaces.load_by_engine()
    fleet = ctx.engines
    health = {
        name: engine_health(ctx, name) if ask else fleet.known_health(name) for name in fleet.names
    }
    records = {r.name: r for r in ctx.store.engines.list()}  # after the checks: fresh
    views = []
    for name in [*fleet.names, *sorted(set(load) - set(fleet.names))]:
        record = records.get(name)
        configured = name in fleet.engines
        views.append(
            EngineView(
                name=name,
                url=fleet.engine(name).url if configured else None,
                health=health.get(name, Health.UNKNOWN),
                daemon_id=record.daemon_id if record else None,
                seen_id=record.seen_id if record else None,
                draining=bool(record and record.draining),
                load=load.get(name, 0),
                capacity=fleet.capacity(name),
                labels=fleet.labels(name),
            )
        )
    return views


def confirm(ctx: Context, name: str) -> str:
    """The daemon answering at ``name`` now is its daemon (it replaced the recorded
    one); returns its identity."""
    on = ctx.on(_configured(ctx, name))
    identity = on.engine.identity()
    now = ctx.now()
    if not ctx.store.engines.confirm(name, daemon_id=identity, at=now):
        ctx.store.engines.record(name, daemon_id=identity, at=now)
    ctx.engines.distrust(name)
    on.verify_engine(max_age_s=0)
    return identity


@dataclass(frozen=True, slots=True)
class DrainReport:
    parked: list[str]
    stays: list[str]  # parked, but their work cannot leave the engine
    failed: dict[str, str]


def drain(ctx: Context, name: str, *, progress: Progress = no_progress) -> DrainReport:
    """Take no new workspace on ``name``; park its live workspaces (work saved first)."""
    ctx.on(_configured(ctx, name)).verify_engine(max_age_s=0)
    _mark(ctx, name, draining=True)
    parked: list[str] = []
    stays: list[str] = []
    failed: dict[str, str] = {}
    on_it = [
        ws
        for ws in ctx.store.workspaces.list()
        if ws.engine == name and ws.state not in (State.REMOVED, State.EXPIRED)
    ]
    for ws in on_it:
        if ws.strategy not in MOVABLE:
            stays.append(ws.key)
        if ws.state in CONTAINERLESS_STATES:
            continue
        progress(f"parking {ws.key}")
        try:
            lifecycle.park(ctx, ws.key, force=True)
        except DockyardError as exc:
            failed[ws.key] = exc.message
            continue
        parked.append(ws.key)
    return DrainReport(parked, stays, failed)


def undrain(ctx: Context, name: str) -> None:
    """New workspaces may be placed on ``name`` again."""
    _mark(ctx, name, draining=False)


def _configured(ctx: Context, name: str) -> str:
    if name not in ctx.engines.engines:
        known = ", ".join(ctx.engines.names)
        raise NotFound(f"no engine {name!r} on this manager (engines: {known})")
    return name


def _mark(ctx: Context, name: str, *, draining: bool) -> None:
    _configured(ctx, name)
    if not ctx.store.engines.set_draining(name, draining=draining):
        raise NotFound(f"engine {name!r} has not been seen yet; nothing to change")
