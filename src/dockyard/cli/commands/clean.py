"""``dockyard clean [--dry-run]``: one reconcile pass now, or just its plan."""

from __future__ import annotations

import click

from dockyard.cli import background
from dockyard.cli.app import App, pass_app
from dockyard.cli.params import clock_time, json_option
from dockyard.core.errors import DockyardError, Unavailable
from dockyard.service import PassReport, Verdict


@click.command()
@click.option("--dry-run", is_flag=True, help="Show what would be done and why; change nothing.")
@click.option("--background", "in_background", is_flag=True, hidden=True)
@json_option
@pass_app
def clean(app: App, *, dry_run: bool, in_background: bool, as_json: bool) -> int:
    """Warn, park, and remove what the policy says, once, now.

    Parks idle, crashed and long-stopped workspaces (their work is kept), removes
    orphaned and never-started containers, never touches running workspaces in use
    or anything kept. --dry-run prints the plan: each action, its target and reason.
    """
    if in_background:
        return _background(app)
    report = app.dockyard().clean(dry_run=dry_run)
    if as_json:
        app.term.json(report.to_json(dry_run=dry_run))
        return 0
    _render(app, report, dry_run=dry_run)
    return 1 if any(r.outcome is Verdict.FAILED for r in report.results) else 0


def _background(app: App) -> int:
    settings = app.settings()
    try:
        app.dockyard().clean()
    except Unavailable:
        background.record_error(settings.data_dir, None)
        return 0
    except DockyardError as exc:
        background.record_error(settings.data_dir, exc.message)
        return 1
    background.record_error(settings.data_dir, None)
    return 0


def _render(app: App, report: PassReport, *, dry_run: bool) -> None:
    if not report.plan.actions:
        wakeup = report.plan.next_wakeup
        app.term.out("nothing to do" + (f"; next due {clock_time(wakeup)}" if wakeup else ""))
        return
    if dry_run:
        rows = [[a.verb.value, a.target, a.reason.value, a.detail] for a in report.plan.actions]
        app.term.table(["ACTION", "TARGET", "REASON", "DETAIL"], rows)
        return
    rows = [
        [r.action.verb.value, r.action.target, r.action.reason.value, r.outcome.value, r.message]
        for r in report.results
    ]
    app.term.table(["ACTION", "TARGET", "REASON", "OUTCOME", "DETAIL"], rows)
