"""Admin: the policy in force (get, partial put, reset), the reconciler (start, stop,
one pass), and stats."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dockyard.api.routes.deps import Admin, Rt
from dockyard.api.runtime import Runtime
from dockyard.core.errors import InvalidValue

router = APIRouter(tags=["admin"])

RECONCILER_FIELDS = {"max_interval", "workers", "busy_sample", "background_interval"}


def _policy_json(rt: Runtime) -> dict[str, Any]:
    settings = rt.dy.settings
    reconciler = settings.reconciler.model_dump(mode="json", include=RECONCILER_FIELDS)
    return {
        **settings.policy.model_dump(mode="json"),
        "reconciler": {**reconciler, "enabled": rt.reconciler_running},
        "overridden": rt.dy.overridden(),
    }


@router.get("/policy")
def get_policy(rt: Rt, _who: Admin) -> dict[str, Any]:
    """The policy in force, and the reconciler's intervals and on/off switch."""
    return _policy_json(rt)


@router.put("/policy")
def put_policy(body: dict[str, Any], rt: Rt, _who: Admin) -> dict[str, Any]:
    """Change the policy (a partial update; ``reconciler``: its intervals and ``enabled``),
    validated, in force at once, persisted; the answer is the policy after the change,
    with ``before`` it. The fields set here to something other than the settings file
    says win over it until ``DELETE /policy``; ``overridden`` lists them (a field set to
    what the file says follows the file again)."""
    changes = dict(body)
    reconciler = changes.pop("reconciler", None) or {}
    if not isinstance(reconciler, dict):
        raise InvalidValue("reconciler: expected an object")
    reconciler = dict(reconciler)
    enabled = reconciler.pop("enabled", None)
    if enabled is not None and not isinstance(enabled, bool):
        raise InvalidValue("reconciler.enabled: expected true or false")
    unknown = set(reconciler) - RECONCILER_FIELDS
    if unknown:
        raise InvalidValue(f"reconciler: unknown fields {sorted(unknown)}")
    before = _policy_json(rt)
    rt.dy.change_policy(policy=changes, reconciler=reconciler)
    if enabled is not None:
        rt.dy.set_reconciler_enabled(enabled)
        _ = rt.start_reconciler() if enabled else rt.stop_reconciler()
    rt.wake()
    return {**_policy_json(rt), "before": before}


@router.delete("/policy")
def reset_policy(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Forget the policy and reconciler settings set over the API: the settings file is
    in force again (the reconciler's on/off switch stays as it is)."""
    rt.dy.reset_policy()
    rt.wake()
    return _policy_json(rt)


@router.post("/reconciler/start")
def start_reconciler(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Start the loop; kept across restarts of ``serve`` (as ``enabled`` in the policy)."""
    rt.dy.set_reconciler_enabled(True)
    return {"changed": rt.start_reconciler(), **_reconciler_json(rt)}


@router.post("/reconciler/stop")
def stop_reconciler(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Stop the loop after its pass; it stays stopped across restarts until started."""
    rt.dy.set_reconciler_enabled(False)
    return {"changed": rt.stop_reconciler(), **_reconciler_json(rt)}


@router.post("/reconciler/run")
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


@router.get("/stats")
def stats(rt: Rt, _who: Admin) -> dict[str, Any]:
    """Configuration, counts by state and owner, sessions, the reconciler, and what is
    pending cleanup with its reason."""
    found = rt.dy.stats()
    return {**found, "reconciler": _reconciler_json(rt)}
