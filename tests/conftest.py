"""Shared fixtures: a fake clock, settings in a temporary data dir, a context on the fake engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from dockyard.engine.fake import FakeEngine
from dockyard.events import EventBus, store_sink
from dockyard.service import Context, Dockyard
from dockyard.settings import Settings, load_settings
from dockyard.store import Store
from tests import postgres as pg
from tests.helpers import FakeClock

pytest_plugins = ["tests.engine_fixtures"]
_ENGINE_DIRS = ("engine", "cli", "api")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/engine and tests/cli drives the real engine."""
    root = Path(__file__).parent
    for item in items:
        if item.path.relative_to(root).parts[0] in _ENGINE_DIRS:
            item.add_marker(pytest.mark.engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg.PostgresServer]:
    """One throwaway PostgreSQL server for the session (started here, never assumed)."""
    server = pg.start()
    yield server
    pg.stop(server)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The store's database, each test once per dialect: SQLite in the data dir (the
    default), and a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        yield {}
        return
    with _postgres_database(request) as url:
        yield {"database_url": url}


def _postgres_database(request: pytest.FixtureRequest) -> AbstractContextManager[str]:
    server: pg.PostgresServer = request.getfixturevalue("postgres")
    return server.database()


@pytest.fixture
def another_database(
    request: pytest.FixtureRequest, database: dict[str, str]
) -> Iterator[dict[str, str]]:
    """A second store on the same dialect, for another installation: SQLite in whichever
    data dir it is given, or one more fresh PostgreSQL database."""
    if not database:
        yield {}
        return
    with _postgres_database(request) as url:
        yield {"database_url": url}


@pytest.fixture
def settings(tmp_path: Path, database: dict[str, str]) -> Settings:
    return load_settings(
        env={},
        flags={"data_dir": tmp_path / "data", "reconciler.busy_sample": "0s", **database},
    )


@pytest.fixture
def fake_engine(clock: FakeClock) -> FakeEngine:
    return FakeEngine(clock=clock)


@pytest.fixture
def fake_dy(settings: Settings, fake_engine: FakeEngine, clock: FakeClock) -> Iterator[Dockyard]:
    """The service on the fake engine, a real store (each dialect) and a fake clock."""
    store = Store.open(settings.store_url)
    ctx = Context(
        settings=settings,
        store=store,
        engine=fake_engine,
        clock=clock,
        bus=EventBus([store_sink(store)]),
    )
    yield Dockyard(ctx)
    store.close()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own settings or data directory."""
    for name in list(os.environ):
        if name.startswith("DOCKYARD_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "empty-config.toml"
    empty.write_text("")
    monkeypatch.setenv("DOCKYARD_CONFIG", str(empty))
    # The opportunistic background pass would outlive the test; tests that want it say so.
    monkeypatch.setenv("DOCKYARD_RECONCILER__BACKGROUND_INTERVAL", "0")
