"""Admin: the policy in force (get, partial put, reset), the reconciler (start, stop,
one pass), and stats."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from dockyard.api import responses as out
from dockyard.api import schemas
from dockyard.api.routes.deps import Admin, Rt
from dockyard.api.runtime import Runtime

router = APIRouter(tags=["admin"])


def _policy_json(rt: Runtime) -> dict[str, Any]:
    settings = rt.dy.settings
    reconciler = settings.reconciler.model_dump(mode="json", include=set(schemas.RECONCILER_FIELDS))
    return {
        **settings.policy.model_dump(mode="json"),
        "reconciler": {**reconciler, "enabled": rt.reconciler_running},
        "overridden": rt.dy.overridden(),
    }


@router.get("/policy", response_model=out.PolicyOut)
def get_policy(rt: Rt, _who: Admin) -> dict[str, Any]:
    """The policy in force, and the reconciler's intervals and on/off switch."""
    return _policy_json(rt)


@router.put("/policy", response_model=out.PolicyChangeOut)
def put_policy(
    body: Annotated[schemas.PolicyChange, Body(openapi_examples=schemas.POLICY_EXAMPLES)],
    rt: Rt,
    _who: Admin,
) -> dict[str, Any]:
    """Change the policy (a partial update; ``reconciler``: its intervals and ``enabled``),
    validated, in force at once, persisted; the answer is the policy after the change,
    with ``before`` it. The fields set here to something other than the settings file
    says win over it until ``DELETE /policy``; ``overridden`` lists them (a field set to
    what the file says follows the file again)."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    reconciler = changes.pop("reconciler", None) or {}
    enabled = reconciler.pop("enabled", None)
    before = _policy_json(rt)
    rt.dy.change_policy(policy=changes, reconciler=reconciler)
    if enabled is not None:
        rt.dy.set_reconciler_enabled(enabled)
        _ = rt.start_reconciler() if enabled else rt.stop_reconciler()
    rt.wake()
    return {**_policy_json(rt), "before": before}


@router.delete("/policy", response_model=out.PolicyOut)
def reset_policy(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Forget the policy and reconciler settings set over the API: the settings file is
    in force again (the reconciler's on/off switch stays as it is)."""
    rt.dy.reset_policy()
    rt.wake()
    return _policy_json(rt)


@router.post("/reconciler/start", response_model=out.ReconcilerChangeOut)
def start_reconciler(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Start the loop; kept across restarts of ``serve`` (as ``enabled`` in the policy)."""
    rt.dy.set_reconciler_enabled(True)
    return {"changed": rt.start_reconciler(), **_reconciler_json(rt)}


@router.post("/reconciler/stop", response_model=out.ReconcilerChangeOut)
def stop_reconciler(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Stop the loop after its pass; it stays stopped across restarts until started."""
    rt.dy.set_reconciler_enabled(False)
    return {"changed": rt.stop_reconciler(), **_reconciler_json(rt)}


@router.post("/reconciler/run", response_model=out.PassOut)
def run_reconciler(rt: Rt, _who: Admin, dry_run: bool = False) -> dict[str, object]:
    """One pass now; with ``dry_run`` only the plan."""
    return rt.dy.clean(dry_run=dry_run).to_json(dry_run=dry_run)


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


@router.get("/stats", response_model=out.StatsOut)
def stats(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Configuration, counts by state and owner, sessions, the reconciler, and what is
    pending cleanup with its reason."""
    found = rt.dy.stats()
    return {**found, "reconciler": _reconciler_json(rt)}
