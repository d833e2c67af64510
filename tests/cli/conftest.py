"""What the CLI tests share: ``dockyard`` run in-process against one data directory."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dockyard.cli.main import main
from dockyard.store import Store


class CLI:
    """Runs ``dockyard`` in-process against one data directory, capturing output."""

    def __init__(self, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data = data
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--data-dir", str(self.data), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def idle(self, key: str, *, for_: timedelta) -> None:
        """Make ``key`` look unused for ``for_`` (activity never moves back by itself)."""
        store = Store.open(f"sqlite:///{self.data / 'dockyard.db'}")
        try:
            ws = store.workspaces.get(key)
            assert ws is not None
            aged = replace(
                ws,
                last_activity_at=ws.last_activity_at - for_,
                started_at=ws.started_at - for_ if ws.started_at else None,
            )
            assert store.workspaces.save(aged, expect_state=ws.state)
        finally:
            store.close()

    @property
    def installation(self) -> str:
        store = Store.open(f"sqlite:///{self.data / 'dockyard.db'}")
        try:
            return store.installation_id
        finally:
            store.close()


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], installed: list[str]) -> Any:
    runner = CLI(tmp_path / "data", capsys)
    yield runner
    if (runner.data / "dockyard.db").exists():
        installed.append(runner.installation)
