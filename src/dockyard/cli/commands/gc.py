"""``dockyard gc``: remove old containers, unused images and orphan volumes, plan first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click
from rich.text import Text

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import DURATION, SIZE, json_option
from dockyard.core.errors import Refused
from dockyard.core.gc import GcPlan, GcRequest, Item
from dockyard.core.units import format_duration, format_size, plural
from dockyard.service import GcOutcome, ItemResult


@click.command()
@click.option("--dry-run", is_flag=True, help="Show the plan; remove nothing.")
@click.option(
    "--age", type=DURATION, default="7d", show_default=True, help="Unused at least this long."
)
@click.option("--images", is_flag=True, help="Also unused images dockyard built or snapshot.")
@click.option("--volumes", is_flag=True, help="Also volumes no workspace needs any more.")
@click.option(
    "--keep-storage",
    type=SIZE,
    help="Images: remove the least recently used until they total at most this (e.g. 10GB).",
)
@click.option("-f", "--force", is_flag=True, help="Remove without asking.")
@json_option
@pass_app
def gc(
    app: App,
    *,
    dry_run: bool,
    age: timedelta,
    images: bool,
    volumes: bool,
    keep_storage: int | None,
    force: bool,
    as_json: bool,
) -> int:
    """Garbage-collect what dockyard owns: stopped containers older than --age (by when
    they stopped), and with --images / --volumes unused images (least recently used
    first) and volumes whose workspace is gone or has no live checkpoint.

    Running, kept and in-use things, and other installations' things, are never
    touched. The plan is shown first; applying it re-checks every item and skips
    anything that changed since.
    """
    dy = app.dockyard()
    request = GcRequest(
        age=age,
        images=images or keep_storage is not None,
        volumes=volumes,
        keep_storage=keep_storage,
    )
    plan = dy.gc_plan(request)
    now = dy.now()
    if not as_json:
        _show_plan(app, plan, now=now)
    if dry_run or not plan.items:
        if as_json:
            app.term.json({"dry_run": dry_run, **_plan_json(plan)})
        return 0
    if not force:
        question = f"Remove these {plural(len(plan.items), 'item')}?"
        if not app.term.interactive:
            raise Refused(
                f"gc would remove {plural(len(plan.items), 'item')}; pass --force to remove "
                "them without a terminal, or --dry-run to only look"
            )
        if not app.term.confirm(question):
            app.term.note("nothing removed")
            return 0
    results = dy.gc_apply(plan, progress=app.term.progress)
    freed = sum(r.item.size or 0 for r in results if r.outcome in _DONE)
    if as_json:
        app.term.json(
            {
                "dry_run": False,
                **_plan_json(plan),
                "results": [_result_json(r) for r in results],
                "freed_bytes": freed,
            }
        )
        return 0 if all(r.outcome is not GcOutcome.FAILED for r in results) else 1
    for result in results:
        line = f"{result.outcome.value} {result.item.kind.value} {result.item.name}"
        app.term.out(line + (f": {result.detail}" if result.detail else ""))
    done = sum(1 for r in results if r.outcome in _DONE)
    skipped = len(results) - done
    app.term.out(f"freed {format_size(freed)} ({done} removed, {skipped} skipped)")
    return 0 if all(r.outcome is not GcOutcome.FAILED for r in results) else 1


_DONE = frozenset({GcOutcome.REMOVED, GcOutcome.PARKED})


def _show_plan(app: App, plan: GcPlan, *, now: datetime) -> None:
    if plan.items:
        rows: list[list[str | Text]] = [
            [
                item.kind.value,
                item.name,
                "-" if item.size is None else format_size(item.size),
                "-" if item.created_at is None else format_duration(now - item.created_at),
                "-" if item.since is None else format_duration(now - item.since) + " ago",
                item.reason,
            ]
            for item in plan.items
        ]
        app.term.table(["KIND", "NAME", "SIZE", "AGE", "LAST USED", "REASON"], rows)
        total = f"{plural(len(plan.items), 'item')}, {format_size(plan.total_size)}"
        app.term.out(f"total: {total}")
    else:
        app.term.note("nothing to collect")
    for name, why in plan.kept:
        app.term.note(f"kept {name}: {why}")


def _item_json(item: Item) -> dict[str, Any]:
    return {
        "kind": item.kind.value,
        "ref": item.ref,
        "name": item.name,
        "size_bytes": item.size,
        "created_at": item.created_at.isoformat() if item.created_at else None,
        "last_used_at": item.since.isoformat() if item.since else None,
        "reason": item.reason,
        "workspace": item.key,
    }


def _plan_json(plan: GcPlan) -> dict[str, Any]:
    return {
        "plan": [_item_json(i) for i in plan.items],
        "total_bytes": plan.total_size,
        "kept": [{"name": name, "why": why} for name, why in plan.kept],
    }


def _result_json(result: ItemResult) -> dict[str, Any]:
    return {**_item_json(result.item), "outcome": result.outcome.value, "detail": result.detail}
