"""An engine cut off by the network: nothing destructive, no hang, one log line per retry.

The engine is a dockerd of the test's own in a network namespace of its own, reached
over TCP; the partition is its packets dropped inside that namespace (the engine itself
stays up, as across a real partition).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockyard.core.model import State
from dockyard.engine.docker import DockerEngine, Timeouts
from dockyard.events import EventBus, store_sink
from dockyard.service import AcquireRequest, Context, Dockyard, Reconciler
from dockyard.settings import DEFAULT_IMAGE, Settings, load_settings
from dockyard.store import Store
from tests.helpers import FakeClock, store_env
from tests.netns_engine import NetnsEngine, engine_in_netns

H = timedelta(hours=1)


@pytest.fixture(scope="module")
def partitioned() -> Iterator[NetnsEngine]:
    with engine_in_netns(DEFAULT_IMAGE) as engine:
        yield engine


@pytest.fixture
def far_settings(tmp_path: Path, partitioned: NetnsEngine) -> Settings:
    return load_settings(
        env={},
        flags={
            "data_dir": tmp_path / "data",
            "engine_url": partitioned.tcp_url,
            "workspace.network": "none",  # that engine has no bridge
            "workspace.memory": "128m",
            "reconciler.busy_sample": "0s",
        },
    )


def test_a_cut_off_engine_makes_the_loop_wait_and_retry_not_act(
    far_settings: Settings, partitioned: NetnsEngine, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(far_settings.store_url)
    engine = DockerEngine(partitioned.tcp_url, timeouts=Timeouts(connect_s=1, quick_s=2))
    clock = FakeClock(datetime.now(UTC))  # the engine's own timestamps line up
    ctx = Context(far_settings, store, engine, clock=clock, bus=EventBus([store_sink(store)]))
    dy = Dockyard(ctx)
    try:
        dy.acquire(AcquireRequest(key="far"))
        loop = Reconciler(ctx)
        clock.advance(2 * H)  # idle long past its deadline: a park is due
        partitioned.blackhole(on=True)
        try:
            with caplog.at_level(logging.WARNING, logger="dockyard.reconciler"):
                waits = [loop.step() for _ in range(3)]  # each gives up: no hang
            assert waits == [1.0, 2.0, 4.0]  # backing off
            skipped = [r for r in caplog.records if "reconcile pass skipped" in r.message]
            assert len(skipped) == 3  # one line per retry
            assert dy.get("far").state is State.RUNNING  # nothing destructive
        finally:
            partitioned.blackhole(on=False)
        loop.step()  # healed: the park that was due happens now
        loop.settle()
        assert dy.get("far").state is State.PARKED
    finally:
        dy.remove("far", purge=True, force=True)
        engine.close()
        store.close()


def test_cli_commands_give_up_on_a_cut_off_engine_in_seconds(
    far_settings: Settings, partitioned: NetnsEngine
) -> None:
    env = {**os.environ, **store_env(far_settings)}
    command = [sys.executable, "-m", "dockyard", "--engine-url", partitioned.tcp_url]
    partitioned.blackhole(on=True)
    try:
        listed = subprocess.run(
            [*command, "ls"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert listed.returncode == 0, listed.stderr
        assert "the engine did not answer" in listed.stderr
        cleaned = subprocess.run(
            [*command, "clean"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert cleaned.returncode == 6, cleaned.stderr
        assert "cannot reach the container engine" in cleaned.stderr
        assert "timed out" in cleaned.stderr
    finally:
        partitioned.blackhole(on=False)
