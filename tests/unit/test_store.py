from __future__ import annotations

import functools
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from dockyard.core.errors import Conflict, StoreError, StoreUnavailable
from dockyard.core.model import (
    Checkpoint,
    CheckpointKind,
    CloseReason,
    SaveStrategy,
    Session,
    SessionKind,
    SessionStatus,
    State,
    Workspace,
)
from dockyard.core.pool import PoolMember
from dockyard.store import Store
from dockyard.store.migrate import _MIGRATIONS
from dockyard.store.schema import SCHEMA_REVISION, metadata
from tests.helpers import T0, workspace


@pytest.fixture
def store(tmp_path: Path, database: dict[str, str]) -> Iterator[Store]:
    """A store on each dialect (``database``: SQLite here, or a PostgreSQL database)."""
    s = Store.open(database.get("database_url") or f"sqlite:///{tmp_path / 'd.db'}")
    yield s
    s.close()


def test_schema_revision_constant_is_the_migrations_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_migrations_produce_exactly_the_declared_schema(store: Store) -> None:
    with store.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_installation_id_is_stable_per_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    first = Store.open(url)
    second = Store.open(url)
    other = Store.open(f"sqlite:///{tmp_path / 'y.db'}")
    assert first.installation_id == second.installation_id != other.installation_id
    for s in (first, second, other):
        s.close()


def test_insert_get_and_conflicts(store: Store) -> None:
    ws = workspace(labels={"team": "a"})
    store.workspaces.insert(ws)
    assert store.workspaces.get("k") == ws
    with pytest.raises(Conflict):
        store.workspaces.insert(ws)
    with pytest.raises(Conflict):
        store.workspaces.insert(replace(ws, key="other"))  # same container name


def test_save_is_compare_and_set(store: Store) -> None:
    ws = workspace()
    store.workspaces.insert(ws)
    stopped = ws.transition(State.STOPPED, now=T0)
    assert store.workspaces.save(stopped, expect_state=State.RUNNING)
    assert not store.workspaces.save(stopped, expect_state=State.RUNNING)  # it moved on already
    assert store.workspaces.get("k").state is State.STOPPED  # type: ignore[union-attr]


def test_touch_only_lands_on_running_and_never_goes_back(store: Store) -> None:
    store.workspaces.insert(workspace(state=State.WARNED, warned_deadline=T0))
    assert store.workspaces.touch("k", at=T0 + timedelta(minutes=5))
    got = store.workspaces.get("k")
    assert got is not None
    assert got.state is State.RUNNING and got.warned_deadline is None
    assert got.last_activity_at == T0 + timedelta(minutes=5)
    assert store.workspaces.touch("k", at=T0)  # an older touch (clock skew) does not move it back
    assert store.workspaces.get("k").last_activity_at == T0 + timedelta(minutes=5)  # type: ignore[union-attr]
    store.workspaces.save(workspace(state=State.STOPPED), expect_state=State.RUNNING)
    assert not store.workspaces.touch("k", at=T0 + timedelta(hours=1))


def test_record_activity_coalesces_until_this_process_writes_the_workspace(
    store: Store,
) -> None:
    second = timedelta(seconds=1)
    store.workspaces.insert(workspace(state=State.WARNED, warned_deadline=T0))
    first = store.workspaces.record_activity("k", at=T0 + 5 * second, coalesce=second)
    assert first is not None and first.state is State.RUNNING and first.warned_deadline is None
    assert first.last_activity_at == T0 + 5 * second
    # within the resolution: answered from memory, nothing written
    again = store.workspaces.record_activity("k", at=T0 + 5.5 * second, coalesce=second)
    assert again == first
    assert store.workspaces.get("k").revision == first.revision  # type: ignore[union-attr]
    # past it: written again
    later = store.workspaces.record_activity("k", at=T0 + 6 * second, coalesce=second)
    assert later is not None and later.last_activity_at == T0 + 6 * second
    assert later.revision == first.revision + 1
    # a write by this process (a stop) is seen at once, even within the resolution
    store.workspaces.save(later.transition(State.STOPPED, now=T0), expect_state=State.RUNNING)
    assert store.workspaces.recent_activity("k", at=T0 + 6 * second, coalesce=second) is None
    assert store.workspaces.record_activity("k", at=T0 + 6.1 * second, coalesce=second) is None


def test_record_activity_of_an_owner_lands_only_on_their_workspace(store: Store) -> None:
    store.workspaces.insert(workspace(owner="alice"))
    hour = timedelta(hours=1)
    assert store.workspaces.record_activity("k", at=T0, coalesce=hour, owner="bob") is None
    assert store.workspaces.record_activity("k", at=T0, coalesce=hour, owner="alice") is not None
    assert store.workspaces.recent_activity("k", at=T0, coalesce=hour, owner="bob") is None
    assert store.workspaces.recent_activity("k", at=T0, coalesce=hour, owner="alice") is not None


def test_the_working_set_leaves_out_history_with_nothing_to_look_after(store: Store) -> None:
    def record(key: str, state: State) -> Workspace:
        ws = workspace(key=key, name=f"dy-{key}", state=state)
        store.workspaces.insert(ws)
        return ws

    record("running", State.RUNNING)
    record("stopped", State.STOPPED)
    record("history", State.PARKED)
    record("removed", State.REMOVED)
    record("has-checkpoint", State.PARKED)
    with_container = record("has-container", State.EXPIRED)
    found = store.workspaces.working_set(keys={"has-checkpoint"}, names={with_container.name})
    assert [ws.key for ws in found] == ["has-checkpoint", "has-container", "running", "stopped"]
    assert [ws.key for ws in store.workspaces.working_set()] == ["running", "stopped"]


def test_checkpoints_due_are_the_expired_the_unverified_and_the_orphaned(store: Store) -> None:
    store.workspaces.insert(workspace(state=State.PARKED))
    week = timedelta(days=7)

    def add(id_: str, *, key: str = "k", expires: timedelta = week, verified: bool = True) -> None:
        store.checkpoints.add(
            Checkpoint(
                id=id_,
                workspace_key=key,
                strategy=SaveStrategy.VOLUME,
                kind=CheckpointKind.VOLUME,
                created_at=T0,
                expires_at=T0 + expires,
                verified=verified,
            )
        )

    add("kept")
    add("expired", expires=timedelta(hours=1))
    add("unfinished", verified=False)
    add("orphan", key="gone")
    due = {c.id for c in store.checkpoints.due(by=T0 + timedelta(days=1))}
    assert due == {"expired", "unfinished", "orphan"}
    assert {c.id for c in store.checkpoints.due(by=T0 + 2 * week)} == due | {"kept"}


def test_leases(store: Store) -> None:
    later = T0 + timedelta(seconds=30)
    assert store.leases.try_take("l", holder="a", now=T0, until=later)
    assert store.leases.try_take("l", holder="a", now=T0, until=later)  # renewal
    assert not store.leases.try_take("l", holder="b", now=T0, until=later)
    expired = later + timedelta(seconds=1)
    assert store.leases.try_take("l", holder="b", now=expired, until=expired + timedelta(minutes=1))
    store.leases.release("l", holder="a")  # not the holder any more: no effect
    assert store.leases.holder("l")[0] == "b"  # type: ignore[index]
    store.leases.release("l", holder="b")
    assert store.leases.holder("l") is None


def test_session_limit_is_enforced_atomically(store: Store) -> None:
    store.workspaces.insert(workspace())

    def open_one(kind: SessionKind = SessionKind.COMMAND) -> Session | None:
        return store.sessions.open(workspace_key="k", kind=kind, holder="h", at=T0, at_most=2)

    opened = [open_one() for _ in range(2)]
    assert open_one() is None  # at the limit: nothing written (the service says why)
    one_shot = store.sessions.open(workspace_key="k", kind=SessionKind.EXEC, holder="h", at=T0)
    assert open_one() is None  # one-shot execs are not counted (nor limited: no at_most)
    assert one_shot.kind is SessionKind.EXEC
    assert store.sessions.counts() == {"k": (3, 3)}
    assert opened[0] is not None
    assert store.sessions.close(opened[0].id, workspace_key="k", at=T0, reason=CloseReason.CLOSED)
    assert not store.sessions.close(
        opened[0].id, workspace_key="k", at=T0, reason=CloseReason.CLOSED
    )
    assert open_one(SessionKind.SHELL) is not None
    ended = store.sessions.end(workspace_key="k", reason=CloseReason.PARKED)
    assert len(ended) == 3
    assert store.sessions.list(workspace_key="k", statuses=[SessionStatus.ACTIVE]) == []
    assert {s.closed_reason for s in store.sessions.list(workspace_key="k")} == {
        CloseReason.CLOSED,
        CloseReason.PARKED,
    }


def test_the_session_limit_holds_under_concurrent_opens(store: Store) -> None:
    """Count-then-insert from many threads at once (PostgreSQL's read committed let all
    of them count the same number before the row lock)."""
    store.workspaces.insert(workspace())
    barrier = threading.Barrier(16)

    def open_one(_: int) -> Session | None:
        barrier.wait()
        return store.sessions.open(
            workspace_key="k", kind=SessionKind.COMMAND, holder="h", at=T0, at_most=3
        )

    with ThreadPoolExecutor(16) as pool:
        opened = [s for s in pool.map(open_one, range(16)) if s is not None]
    assert len(opened) == 3
    assert store.sessions.counts() == {"k": (3, 3)}


def test_every_use_of_a_session_is_activity_on_its_workspace(store: Store) -> None:
    store.workspaces.insert(workspace())
    minute = timedelta(minutes=1)
    opened = store.sessions.open(
        workspace_key="k", kind=SessionKind.SHELL, holder="h", at=T0 + minute
    )
    assert store.workspaces.get("k").last_activity_at == T0 + minute  # type: ignore[union-attr]
    assert store.sessions.use(opened.id, workspace_key="k", at=T0 + 2 * minute, holder="h2")
    assert store.workspaces.get("k").last_activity_at == T0 + 2 * minute  # type: ignore[union-attr]
    assert not store.sessions.use(opened.id, workspace_key="other", at=T0, holder="h")
    store.sessions.close(
        opened.id, workspace_key="k", at=T0 + 3 * minute, reason=CloseReason.CLOSED
    )
    assert store.workspaces.get("k").last_activity_at == T0 + 3 * minute  # type: ignore[union-attr]
    assert not store.sessions.use(opened.id, workspace_key="k", at=T0 + 4 * minute, holder="h")
    assert store.workspaces.get("k").last_activity_at == T0 + 3 * minute  # type: ignore[union-attr]


def test_delete_removes_sessions_too(store: Store) -> None:
    store.workspaces.insert(workspace())
    store.sessions.open(workspace_key="k", kind=SessionKind.EXEC, holder="h", at=T0)
    store.workspaces.delete("k")
    assert store.workspaces.get("k") is None
    assert store.sessions.list() == []


def test_events_are_ordered_and_paged(store: Store) -> None:
    for i in range(5):
        store.events.append(type="t", at=T0, workspace_key="k", owner="o", data={"i": i})
    first = store.events.list(limit=2)
    rest = store.events.list(after_id=first[-1]["id"])
    assert [e["data"]["i"] for e in first + rest] == [0, 1, 2, 3, 4]


def test_unreachable_and_bad_urls(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="invalid database URL"):
        Store.open("not a url")
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreUnavailable, match="cannot open the store"):
        Store.open(f"sqlite:///{tmp_path / 'dir.db'}")


def test_the_store_and_its_directory_are_private(tmp_path: Path) -> None:
    """They hold every key and owner and the token hashes: no one else may read them."""
    data = tmp_path / "fresh" / "data"
    store = Store.open(f"sqlite:///{data / 'dockyard.db'}")
    try:
        store.meta.set("k", "v")  # a write: the WAL file exists now
    finally:
        store.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700
    for name in ("dockyard.db", "dockyard.db-wal", "dockyard.db-shm"):
        if (data / name).exists():
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


def test_a_notice_reaches_a_listener_of_another_store_on_the_database(store: Store) -> None:
    """PostgreSQL's NOTIFY wakes every manager's loop on the database; SQLite has no
    such channel (the wake socket in the data directory does that job)."""
    if store.db.dialect != "postgresql":
        assert not store.notices.supported
        store.notices.send()  # nobody to tell, and no error
        return
    other = Store.open(store.db.engine.url.render_as_string(hide_password=False))
    heard = threading.Event()
    stop = threading.Event()
    listener = threading.Thread(
        target=other.notices.listen, kwargs={"stop": stop, "heard": lambda _sender: heard.set()}
    )
    listener.start()
    try:
        for _ in range(50):  # until the listener is listening: each notice is best effort
            store.notices.send()
            if heard.wait(0.1):
                break
        assert heard.is_set()
    finally:
        stop.set()
        listener.join(timeout=5)
        other.close()
    assert not listener.is_alive()


def test_a_command_in_flight_is_one_at_a_time_and_a_planned_close_re_checks(store: Store) -> None:
    store.workspaces.insert(workspace())
    opened = store.sessions.open(workspace_key="k", kind=SessionKind.COMMAND, holder="h", at=T0)
    use = functools.partial(store.sessions.use, opened.id, workspace_key="k", holder="h")
    assert use(at=T0, running=True)
    assert not use(at=T0, running=True)  # one command at a time
    assert not store.sessions.close_unused(opened.id, since=T0, reason=CloseReason.INACTIVE)
    assert use(at=T0 + timedelta(seconds=5), running=False)
    later = T0 + timedelta(seconds=5)
    assert not store.sessions.close_unused(opened.id, since=T0, reason=CloseReason.INACTIVE)
    assert store.sessions.close_unused(opened.id, since=later, reason=CloseReason.INACTIVE)
    closed = store.sessions.get(opened.id)
    assert closed is not None and closed.closed_reason is CloseReason.INACTIVE
    assert not closed.live


def test_a_pool_member_is_taken_once_with_the_record_in_one_transaction(store: Store) -> None:
    member = PoolMember(
        name="dy-pool-a",
        container_id="c" * 64,
        volume="dy-pool-a-work",
        spec_id="abc",
        image="img",
        engine="default",
        created_at=T0,
    )
    store.pool.add(member)
    first = workspace(
        key="k1", name="dy-k1", state=State.CREATING, container_id=member.container_id
    )
    assert store.workspaces.insert_from_pool(first, member=member.name, reuse=False)
    assert store.pool.list() == []
    assert store.workspaces.keys_of_containers([member.container_id]) == {member.container_id: "k1"}
    # taken already: a second take writes nothing
    second = workspace(
        key="k2", name="dy-k2", state=State.CREATING, container_id=member.container_id
    )
    assert not store.workspaces.insert_from_pool(second, member=member.name, reuse=False)
    assert store.workspaces.get("k2") is None
    # a record that exists already makes the take fail whole: the member stays pooled
    store.pool.add(replace(member, name="dy-pool-b", container_id="d" * 64))
    with pytest.raises(Conflict):
        store.workspaces.insert_from_pool(first, member="dy-pool-b", reuse=False)
    assert [m.name for m in store.pool.list()] == ["dy-pool-b"]
