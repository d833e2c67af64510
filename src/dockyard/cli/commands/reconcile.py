"""``dockyard reconcile``: run the reconcile loop in the foreground until interrupted."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import clock_time
from dockyard.core.units import format_duration
from dockyard.service import PassReport


@click.command()
@pass_app
def reconcile(app: App) -> int:
    """Keep every workspace in line with the policy, continuously.

    Sleeps until the next deadline (at most reconciler.max_interval), wakes when another
    dockyard command changes something or a container dies, prints each action taken.
    Stops cleanly on Ctrl-C or SIGTERM, between actions.
    """
    dy = app.dockyard()

    def report(result: PassReport) -> None:
        for r in result.results:
            app.term.out(
                f"{clock_time(result.started_at)}  {r.outcome.value:<7} {r.action.verb.value} "
                f"{r.action.target} ({r.action.reason}): {r.message}"
            )

    loop = dy.reconciler(on_pass=report)
    loop_thread = threading.Thread(target=loop.run, name="reconciler", daemon=True)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        loop.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    interval = format_duration(app.settings().reconciler.max_interval)
    app.term.note(f"reconciling (passes at deadlines, at least every {interval}); Ctrl-C stops")
    loop_thread.start()
    try:
        while loop_thread.is_alive():
            loop_thread.join(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    app.term.note(f"stopped after {loop.status.passes} passes")
    return 0
