"""``dockyard events``: the event table, and with --follow new events as they happen."""

from __future__ import annotations

import json
import time

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option
from dockyard.core.events import event_json


@click.command()
@click.option("--workspace", "key", help="Only this workspace's events.")
@click.option("--owner", help="Only this owner's events.")
@click.option("-n", "--last", default=20, show_default=True, help="How many past events.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events (Ctrl-C stops).")
@json_option
@pass_app
def events(
    app: App, *, key: str | None, owner: str | None, last: int, follow: bool, as_json: bool
) -> None:
    """Show what happened: created, reused, restored, idle warnings, parks, removals..."""
    dy = app.dockyard()
    rows = dy.last_events(last, workspace=key, owner=owner)
    cursor = rows[-1]["id"] if rows else dy.latest_event_id()
    for row in rows:
        _print(app, row, as_json=as_json)
    while follow:
        time.sleep(0.25)
        for row in dy.events(after=cursor, limit=500, workspace=key, owner=owner):
            cursor = row["id"]
            _print(app, row, as_json=as_json)


def _print(app: App, row: dict[str, object], *, as_json: bool) -> None:
    event = event_json(row)
    if as_json:
        app.term.out(json.dumps(event, separators=(",", ":")))
        return
    data = " ".join(f"{k}={v}" for k, v in event["data"].items() if v is not None)
    app.term.out(f"{event['at']} {event['type']} {event['workspace'] or '-'} {data}".rstrip())
