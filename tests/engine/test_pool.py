"""The warm pool against the real engine: made by the reconciler, taken by new keys, and
never mistaken for anything else (an orphan, another installation's, a live workspace
of the quota), with a manager killed at each step of a hand-out leaving nothing lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.core.errors import InvalidInput, QuotaExceeded
from dockyard.core.gc import GcRequest
from dockyard.core.model import Outcome, State
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_ROLE
from dockyard.core.pool import LABEL_POOL, ROLE_POOL, PoolMember
from dockyard.engine.base import ExecSpec
from dockyard.engine.docker import DockerEngine
from dockyard.engine.process import run
from dockyard.events import EventBus, store_sink
from dockyard.service import AcquireRequest, Context, Dockyard
from dockyard.service.reconcile.passes import run_pass
from dockyard.service.workspaces import pool
from dockyard.settings import Settings, load_settings
from dockyard.store import Store
from tests.engine_fixtures import ENGINE_FLAGS
from tests.helpers import FakeClock, make_repo, store_env


def pool_settings(tmp_path: Path, database: dict[str, str], **flags: object) -> Settings:
    return load_settings(
        env={},
        flags={"data_dir": tmp_path / "data", **ENGINE_FLAGS, "pool.size": 1, **database, **flags},
    )


def open_timed(settings: Settings, clock: FakeClock, installed: list[str]) -> Dockyard:
    store = Store.open(settings.store_url)
    ctx = Context(
        settings=settings,
        store=store,
        engine=DockerEngine(),
        clock=clock,
        bus=EventBus([store_sink(store)]),
    )
    installed.append(ctx.installation)
    return Dockyard(ctx)


@pytest.fixture
def pooled(
    tmp_path: Path, database: dict[str, str], clock: FakeClock, installed: list[str]
) -> Iterator[Dockyard]:
    """The service with a pool of one, on the real engine, with the injected clock."""
    service = open_timed(pool_settings(tmp_path, database), clock, installed)
    yield service
    service.close()


def members(dy: Dockyard) -> list[PoolMember]:
    return dy.ctx.store.pool.list()


def engine_objects(docker: DockerEngine, dy: Dockyard) -> tuple[set[str], set[str]]:
    """The names of the installation's containers and volumes on the engine."""
    labels = {LABEL_INSTALLATION: dy.ctx.installation}
    return (
        {c.name for c in docker.list_containers(labels=labels)},
        {v.name for v in docker.list_volumes(labels=labels)},
    )


def filled(dy: Dockyard) -> PoolMember:
    pool.refill(dy.ctx)
    (member,) = members(dy)
    return member


def test_refill_makes_a_ready_member_with_no_network(
    pooled: Dockyard, docker: DockerEngine
) -> None:
    member = filled(pooled)
    info = docker.inspect_container(ref=member.container_id)
    assert info.running
    assert info.labels[LABEL_ROLE] == ROLE_POOL
    assert LABEL_POOL in info.labels
    assert "dockyard.workspace" not in info.labels  # no key is known yet
    assert tuple(info.networks) == ()  # waits with no network at all
    assert member.volume is not None
    assert docker.inspect_volume(name=member.volume).labels[LABEL_POOL] == member.spec_id

    pool.refill(pooled.ctx)  # full: nothing more made
    assert [m.name for m in members(pooled)] == [member.name]


def test_a_new_key_takes_the_member_and_the_pool_refills(
    pooled: Dockyard, docker: DockerEngine, tmp_path: Path
) -> None:
    member = filled(pooled)
    repo = make_repo(tmp_path / "app")
    result = pooled.acquire(AcquireRequest(key="alice-app", owner="alice", repo=str(repo)))

    assert result.outcome is Outcome.CREATED
    ws = result.workspace
    assert ws.container_id == member.container_id
    assert ws.volume == member.volume
    assert members(pooled) == []  # out of the pool, in the same step
    info = docker.inspect_container(ref=ws.container_id)
    assert info.name == ws.name  # the workspace's own deterministic name
    assert ws.name.startswith("dy-app-")
    assert list(info.networks) == [pooled.ctx.engine.inspect_network(name=info.networks[0]).name]
    assert info.networks[0].startswith("dy-net-alice-")  # its owner's network, nobody else's
    # the repository is copied at the take, as for any new workspace
    out = run(docker, ref=ws.name, spec=ExecSpec(argv=["cat", "/workspace/README.md"]))
    assert out.stdout == b"# app\n"
    said: list[bytes] = []
    code = pooled.exec(
        "alice-app",
        ["sh", "-c", "echo $DOCKYARD_WORKSPACE"],
        on_output=lambda _fd, b: said.append(b),
    )
    assert (code, b"".join(said)) == (0, b"alice-app\n")  # told to each exec, as made ones are
    created = [e for e in pooled.events() if e["type"] == "workspace.created"]
    assert created[-1]["data"]["pool"] == member.name

    # a warm reuse, a status and a park treat it as any workspace
    assert pooled.acquire(AcquireRequest(key="alice-app")).outcome is Outcome.REUSED
    assert pooled.status("alice-app").container_status == "running"
    pooled.park("alice-app", force=True)
    assert pooled.get("alice-app").state is State.PARKED
    restored = pooled.acquire(AcquireRequest(key="alice-app"))
    assert restored.outcome is Outcome.RESTORED
    out = run(
        docker, ref=restored.workspace.name, spec=ExecSpec(argv=["cat", "/workspace/README.md"])
    )
    assert out.stdout == b"# app\n"

    run_pass(pooled.ctx)  # the reconciler makes a new member
    assert len(members(pooled)) == 1
    assert members(pooled)[0].name != member.name


def test_a_request_of_another_spec_does_not_take_the_member(pooled: Dockyard) -> None:
    member = filled(pooled)
    result = pooled.acquire(AcquireRequest(key="big", memory=512 * 1024**2))
    assert result.outcome is Outcome.CREATED
    assert result.workspace.container_id != member.container_id
    assert [m.name for m in members(pooled)] == [member.name]


def test_members_are_not_orphans_and_a_rowless_one_is(
    pooled: Dockyard, docker: DockerEngine, clock: FakeClock
) -> None:
    member = filled(pooled)
    clock.advance(timedelta(hours=2))  # far past orphan_grace (10 min), not MAX_AGE
    report = run_pass(pooled.ctx)
    assert report.results == []  # nothing planned for the member
    assert docker.inspect_container(ref=member.container_id).running
    assert [m.name for m in members(pooled)] == [member.name]

    # a pool container without its row (its maker died before writing it) is an orphan
    pooled.ctx.store.pool.remove(member.name)
    report = run_pass(pooled.ctx)
    removed = [r for r in report.results if r.action.verb == "remove container"]
    assert [(r.action.target, r.outcome) for r in removed] == [(member.name, "done")]
    containers, volumes = engine_objects(docker, pooled)
    assert member.name not in containers
    assert member.volume not in volumes  # nobody's work: it goes with it


def test_gc_shows_the_pool_and_leaves_it(pooled: Dockyard, docker: DockerEngine) -> None:
    member = filled(pooled)
    request = GcRequest(age=timedelta(0), images=True, volumes=True)
    plan = pooled.gc_plan(request)
    assert all(item.name not in (member.name, member.volume) for item in plan.items)
    assert (member.name, "a ready container of the warm pool") in plan.kept
    pooled.gc_apply(plan)
    assert docker.inspect_container(ref=member.container_id).running
    assert member.volume is not None
    docker.inspect_volume(name=member.volume)


def test_another_installation_leaves_the_pool_alone(
    pooled: Dockyard,
    docker: DockerEngine,
    tmp_path: Path,
    clock: FakeClock,
    installed: list[str],
) -> None:
    member = filled(pooled)
    # its own store (SQLite: a database of its own whatever this test's store is)
    other_settings = pool_settings(tmp_path / "other", {}, **{"pool.size": 0})
    other = open_timed(other_settings, clock, installed)
    try:
        assert other.ctx.installation != pooled.ctx.installation
        clock.advance(timedelta(hours=2))
        run_pass(other.ctx)
        other.gc_apply(other.gc_plan(GcRequest(age=timedelta(0), volumes=True)))
        # its first workspace is made, not taken from another installation's pool
        made = other.acquire(AcquireRequest(key="theirs"))
        assert made.workspace.container_id != member.container_id
    finally:
        other.close()
    assert docker.inspect_container(ref=member.container_id).running
    assert [m.name for m in members(pooled)] == [member.name]


def test_the_quota_counts_only_assigned_workspaces(
    tmp_path: Path, database: dict[str, str], clock: FakeClock, installed: list[str]
) -> None:
    settings = pool_settings(
        tmp_path,
        database,
        **{"pool.size": 2, "policy.max_workspaces_per_owner": 1},
    )
    dy = open_timed(settings, clock, installed)
    try:
        pool.refill(dy.ctx)
        assert len(members(dy)) == 2  # ready members count for nobody
        assert dy.acquire(AcquireRequest(key="a1", owner="ann")).outcome is Outcome.CREATED
        with pytest.raises(QuotaExceeded):
            dy.acquire(AcquireRequest(key="a2", owner="ann"))
        assert len(members(dy)) == 1  # the refused request took nothing
        assert dy.acquire(AcquireRequest(key="b1", owner="bob")).outcome is Outcome.CREATED
    finally:
        dy.close()


#: A hand-out in a manager that dies (SIGKILL) the moment ``step`` is announced.
CHILD = """
import os, signal, sys
from dockyard.service import AcquireRequest, Dockyard

key, step, repo = sys.argv[1], sys.argv[2], sys.argv[3]

def progress(message: str) -> None:
    if message.startswith(step):
        os.kill(os.getpid(), signal.SIGKILL)

with Dockyard.open() as dy:
    dy.acquire(AcquireRequest(key=key, repo=repo), progress=progress)
sys.exit(3)  # the step never came
"""

STEPS = [pool.STEP_TAKEN, pool.STEP_ADOPTED, "copying"]


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_of_a_hand_out_loses_nothing(
    pooled: Dockyard, docker: DockerEngine, clock: FakeClock, tmp_path: Path, step: str
) -> None:
    member = filled(pooled)
    repo = make_repo(tmp_path / "app")
    env = {
        **os.environ,
        **store_env(pooled.ctx.settings),
        "DOCKYARD_POOL__SIZE": "1",
        "DOCKYARD_WORKSPACE__MEMORY": "256m",  # the member's spec
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, "crashy", step, str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stderr)
    # assigned, not pooled: the record holds the member, the pool no longer does
    ws = pooled.get("crashy")
    assert ws.state is State.CREATING
    assert ws.container_id == member.container_id
    assert members(pooled) == []

    clock.advance(timedelta(minutes=5))  # past interrupted_after
    report = run_pass(pooled.ctx)
    recovered = [(r.action.verb, r.outcome) for r in report.results]
    assert recovered == [("recover", "done")], [r.message for r in report.results]
    containers, volumes = engine_objects(docker, pooled)
    assert member.name not in containers and ws.name not in containers
    assert member.volume not in volumes
    (fresh,) = members(pooled)  # the pass refilled the pool
    assert containers == {fresh.name}

    result = pooled.acquire(AcquireRequest(key="crashy", repo=str(repo)))
    assert result.outcome is Outcome.CREATED
    out = run(
        docker, ref=result.workspace.name, spec=ExecSpec(argv=["cat", "/workspace/README.md"])
    )
    assert out.stdout == b"# app\n"


def test_a_failed_hand_out_undoes_it(
    pooled: Dockyard, docker: DockerEngine, tmp_path: Path
) -> None:
    member = filled(pooled)
    with pytest.raises(InvalidInput, match="no such directory"):
        pooled.acquire(AcquireRequest(key="bad", repo=str(tmp_path / "nothing")))
    # the request was refused before anything was taken
    assert [m.name for m in members(pooled)] == [member.name]

    def broken(*, ref: str, name: str) -> None:
        raise RuntimeError(f"rename of {ref} to {name} failed")

    pooled.ctx.engine.rename_container = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="rename"):
        pooled.acquire(AcquireRequest(key="undone"))
    assert pooled.ctx.store.workspaces.get("undone") is None
    containers, volumes = engine_objects(docker, pooled)
    assert member.name not in containers
    assert member.volume not in volumes
    assert members(pooled) == []


def test_a_dead_member_is_dropped_not_handed_out(pooled: Dockyard, docker: DockerEngine) -> None:
    member = filled(pooled)
    docker.stop_container(ref=member.container_id, timeout_s=0)  # a daemon restart, an OOM
    result = pooled.acquire(AcquireRequest(key="after-crash"))
    assert result.outcome is Outcome.CREATED
    assert result.workspace.container_id != member.container_id
    assert docker.inspect_container(ref=result.workspace.name).running
    assert members(pooled) == []
    containers, volumes = engine_objects(docker, pooled)
    assert member.name not in containers and member.volume not in volumes


def test_kept_or_labelled_requests_and_other_settings_take_no_member(
    pooled: Dockyard,
    tmp_path: Path,
    database: dict[str, str],
    clock: FakeClock,
    installed: list[str],
) -> None:
    member = filled(pooled)
    kept = pooled.acquire(AcquireRequest(key="kept", keep=True))
    labelled = pooled.acquire(AcquireRequest(key="labelled", labels={"team": "a"}))
    assert member.container_id not in {kept.workspace.container_id, labelled.workspace.container_id}
    # the same store under another network setting: the member is not its spec
    other = open_timed(
        pool_settings(tmp_path, database, **{"workspace.network": "bridge"}), clock, installed
    )
    try:
        made = other.acquire(AcquireRequest(key="bridged"))
        assert made.workspace.container_id != member.container_id
        assert [m.name for m in members(other)] == [member.name]
        pool.refill(other.ctx)  # ...and its refill replaces it with one of its own spec
        assert [m.name for m in members(other)] != [member.name]
    finally:
        other.close()
