"""Leases: a holder killed on this host does not block its workspace until expiry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.core.errors import Busy
from dockyard.service.runtime.identity import holder_is_dead, process_identity
from dockyard.service.runtime.locking import lease
from dockyard.store import Store
from tests.helpers import T0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    yield s
    s.close()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_holder_liveness() -> None:
    host = process_identity().split(":")[0]
    assert not holder_is_dead(process_identity())
    assert holder_is_dead(f"{host}:{_dead_pid()}:abcd")
    assert not holder_is_dead(f"another-host-{host}:{_dead_pid()}")  # cannot tell: alive
    assert not holder_is_dead("garbage")


def test_a_dead_holders_lease_is_taken_over_at_once(store: Store) -> None:
    host = process_identity().split(":")[0]
    dead = f"{host}:{_dead_pid()}:ffff"
    assert store.leases.try_take("ws:k", holder=dead, now=T0, until=T0 + timedelta(minutes=5))
    with lease(store, "ws:k", what="k", holder="me", clock=lambda: T0, wait=timedelta(0)):
        assert store.leases.holder("ws:k")[0].startswith("me:")  # type: ignore[index]


def test_a_live_holders_lease_is_respected(store: Store) -> None:
    alive = f"{process_identity()}:ffff"
    assert store.leases.try_take("ws:k", holder=alive, now=T0, until=T0 + timedelta(minutes=5))
    with (
        pytest.raises(Busy),
        lease(store, "ws:k", what="k", holder="me", clock=lambda: T0, wait=timedelta(0)),
    ):
        pass
