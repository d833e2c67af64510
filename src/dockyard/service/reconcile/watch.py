"""The engine's event stream, as the loop hears it: exec and attach events are activity
on their workspace; a container dying (or being removed) wakes the loop at once, naming
the container (the engine's listing may call it running for a moment after its death).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta

from dockyard.core.errors import DockyardError
from dockyard.engine.models import EngineEvent
from dockyard.service.observe import installation_labels, is_exec_event
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.objects import holder_of

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
    wake: Callable[[str], None],
    backoff_s: Callable[[], float],
) -> None:
    """Follow the engine's events of this installation until ``stop`` (a thread's body);
    ``wake`` gets the id of each container that died or went."""
    since = ctx.now()
    while not stop.is_set():
        until = ctx.now() + WINDOW
        try:
            with ctx.engine.events(
                since=since, until=until, labels=installation_labels(ctx)
            ) as events:
                for event in events:
                    on_event(ctx, event, wake=wake)
            since = until
        except DockyardError as exc:
            log.debug("engine event stream interrupted: %s", exc)
            stop.wait(backoff_s())


def on_event(ctx: Context, event: EngineEvent, *, wake: Callable[[str], None]) -> None:
    if is_exec_event(event.action) or event.action == "attach":
        with suppress(DockyardError):  # a store hiccup loses this touch, not the stream
            key = holder_of(ctx, event.actor_id, event.attributes)
            if key:
                ctx.store.workspaces.touch(key, at=ctx.now())
    elif event.action in WAKING_ACTIONS:
        wake(event.actor_id)
