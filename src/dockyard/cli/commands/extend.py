"""``dockyard extend KEY --by 30m``: push the idle deadline forward."""

from __future__ import annotations

from datetime import timedelta

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import DURATION, clock_time, json_option, relative, seconds_text


@click.command()
@click.argument("key")
@click.option("--by", "by", type=DURATION, required=True, help="How much longer, e.g. 30m.")
@json_option
@pass_app
def extend(app: App, *, key: str, by: timedelta, as_json: bool) -> None:
    """Extend the idle deadline of KEY (never shortens it; capped by max_lifetime)."""
    client = app.remote()
    if client is not None:
        extended = client.extend(key, by)
        deadline = extended.workspace.deadline
        if as_json:
            said = deadline.isoformat() if deadline else None
            app.term.json({"key": key, "deadline": said, "capped": extended.capped})
            return
        left = seconds_text(extended.workspace.time_left_s)
        app.term.out(f"extended {key}: deadline {clock_time(deadline)} (in {left})")
        if extended.capped:
            app.term.note("capped by policy.max_lifetime")
        return
    dy = app.dockyard()
    result = dy.extend(key, by=by)
    app.notify_reconciler()
    if as_json:
        app.term.json(
            {
                "key": key,
                "previous_deadline": result.previous_deadline.isoformat(),
                "deadline": result.deadline.isoformat(),
                "capped": result.capped,
            }
        )
        return
    now = dy.now()
    app.term.out(
        f"extended {key}: deadline {clock_time(result.deadline)} "
        f"({relative(result.deadline, now=now)}), was {clock_time(result.previous_deadline)}"
    )
    if result.capped:
        app.term.note("capped by policy.max_lifetime")
