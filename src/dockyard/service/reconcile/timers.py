"""Items handed over at their moment, by one thread: the reconcile loop's schedule.

A moment is a time on the context's clock, the clock every deadline is measured on, so
an item never fires before its moment by that clock (a timer on the monotonic clock
could, when the wall clock is slewed). The thread looks at the clock at least every
``poll_s`` seconds, which is how a test that moves a fake clock gets its items.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

log = logging.getLogger("dockyard.timers")

T = TypeVar("T")


class Timers(Generic[T]):
    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        fire: Callable[[T], None],
        poll_s: float = 1.0,
        name: str = "timers",
    ) -> None:
        self._clock = clock
        self._fire = fire
        self._poll_s = poll_s
        self._name = name
        self._heap: list[tuple[datetime, int, T]] = []
        self._order = itertools.count()  # ties keep their order; items are never compared
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, at: datetime, item: T) -> None:
        """Hand ``item`` to ``fire`` once the clock reaches ``at``."""
        with self._cond:
            if self._closed:
                raise RuntimeError("timers closed")
            heapq.heappush(self._heap, (at, next(self._order), item))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> list[T]:
        """Stop; returns the items that never fired, in order."""
        with self._cond:
            self._closed = True
            left = [item for _at, _n, item in sorted(self._heap)]
            self._heap.clear()
            self._cond.notify()
        return left

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                remaining = (self._heap[0][0] - self._clock()).total_seconds()
                if remaining > 0:
                    self._cond.wait(min(remaining, self._poll_s))
                    continue
                _at, _n, item = heapq.heappop(self._heap)
                self._cond.release()
                try:
                    self._fire(item)
                except Exception:  # one failing item must not stop the others
                    log.exception("a scheduled item failed to start")
                finally:
                    self._cond.acquire()
