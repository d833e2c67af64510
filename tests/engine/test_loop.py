"""The reconcile loop itself (``Reconciler.run``, threads and all) on the real engine.

Its passes sleep up to ``reconciler.max_interval`` (an hour here): what happens within
seconds happens because the engine's event stream woke the loop. The waits below only
turn a hang into a failure that says what never happened.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from dockyard.core.model import State
from dockyard.engine.docker import DockerEngine
from dockyard.service import AcquireRequest, Dockyard, Reconciler
from dockyard.settings import Settings
from tests.helpers import wait_until


@pytest.fixture
def slow_loop_settings(engine_settings: Settings) -> Settings:
    hour = timedelta(hours=1)
    reconciler = engine_settings.reconciler.model_copy(update={"max_interval": hour})
    return engine_settings.model_copy(update={"reconciler": reconciler})


@pytest.fixture
def dy_slow(slow_loop_settings: Settings, installed: list[str]) -> Iterator[Dockyard]:
    service = Dockyard.open(slow_loop_settings)
    installed.append(service.ctx.installation)
    yield service
    service.close()


@contextmanager
def running(loop: Reconciler) -> Iterator[Reconciler]:
    thread = threading.Thread(target=loop.run, name="loop-under-test", daemon=True)
    thread.start()
    try:
        wait_until(lambda: loop.status.passes >= 1, what="the loop's first pass")
        yield loop
    finally:
        loop.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the loop did not stop"


def test_a_container_that_dies_is_parked_by_the_loop_within_seconds(
    dy_slow: Dockyard, docker: DockerEngine
) -> None:
    dy_slow.acquire(AcquireRequest(key="dies"))
    name = dy_slow.get("dies").name
    with running(dy_slow.reconciler()):
        dy_slow.exec("dies", ["sh", "-c", "kill -9 $(pidof sleep) || true"])
        wait_until(
            lambda: dy_slow.get("dies").state is State.PARKED,
            what="the die event waking the loop to park it",
            within_s=30,
        )
    assert dy_slow.get("dies").reason is not None and "crashed" in (
        dy_slow.get("dies").reason or ""
    )
    assert not any(c.name == name for c in docker.list_containers(labels={}))


def test_a_docker_stop_is_recorded_as_stopped_by_the_loop(
    dy_slow: Dockyard, docker: DockerEngine
) -> None:
    dy_slow.acquire(AcquireRequest(key="stopped"))
    name = dy_slow.get("stopped").name
    with running(dy_slow.reconciler()) as loop:
        docker.stop_container(ref=name, timeout_s=0)  # as `docker stop` would
        wait_until(
            lambda: dy_slow.get("stopped").state is State.STOPPED,
            what="the loop recording the stop",
            within_s=30,
        )
        passes = loop.status.passes
        loop.wake()
        wait_until(lambda: loop.status.passes > passes, what="another pass")
    ws = dy_slow.get("stopped")
    assert ws.state is State.STOPPED  # kept for stopped_retention, not parked as a crash
    assert docker.inspect_container(ref=name).status == "exited"
