"""The loop's schedule: items start when the injected clock reaches their moment."""

from __future__ import annotations

import threading
from datetime import timedelta

from dockyard.service.reconcile.timers import Timers
from tests.helpers import FakeClock, wait_until

S = timedelta(seconds=1)


def test_items_fire_in_order_once_the_clock_reaches_them() -> None:
    clock = FakeClock()
    fired: list[str] = []
    timers: Timers[str] = Timers(clock=clock, fire=fired.append, poll_s=0.01)
    start = clock.now
    timers.add(start + 2 * S, "second")
    timers.add(start + S, "first")
    timers.add(start + 3 * S, "never")
    clock.advance(S / 2)
    assert fired == []  # not before its moment, however long the thread waits
    clock.advance(2 * S)
    wait_until(lambda: fired == ["first", "second"], what="the items that are due")
    assert timers.close() == ["never"]
    assert fired == ["first", "second"]


def test_a_failing_item_does_not_stop_the_others() -> None:
    clock = FakeClock()
    done = threading.Event()

    def fire(item: str) -> None:
        if item == "bad":
            raise RuntimeError("boom")
        done.set()

    timers: Timers[str] = Timers(clock=clock, fire=fire, poll_s=0.01)
    timers.add(clock.now, "bad")
    timers.add(clock.now, "good")
    wait_until(done.is_set, what="the item after the failing one")
    assert timers.close() == []
