"""Test helpers: a clock that only moves when told, quick workspace records, git repos,
the environment a manager process needs to open the same store."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dockyard.core.model import Resources, State, Workspace
from dockyard.settings import Settings

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def store_env(settings: Settings) -> dict[str, str]:
    """What a manager in another process needs to open the store ``settings`` opens."""
    env = {"DOCKYARD_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["DOCKYARD_DATABASE_URL"] = settings.database_url
    return env


class FakeClock:
    """``clock()`` returns the current fake time; ``advance`` moves it. Never sleeps."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self.now += delta if delta is not None else timedelta(**kwargs)
        return self.now


def workspace(**changes: Any) -> Workspace:
    """A running workspace record created at T0, with ``changes`` applied."""
    base = Workspace(
        key="k",
        name="dy-k-aaaaaaaa",
        volume="dy-k-aaaaaaaa-work",
        owner="alice",
        image="dockyard/workspace:latest",
        resources=Resources(memory_bytes=2 * 1024**3, nano_cpus=1_000_000_000, pids=512),
        state=State.RUNNING,
        created_at=T0,
        state_changed_at=T0,
        last_activity_at=T0,
        started_at=T0,
        container_id="c0ffee",
    )
    return replace(base, **changes)


def wait_until(condition: Callable[[], bool], *, what: str, within_s: float = 10.0) -> None:
    """Wait for something the engine does asynchronously (a process dying, a loop waking).

    Not a timeout under test: the condition is checked every 10 ms and the bound only
    turns a hang into a failure that says what never happened.
    """
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {within_s:g}s")
        time.sleep(0.01)


def make_repo(path: Path, *, branch: str | None = None) -> Path:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=T", *args],
            cwd=path,
            check=True,
            capture_output=True,
        )

    path.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    (path / "README.md").write_text("# app\n")
    (path / "src").mkdir()
    (path / "src" / "run.sh").write_text("#!/bin/sh\necho run\n")
    (path / "src" / "run.sh").chmod(0o755)
    git("add", "-A")
    git("commit", "-qm", "first")
    if branch:
        git("checkout", "-qb", branch)
        (path / "feature.txt").write_text("on the branch\n")
        git("add", "-A")
        git("commit", "-qm", "feature")
        git("checkout", "-q", "main")
    return path
