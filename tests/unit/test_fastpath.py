"""The quick exec's pure parts and its store statements: the same records as the store's
own families leave, and a clear "not mine" for every case it leaves to the full CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.core.model import CloseReason, SessionKind, State
from dockyard.fastpath.exec import command_of
from dockyard.fastpath.place import DEFAULT_WORKDIR, Place, place
from dockyard.store import Store
from dockyard.store.direct import DirectStore
from tests.helpers import T0, workspace


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["k", "--", "ls", "-la"], ("k", ["ls", "-la"])),
        (["k", "true"], ("k", ["true"])),
        (["user:42", "sh", "x y"], ("user:42", ["sh", "x y"])),
        (["k", "ls", "-la"], None),  # -la could be one of exec's options: click decides
        (["k", "-e", "A=1", "--", "env"], None),
        (["k", "--"], None),
        (["k"], None),
        (["--help"], None),
        (["-i", "k", "--", "cat"], None),
    ],
)
def test_command_of_takes_only_what_cannot_be_an_option(
    args: list[str], expected: tuple[str, list[str]] | None
) -> None:
    assert command_of(args) == expected


def test_place_defaults_and_layers(tmp_path: Path) -> None:
    env = {"DOCKYARD_DATA_DIR": str(tmp_path), "DOCKYARD_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    assert place(env) == Place(
        database=tmp_path / "dockyard.db",
        engine_url="unix:///var/run/docker.sock",
        workdir=DEFAULT_WORKDIR,
    )
    config = tmp_path / "c.toml"
    config.write_text(
        'database_url = "sqlite:////srv/dy.db"\nengine_url = "unix:///run/d.sock"\n'
        '[workspace]\nworkdir = "/work"\n[policy]\nidle_timeout = "2h"\n'
    )
    assert place({"DOCKYARD_CONFIG": str(config)}) == Place(
        database=Path("/srv/dy.db"), engine_url="unix:///run/d.sock", workdir="/work"
    )
    assert place({**env, "DOCKER_HOST": "unix:///other.sock"}).engine_url == (  # type: ignore[union-attr]
        "unix:///other.sock"
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"DOCKYARD_URL": "http://server:8420"},
        {"DOCKYARD_DATABASE_URL": "postgresql+psycopg://db/dy"},
        {"DOCKYARD_ENGINE_URL": "tcp://10.0.0.2:2376"},
        {"DOCKER_HOST": "tcp://10.0.0.2:2375"},
        {"DOCKYARD_ENGINES": '[{"name": "a"}, {"name": "b"}]'},
        {"DOCKYARD_WORKSPACE__WORKDIR": "relative"},
        {"DOCKYARD_ENGINES": "[not json"},
    ],
)
def test_place_leaves_every_other_case_to_the_full_cli(
    tmp_path: Path, extra: dict[str, str]
) -> None:
    (tmp_path / "none.toml").write_text("")
    env = {"DOCKYARD_DATA_DIR": str(tmp_path), "DOCKYARD_CONFIG": str(tmp_path / "none.toml")}
    assert place({**env, **extra}) is None


def twin_stores(tmp_path: Path) -> tuple[Store, Store]:
    return (
        Store.open(f"sqlite:///{tmp_path / 'a.db'}"),
        Store.open(f"sqlite:///{tmp_path / 'b.db'}"),
    )


@pytest.mark.parametrize("state", [State.RUNNING, State.WARNED, State.PARKED])
def test_direct_statements_leave_what_the_store_leaves(tmp_path: Path, state: State) -> None:
    full, twin = twin_stores(tmp_path)
    record = workspace(
        state=state,
        last_activity_at=T0,
        warned_deadline=T0 + timedelta(minutes=5) if state is State.WARNED else None,
    )
    opened, closed = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    try:
        for store in (full, twin):
            store.workspaces.insert(record)
        session = full.sessions.open(
            workspace_key=record.key, kind=SessionKind.EXEC, holder="h", at=opened, description="ls"
        )
        full.sessions.close(
            session.id, workspace_key=record.key, at=closed, reason=CloseReason.ENDED
        )

        direct = DirectStore.open(tmp_path / "b.db")
        assert direct is not None
        assert direct.workspace(record.key).state is state  # type: ignore[union-attr]
        session_id = direct.open_exec(record.key, holder="h", at=opened, description="ls")
        direct.close_exec(record.key, session_id, at=closed)
        direct.close()

        assert twin.workspaces.get(record.key) == full.workspaces.get(record.key)
        (theirs,) = full.sessions.list(workspace_key=record.key)
        (ours,) = twin.sessions.list(workspace_key=record.key)
        assert replace(ours, id=theirs.id) == theirs
    finally:
        full.close()
        twin.close()


def test_direct_store_declines_a_missing_or_other_release_store(tmp_path: Path) -> None:
    assert DirectStore.open(tmp_path / "none.db") is None
    Store.open(f"sqlite:///{tmp_path / 'a.db'}").close()
    opened = DirectStore.open(tmp_path / "a.db")
    assert opened is not None
    opened.close()
    with sqlite3.connect(tmp_path / "a.db") as conn:  # a store an older release left
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert DirectStore.open(tmp_path / "a.db") is None


def test_the_quick_exec_loads_neither_sqlalchemy_nor_pydantic_nor_click(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from dockyard.fastpath.exec import quick_exec\n"
        "assert quick_exec(['nosuch', '--', 'true']) is None\n"  # no store: the full CLI's
        "print(sorted(m for m in ('sqlalchemy', 'pydantic', 'click', 'rich', 'httpx')"
        " if m in sys.modules))\n"
    )
    env = {"DOCKYARD_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
