"""Engines (admin): the fleet with each engine's health, load and daemon on record;
confirm a replaced daemon; drain an engine (and take it back)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from dockyard.api import responses as out
from dockyard.api.routes.deps import Admin, Rt
from dockyard.core.fleet import ENGINE_NAME

router = APIRouter(tags=["engines"])

EngineName = Path(pattern=f"^{ENGINE_NAME.pattern}$", description="the engine's name")


@router.get("/engines", response_model=out.EngineListOut)
def list_engines(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Every engine, asked now: ``ready``, ``unreachable`` or ``refused`` (another
    daemon answers at its address: its workspaces are left alone until confirmed)."""
    return {"engines": [view.to_json() for view in rt.dy.engines()]}


@router.post("/engines/{name}/confirm", response_model=out.EngineConfirmOut)
def confirm(rt: Rt, _who: Admin, name: str = EngineName) -> dict[str, Any]:
    """The daemon now answering at engine ``name`` replaces the one on record."""
    daemon = rt.dy.confirm_engine(name)
    rt.wake()
    return {"name": name, "daemon_id": daemon}


@router.post("/engines/{name}/drain", response_model=out.DrainOut)
def drain(rt: Rt, _who: Admin, name: str = EngineName) -> dict[str, Any]:
    """Place nothing new on ``name`` and park its workspaces, their work saved first;
    git ones come back on another engine at their next acquire, volume and image ones
    stay (``stays``)."""
    report = rt.dy.drain_engine(name)
    rt.wake()
    return {"name": name, "parked": report.parked, "stays": report.stays, "failed": report.failed}


@router.post("/engines/{name}/undrain", response_model=out.EngineConfirmOut)
def undrain(rt: Rt, _who: Admin, name: str = EngineName) -> dict[str, Any]:
    """New workspaces may be placed on ``name`` again."""
    rt.dy.undrain_engine(name)
    return {"name": name, "daemon_id": None}
