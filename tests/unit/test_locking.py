"""Leases: a holder killed on this host does not block its workspace until expiry."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dockyard.core.errors import Busy, StoreUnavailable
from dockyard.service import Dockyard
from dockyard.service.runtime.identity import holder_is_dead, nonce_of, process_identity
from dockyard.service.runtime.locking import LeaseLost, ensure_held, lease
from dockyard.store import Store
from tests.helpers import T0, wait_until


@pytest.fixture
def store(tmp_path: Path, database: dict[str, str]) -> Iterator[Store]:
    """A store on each dialect (``database``: SQLite here, or a PostgreSQL database)."""
    s = Store.open(database.get("database_url") or f"sqlite:///{tmp_path / 'd.db'}")
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
    with lease(store, "ws:k", what="k", holder="me", wait=timedelta(0)):
        assert store.leases.holder("ws:k")[0].startswith("me:")  # type: ignore[index]


def test_a_live_holders_lease_is_respected(store: Store) -> None:
    alive = f"{process_identity()}:ffff"
    now = store.leases.db_now()  # leases expire on the store's clock
    assert store.leases.try_take("ws:k", holder=alive, now=now, until=now + timedelta(minutes=5))
    with (
        pytest.raises(Busy),
        lease(store, "ws:k", what="k", holder="me", wait=timedelta(0)),
    ):
        pass


def test_a_fast_clock_does_not_take_a_live_lease(fake_dy: Dockyard) -> None:
    """Expiry is on the store's clock: a manager whose clock is a minute ahead of the one
    that took the lease (TTL 30 s) used to take it while its holder still worked."""
    ctx = fake_dy.ctx
    elsewhere = f"replica2:4242:p{'0' * 16}"  # alive as far as anyone here can tell
    fast = replace(ctx, clock=lambda: datetime.now(UTC) + timedelta(seconds=60), holder=elsewhere)
    with ctx.lock("k"), pytest.raises(Busy), fast.lock("k", wait=timedelta(0)):
        pass


def test_a_lease_whose_renewals_fail_is_lost_before_anything_destructive(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl = timedelta(seconds=0.3)
    with lease(store, "workspace:k", what="k", holder="me", wait=timedelta(0), ttl=ttl) as held:

        def down(*_args: object, **_kwargs: object) -> bool:
            raise StoreUnavailable("store unavailable: disk I/O error")

        monkeypatch.setattr(store.leases, "try_take", down)
        wait_until(lambda: held.lost, what="the lease to count as lost")
        with pytest.raises(LeaseLost, match="could not be renewed"):
            ensure_held("workspace:k")


#: A manager in other namespaces that holds a workspace's lease until it is killed.
HOLDER = """
import sys, time
from datetime import timedelta
from dockyard.service.runtime.identity import process_identity
from dockyard.service.runtime.locking import lease
from dockyard.store import Store

store = Store.open(sys.argv[1])
with lease(store, "workspace:k", what="k", holder=process_identity(), wait=timedelta(seconds=5)):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize(
    "namespaces",
    [("--pid",), ("--pid", "--uts")],
    ids=["same host name, own pid namespace", "own host name and pid namespace"],
)
def test_a_holder_in_other_namespaces_keeps_its_lease_until_it_dies(
    store: Store, namespaces: tuple[str, ...]
) -> None:
    """Its pid means nothing here (the old check took such a live holder for dead); the
    store's liveness lock frees the lease the moment it is killed, long before the TTL."""
    unshare = ["unshare", *namespaces, "--fork", "--mount-proc", "--kill-child"]
    if os.geteuid() != 0:
        unshare.insert(1, "--map-root-user")
    script = HOLDER
    if "--uts" in namespaces:
        script = "import socket; socket.sethostname('replica2')\n" + script

    def take(wait: timedelta) -> None:
        with lease(store, "workspace:k", what="k", holder=process_identity(), wait=wait):
            pass

    with subprocess.Popen(
        [*unshare, sys.executable, "-c", script, store.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        try:
            assert child.stdout.readline().strip() == "held"
            holder = store.leases.holder("workspace:k")
            assert holder is not None and holder[0].split(":")[1] == "1"  # pid 1 over there
            host, _pid, nonce, _token = holder[0].split(":")
            absent_here = f"{host}:{2**22 + 7}:{nonce}"  # its pid is no process of ours
            assert not holder_is_dead(absent_here, store)
            with pytest.raises(Busy):
                take(timedelta(seconds=1))
        finally:
            child.kill()
            _out, err = child.communicate(timeout=30)
    take(timedelta(seconds=5))  # far below the 30 s TTL: the holder's process is gone
    assert "Traceback" not in err


TWO_LEASES = """
import sys, time
from datetime import timedelta
from dockyard.service.runtime.identity import process_identity
from dockyard.service.runtime.locking import lease
from dockyard.store import Store

store = Store.open(sys.argv[1])
me, wait = process_identity(), timedelta(seconds=5)
with lease(store, "workspace:a", what="a", holder=me, wait=wait):
    with lease(store, "workspace:b", what="b", holder=me, wait=wait):
        print("held", flush=True)
        time.sleep(600)
"""


def test_a_dead_holder_stays_dead_for_each_of_its_leases(store: Store) -> None:
    """The first look that finds a holder dead must not wipe what the next look needs:
    a replica dropping a dead member, then taking over its workspace, saw it "unknown"
    the second time and waited for the lease to expire."""
    with subprocess.Popen(
        [sys.executable, "-c", TWO_LEASES, store.url], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        holders = [h[0] for k in "ab" if (h := store.leases.holder(f"workspace:{k}"))]
        child.kill()
        child.wait(timeout=30)
    assert len(holders) == 2
    assert [holder_is_dead(h, store) for h in holders] == [True, True]
    assert holder_is_dead(holders[0], store)  # and again
    for key in "ab":
        with lease(
            store,
            f"workspace:{key}",
            what=key,
            holder=process_identity(),
            wait=timedelta(seconds=2),
        ):
            pass


def test_a_holder_whose_lock_session_was_cut_finds_out_and_takes_it_again(store: Store) -> None:
    """A database restart or an idle timeout ends the holder's lock session while it
    lives: others would take it for dead. Its next check says so (its leases are then
    lost) and takes the lock again."""
    nonce = nonce_of(process_identity()) or ""
    store.liveness.announce(nonce)
    assert store.liveness.verify(nonce)
    if store.db.dialect != "postgresql":
        return  # a flock cannot be taken from its holder
    with store.db.engine.connect() as conn:
        cut = conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).all()
        conn.commit()
    assert cut
    assert not store.liveness.verify(nonce)  # lost: what it held may be someone else's
    assert store.liveness.verify(nonce)  # and held again
