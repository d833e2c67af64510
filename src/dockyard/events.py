"""The event bus: every state change is published once and fanned out to sinks.

A sink is any callable taking an ``Event``. Built in: the event table (durable, read by
``dockyard events`` and the API) and the log. Later fronts subscribe more (server-sent
events, webhooks). A failing sink is logged and never fails the operation that
published the event: the workspace changed whether or not a listener heard about it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from dockyard.core.events import Event
from dockyard.store import Store

log = logging.getLogger("dockyard.events")

Sink = Callable[[Event], None]


class EventBus:
    def __init__(self, sinks: list[Sink] | None = None) -> None:
        self._sinks: list[Sink] = list(sinks or [])
        self._lock = threading.Lock()

    def subscribe(self, sink: Sink) -> Callable[[], None]:
        """Add ``sink``; returns a function that removes it again."""
        with self._lock:
            self._sinks.append(sink)

        def unsubscribe() -> None:
            with self._lock:
                if sink in self._sinks:
                    self._sinks.remove(sink)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            try:
                sink(event)
            except Exception:  # a listener's failure must not undo what happened
                log.exception("event sink %r failed for %s", sink, event.type)


def store_sink(store: Store) -> Sink:
    """Persist events to the event table."""

    def write(event: Event) -> None:
        store.events.append(
            type=event.type.value,
            at=event.at,
            workspace_key=event.workspace_key,
            owner=event.owner,
            data=event.data,
        )

    return write


def log_sink(event: Event) -> None:
    log.info("%s %s %s", event.type.value, event.workspace_key or "-", dict(event.data))
