"""One reconcile pass: observe, plan, execute every action, refill the warm pool, report.

``clean`` runs one (``--dry-run``: only its plan), the background cleanup of the CLI
runs one, the API's ``/reconciler/run`` runs one; the loop (``loop.py``) runs them
continuously, with look-ahead and without waiting for slow actions.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from dockyard.core.errors import DockyardError, Unavailable
from dockyard.core.planner import Plan
from dockyard.core.schedule import with_collection
from dockyard.service.observe import observe, replay_exec_events
from dockyard.service.reconcile import gc
from dockyard.service.reconcile.diskwatch import watch_disks
from dockyard.service.reconcile.execute import Result, execute
from dockyard.service.runtime.context import Context
from dockyard.service.workspaces import pool as warm_pool

log = logging.getLogger("dockyard.reconciler")


@dataclass(frozen=True, slots=True)
class PassReport:
    plan: Plan
    results: list[Result] = field(default_factory=list)
    started_at: datetime | None = None
    duration_s: float = 0.0

    def to_json(self, *, dry_run: bool) -> dict[str, object]:
        """The plan, with each action's outcome if it ran (for ``clean --json`` and the API)."""
        outcomes = {id(r.action): r for r in self.results}
        actions = []
        for action in self.plan.actions:
            entry: dict[str, object] = {
                "action": action.verb.value,
                "target": action.target,
                "key": action.key,
                "reason": action.reason.value,
                "detail": action.detail,
            }
            result = outcomes.get(id(action))
            if result is not None:
                entry.update(outcome=result.outcome.value, message=result.message)
            actions.append(entry)
        wakeup = self.plan.next_wakeup
        return {
            "dry_run": dry_run,
            "actions": actions,
            "next_wakeup": wakeup.isoformat() if wakeup else None,
        }


def run_pass(ctx: Context, *, dry_run: bool = False, probe: bool = True) -> PassReport:
    """Observe, plan and (unless ``dry_run``) execute once, waiting for every action."""
    began = time.monotonic()
    started = ctx.now()
    the_plan = observe_and_plan(ctx, replay=not dry_run, probe=probe)
    results: list[Result] = []
    if not dry_run and the_plan.actions:
        workers = min(ctx.settings.reconciler.workers, len(the_plan.actions))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile") as pool:
            results = list(pool.map(lambda a: execute(ctx, a), the_plan.actions))
    if not dry_run:
        try:
            watch_disks(ctx)
        except DockyardError as exc:
            log.warning("disk use not measured: %s", exc)
        warm_pool.refill_fleet(ctx)
    return PassReport(the_plan, results, started, time.monotonic() - began)


def observe_and_plan(ctx: Context, *, replay: bool = True, probe: bool = True) -> Plan:
    """What is due now (``replay``: count the engine's recent exec events as activity,
    and claim the scheduled gc if it is due: a dry run does neither)."""
    if replay:
        replay_exec_events(ctx)
    found = observe(ctx, probe=probe, working_set=True).plan(ctx.policy)
    return with_scheduled_gc(ctx, found, claim=replay)


def with_scheduled_gc(ctx: Context, plan: Plan, *, claim: bool) -> Plan:
    """``plan`` with the scheduled gc's items (``gc.interval``) when it is due now."""
    try:
        due = gc.due_plan(ctx, claim=claim)
    except Unavailable:
        raise
    except DockyardError as exc:
        log.warning("scheduled gc skipped: %s", exc)
        return plan
    return plan if due is None else with_collection(plan, due)
