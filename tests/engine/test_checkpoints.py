"""No lost work, on the real engine: park saves, up restores, failures remove nothing.

Each round trip writes a modified file, a new untracked file, a deleted file and a new
directory, parks (the container must be gone), brings the workspace back and compares
every file of the workspace (path and checksum) with what was there before the park.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.core.errors import NotFound, SaveFailed
from dockyard.core.model import CheckpointKind, Outcome, SaveStrategy, State
from dockyard.engine.base import ExecSpec
from dockyard.engine.docker import DockerEngine
from dockyard.engine.process import run
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.reconcile.passes import run_pass
from dockyard.settings import Settings
from tests.engine_fixtures import gone
from tests.helpers import FakeClock, make_repo, wait_until

#: Every file under /workspace except git's own, with its checksum, sorted.
SNAPSHOT = "cd /workspace && find . -path ./.git -prune -o -type f -exec sha256sum {} + | sort"
EDIT = (
    "cd /workspace && echo changed >> README.md && rm src/run.sh && echo new > untracked.txt"
    " && mkdir -p deep/er && echo x > deep/er/file.txt"
)


def sh(dy: Dockyard, key: str, script: str) -> str:
    ws = dy.get(key)
    result = run(dy.ctx.engine, ref=ws.name, spec=ExecSpec(argv=["sh", "-c", script]))
    assert result.ok, result.stderr.decode()
    return result.stdout.decode()


def up(dy: Dockyard, key: str, **kwargs: object) -> Outcome:
    return dy.acquire(AcquireRequest(key=key, **kwargs)).outcome  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", list(SaveStrategy))
def test_park_and_up_bring_back_every_file(
    dy: Dockyard, docker: DockerEngine, tmp_path: Path, strategy: SaveStrategy
) -> None:
    repo = make_repo(tmp_path / "app")
    assert up(dy, "rt", repo=str(repo), strategy=strategy) is Outcome.CREATED
    sh(dy, "rt", EDIT)
    before = sh(dy, "rt", SNAPSHOT)
    assert "untracked.txt" in before
    assert "run.sh" not in before

    change = dy.park("rt")
    assert change.workspace.state is State.PARKED
    assert gone(docker, change.workspace.name)
    [checkpoint] = dy.checkpoints("rt")
    assert checkpoint.verified
    assert checkpoint.strategy is strategy
    if strategy is not SaveStrategy.IMAGE:  # a volume's save commits too: it saw the .git
        assert checkpoint.commit is not None

    result = dy.acquire(AcquireRequest(key="rt"))
    assert result.outcome is Outcome.RESTORED
    assert result.checkpoint is not None
    assert result.checkpoint.id == checkpoint.id
    assert sh(dy, "rt", SNAPSHOT) == before


def test_path_exists_is_a_stat_inside_the_container(dy: Dockyard, docker: DockerEngine) -> None:
    up(dy, "stat")
    name = dy.get("stat").name
    workdir = dy.ctx.settings.workspace.workdir
    assert docker.path_exists(ref=name, path=workdir)  # the volume's mount point
    assert not docker.path_exists(ref=name, path=f"{workdir}/.git")
    assert not docker.path_exists(ref="dy-no-such-container", path="/")
    assert dy.park("stat").workspace.checkpoint_id is not None
    assert dy.checkpoints("stat")[0].commit is None  # not a repository: nothing committed


def test_git_checkpoint_commit_names_the_workspace_and_is_made_by_dockyard(
    dy: Dockyard, tmp_path: Path
) -> None:
    up(dy, "msg", repo=str(make_repo(tmp_path / "app")), strategy=SaveStrategy.GIT)
    sh(dy, "msg", EDIT)
    dy.park("msg")
    up(dy, "msg")
    log = sh(dy, "msg", "cd /workspace && git log -1 --format='%an <%ae>|%s'").strip()
    author, subject = log.split("|")
    assert author == "dockyard <dockyard@localhost>"
    assert subject.startswith("dockyard checkpoint of workspace msg at 20")
    assert subject.endswith("(4 files changed)")  # README, run.sh, untracked, deep/er/file
    assert sh(dy, "msg", "cd /workspace && git branch --show-current").strip() == "main"
    assert sh(dy, "msg", "cd /workspace && git status --porcelain") == ""


def test_git_restores_when_the_volume_is_gone(
    dy: Dockyard, docker: DockerEngine, tmp_path: Path
) -> None:
    up(dy, "novol", repo=str(make_repo(tmp_path / "app")), strategy=SaveStrategy.GIT)
    sh(dy, "novol", EDIT)
    before = sh(dy, "novol", SNAPSHOT)
    ws = dy.park("novol").workspace
    docker.remove_volume(name=ws.volume)
    assert up(dy, "novol") is Outcome.RESTORED
    assert sh(dy, "novol", SNAPSHOT) == before


def test_a_clean_tree_makes_no_empty_commit_but_still_a_checkpoint(
    dy: Dockyard, tmp_path: Path
) -> None:
    up(dy, "clean", repo=str(make_repo(tmp_path / "app")), strategy=SaveStrategy.GIT)
    head = sh(dy, "clean", "cd /workspace && git rev-parse HEAD").strip()
    dy.park("clean")
    up(dy, "clean")
    dy.park("clean")
    up(dy, "clean")
    assert sh(dy, "clean", "cd /workspace && git rev-parse HEAD").strip() == head
    checkpoints = dy.checkpoints("clean")
    assert [c.commit for c in checkpoints] == [head, head]
    assert [c.files_changed for c in checkpoints] == [0, 0]


def test_up_from_an_older_checkpoint(dy: Dockyard, tmp_path: Path) -> None:
    up(dy, "older", repo=str(make_repo(tmp_path / "app")), strategy=SaveStrategy.GIT)
    sh(dy, "older", "echo one > /workspace/v.txt")
    dy.park("older")
    first = dy.get("older").checkpoint_id
    up(dy, "older")
    sh(dy, "older", "echo two > /workspace/v.txt")
    dy.park("older")
    assert first is not None
    result = dy.acquire(AcquireRequest(key="older", from_checkpoint=first[:6]))
    assert result.outcome is Outcome.RESTORED
    assert sh(dy, "older", "cat /workspace/v.txt") == "one\n"


def test_up_from_needs_a_parked_workspace(dy: Dockyard) -> None:
    up(dy, "live")
    with pytest.raises(Exception, match="park it first"):
        dy.acquire(AcquireRequest(key="live", from_checkpoint="abc"))


def test_a_crashed_containers_work_is_copied_out_before_removal(
    timed: Dockyard, docker: DockerEngine
) -> None:
    up(timed, "crash", strategy=SaveStrategy.GIT)
    sh(timed, "crash", "echo precious > /workspace/p.txt")
    name = timed.get("crash").name
    sh(timed, "crash", "kill -9 $(pidof sleep) || true")  # its only process dies: a crash
    wait_until(lambda: not docker.inspect_container(ref=name).running, what="container exit")
    report = run_pass(timed.ctx)
    assert [(r.action.verb, r.outcome) for r in report.results] == [("park", "done")]
    [checkpoint] = timed.checkpoints("crash")
    assert checkpoint.kind is CheckpointKind.ARCHIVE
    assert up(timed, "crash") is Outcome.RESTORED
    assert sh(timed, "crash", "cat /workspace/p.txt") == "precious\n"


def test_a_failed_save_removes_nothing_and_the_retry_succeeds(
    timed: Dockyard, clock: FakeClock, tmp_path: Path
) -> None:
    up(timed, "broken", repo=str(make_repo(tmp_path / "app")), strategy=SaveStrategy.GIT)
    sh(timed, "broken", "echo work > /workspace/w.txt && touch /workspace/.git/index.lock")
    with pytest.raises(SaveFailed, match=r"index\.lock"):
        timed.park("broken")
    ws = timed.get("broken")
    assert ws.state is State.SAVE_FAILED
    assert timed.ctx.engine.inspect_container(ref=ws.name).running
    assert sh(timed, "broken", "cat /workspace/w.txt") == "work\n"
    assert [c for c in timed.checkpoints("broken") if c.verified] == []
    assert not list((timed.ctx.settings.checkpoint_path).rglob("*.bundle"))
    events = [e["type"] for e in timed.ctx.store.events.list(workspace_key="broken")]
    assert "workspace.save_failed" in events

    report = run_pass(timed.ctx)  # before the backoff: nothing
    assert report.results == []
    assert report.plan.upcoming["broken"].action == "retry park"

    sh(timed, "broken", "rm /workspace/.git/index.lock")  # the cause is fixed
    clock.advance(timedelta(minutes=2))
    report = run_pass(timed.ctx)
    assert [(r.action.verb, r.outcome) for r in report.results] == [("park", "done")]
    assert timed.get("broken").state is State.PARKED
    assert up(timed, "broken") is Outcome.RESTORED
    assert sh(timed, "broken", "cat /workspace/w.txt") == "work\n"


def test_checkpoints_expire_after_their_retention(
    timed: Dockyard, clock: FakeClock, tmp_path: Path
) -> None:
    up(timed, "old", repo=str(make_repo(tmp_path / "app")), strategy=SaveStrategy.GIT)
    timed.park("old")
    [checkpoint] = timed.checkpoints("old")
    bundle = Path(checkpoint.location or "")
    assert bundle.is_file()

    clock.advance(timedelta(days=6))
    assert run_pass(timed.ctx).results == []
    clock.advance(timedelta(days=1, minutes=1))
    report = run_pass(timed.ctx)
    assert [(r.action.verb, r.outcome) for r in report.results] == [("delete checkpoint", "done")]
    assert timed.checkpoints("old") == []
    assert not bundle.exists()
    assert timed.get("old").state is State.EXPIRED
    events = [e["type"] for e in timed.ctx.store.events.list(workspace_key="old")]
    assert "checkpoint.deleted" in events


def test_rm_purge_deletes_checkpoints_now(
    dy: Dockyard, docker: DockerEngine, tmp_path: Path
) -> None:
    up(dy, "purged", repo=str(make_repo(tmp_path / "app")), strategy=SaveStrategy.GIT)
    dy.park("purged")
    up(dy, "img", strategy=SaveStrategy.IMAGE)
    dy.park("img")
    bundle = Path(dy.checkpoints("purged")[0].location or "")
    image = dy.checkpoints("img")[0].ref or ""
    dy.remove("purged", purge=True)
    dy.remove("img", purge=True)
    assert not bundle.exists()
    with pytest.raises(NotFound):
        docker.inspect_image(ref=image)
    assert dy.ctx.store.checkpoints.list() == []


def test_up_after_a_park_cut_off_past_removal_restores_the_newest_save(dy: Dockyard) -> None:
    """The manager died after removing the container but before recording `parked`: the
    record still points at the previous checkpoint, the newest work is in the new one."""
    up(dy, "cut", strategy=SaveStrategy.IMAGE)
    sh(dy, "cut", "echo one > /workspace/v.txt")
    dy.park("cut")
    older = dy.get("cut")
    up(dy, "cut")
    sh(dy, "cut", "echo two > /workspace/v.txt")
    dy.park("cut")
    parked = dy.get("cut")
    newest = dy.checkpoints("cut")[0]
    # what the store holds when the kill came between the removal and the `parked` write
    cut_off = replace(
        parked,
        state=State.PARKING,
        checkpoint_id=older.checkpoint_id,
        state_changed_at=newest.created_at - timedelta(milliseconds=100),  # the park began
    )
    assert dy.ctx.store.workspaces.save(cut_off, expect_state=State.PARKED)
    assert up(dy, "cut") is Outcome.RESTORED
    assert sh(dy, "cut", "cat /workspace/v.txt") == "two\n"


def test_a_manager_restores_what_another_saved_through_a_shared_checkpoint_dir(
    engine_settings: Settings, tmp_path: Path, installed: list[str]
) -> None:
    """Two managers on one store, as on two machines, each mounting the shared
    checkpoint storage at a path of its own: the second restores what the first saved."""

    def manager(name: str) -> Dockyard:
        return Dockyard.open(
            engine_settings.model_copy(
                update={
                    "data_dir": tmp_path / name,
                    "database_url": engine_settings.store_url,
                    "checkpoint_dir": tmp_path / f"{name}-mount",
                }
            )
        )

    first, second = manager("first"), manager("second")
    installed.append(first.installation)
    try:
        up(first, "shared", repo=str(make_repo(tmp_path / "app")), strategy=SaveStrategy.GIT)
        sh(first, "shared", EDIT)
        before = sh(first, "shared", SNAPSHOT)
        first.park("shared")
        # the storage both mount, seen by the second at its own path
        shutil.copytree(tmp_path / "first-mount", tmp_path / "second-mount")
        assert up(second, "shared") is Outcome.RESTORED
        assert sh(second, "shared", SNAPSHOT) == before
    finally:
        first.close()
        second.close()
