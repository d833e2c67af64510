"""Engine tests with an injected clock: containers are real, time is not.

The clock starts at the real time (so the engine's own timestamps line up) and tests
move it forward instead of waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from dockyard.engine.docker import DockerEngine
from dockyard.events import EventBus, store_sink
from dockyard.service import Context, Dockyard
from dockyard.settings import Settings
from dockyard.store import Store
from tests.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def timed(engine_settings: Settings, clock: FakeClock, installed: list[str]) -> Iterator[Dockyard]:
    """The service on the real engine, with the injected clock."""
    store = Store.open(engine_settings.store_url)
    engine = DockerEngine()
    ctx = Context(
        settings=engine_settings,
        store=store,
        engine=engine,
        clock=clock,
        bus=EventBus([store_sink(store)]),
    )
    installed.append(ctx.installation)
    yield Dockyard(ctx)
    engine.close()
    store.close()
