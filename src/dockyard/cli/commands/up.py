"""``dockyard up KEY``: create, reuse, start or restore a workspace, and print its name."""

from __future__ import annotations

import getpass
from datetime import timedelta

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import DURATION, LABEL, SIZE, json_option
from dockyard.core.checkpoints import checkpoint_json
from dockyard.core.model import Outcome, PolicyOverrides, SaveStrategy
from dockyard.service import AcquireRequest


@click.command()
@click.argument("key")
@click.option("--owner", help="Owner of a new workspace (default: your user name).")
@click.option("--repo", help="Local git repository to copy in, or a URL to clone inside.")
@click.option("--branch", help="Branch to check out.")
@click.option("--image", help="Image of a new workspace (default: workspace.image).")
@click.option("--memory", type=SIZE, help="Memory limit, e.g. 2g.")
@click.option("--cpus", type=float, help="CPU limit, e.g. 1.5.")
@click.option("--pids", type=int, help="Process limit.")
@click.option(
    "--disk",
    type=SIZE,
    help="Give a new workspace's volume its own file system of this size, e.g. 64m.",
)
@click.option("--label", "labels", type=LABEL, multiple=True, help="Extra label (repeatable).")
@click.option("--keep", is_flag=True, default=None, help="Never clean this workspace up.")
@click.option(
    "--strategy",
    type=click.Choice([s.value for s in SaveStrategy]),
    help="How work is saved when the workspace is parked.",
)
@click.option("--idle-timeout", type=DURATION, help="Idle timeout of this workspace.")
@click.option("--engine", help="Engine of a new workspace (default: the least loaded).")
@click.option(
    "--engine-label",
    "engine_labels",
    type=LABEL,
    multiple=True,
    help="A new workspace goes to an engine with this label (repeatable).",
)
@click.option(
    "--from",
    "from_checkpoint",
    metavar="CHECKPOINT",
    help="Restore this checkpoint of a parked workspace (see `dockyard checkpoints KEY`).",
)
@json_option
@pass_app
def up(
    app: App,
    *,
    key: str,
    owner: str | None,
    repo: str | None,
    branch: str | None,
    image: str | None,
    memory: int | None,
    cpus: float | None,
    pids: int | None,
    disk: int | None,
    labels: tuple[tuple[str, str], ...],
    keep: bool | None,
    strategy: str | None,
    idle_timeout: timedelta | None,
    engine: str | None,
    engine_labels: tuple[tuple[str, str], ...],
    from_checkpoint: str | None,
    as_json: bool,
) -> None:
    """Bring up the workspace KEY and print its container name.

    Says what it did: created, reused (it was running), started (it was stopped) or
    restored (it was parked, or its container was gone; the work comes back, and the
    checkpoint it came from is named).
    """
    app.cleanup_in_background()
    client = app.remote()
    if client is not None:
        acquired = client.acquire(
            key,
            owner=owner,  # none: the server's default (an owner token's own owner)
            repo=repo,
            branch=branch,
            image=image,
            memory=memory,
            cpus=cpus,
            pids=pids,
            disk=disk,
            labels=dict(labels),
            keep=keep or None,
            strategy=strategy,
            idle_timeout=idle_timeout,
            engine=engine,
            engine_labels=dict(engine_labels),
            from_checkpoint=from_checkpoint,
        )
        if as_json:
            said = {k: v for k, v in acquired.raw.items() if k != "workspace"}
            app.term.json({**said, **acquired.raw["workspace"]})
            return
        _said(app, acquired.outcome, acquired.workspace.name, acquired.note)
        return
    dy = app.dockyard()
    request = AcquireRequest(
        key=key,
        owner=owner,
        default_owner=_user(),
        repo=repo,
        branch=branch,
        image=image,
        memory=memory,
        cpus=cpus,
        pids=pids,
        disk=disk,
        labels=dict(labels),
        keep=keep or None,
        strategy=SaveStrategy(strategy) if strategy else None,
        overrides=PolicyOverrides(idle_timeout=idle_timeout),
        from_checkpoint=from_checkpoint,
        engine=engine,
        engine_labels=dict(engine_labels),
    )
    result = dy.acquire(request, progress=app.term.progress)
    if result.outcome is not Outcome.REUSED:
        app.notify_reconciler()  # a new deadline to watch
    if as_json:
        view = dy.status(key)
        restored = checkpoint_json(result.checkpoint) if result.checkpoint else None
        app.term.json(
            {
                "outcome": result.outcome.value,
                "note": result.note,
                "restored_from": restored,
                **view.to_json(),
            }
        )
        return
    _said(app, result.outcome, result.workspace.name, result.note)


def _said(app: App, outcome: Outcome, name: str, note: str | None) -> None:
    app.term.out(f"{outcome.value} {name}")
    if note:
        app.term.note(note)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "default"
