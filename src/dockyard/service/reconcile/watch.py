"""The engine's event stream, as the loop hears it: exec and attach events are activity
on their workspace; a container dying (or being removed) wakes the loop at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import timedelta

from dockyard.core.errors import DockyardError
from dockyard.core.naming import LABEL_WORKSPACE
from dockyard.service.observe import installation_labels
from dockyard.service.runtime.context import Context

log = logging.getLogger("dockyard.reconciler")

#: Engine actions after which the plan may have changed: look again now.
WAKING_ACTIONS = frozenset({"die", "oom", "destroy", "remove", "kill"})
#: The stream is read in windows of this length (a window that ends returns, so the
#: watcher notices ``stop`` and a broken connection within it).
WINDOW = timedelta(seconds=2)


def watch_engine(
    ctx: Context,
    *,
    stop: threading.Event,
    wake: Callable[[], None],
    backoff_s: Callable[[], float],
) -> None:
    """Follow the engine's events of this installation until ``stop`` (a thread's body)."""
    since = ctx.now()
    while not stop.is_set():
        until = ctx.now() + WINDOW
        try:
            with ctx.engine.events(
                since=since, until=until, labels=installation_labels(ctx)
            ) as events:
                for event in events:
                    on_event(ctx, event.action, event.attributes, wake=wake)
            since = until
        except DockyardError as exc:
            log.debug("engine event stream interrupted: %s", exc)
            stop.wait(backoff_s())


def on_event(
    ctx: Context, action: str, attributes: Mapping[str, str], *, wake: Callable[[], None]
) -> None:
    key = attributes.get(LABEL_WORKSPACE)
    if action.startswith("exec_") or action == "attach":
        if key:
            with suppress(DockyardError):
                ctx.store.workspaces.touch(key, at=ctx.now())
    elif action in WAKING_ACTIONS:
        wake()
