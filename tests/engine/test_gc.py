"""Garbage collection on the real engine: every protection rule, LRU and budget, re-checks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.core.gc import GcRequest, Kind
from dockyard.core.model import SaveStrategy
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_KEEP, LABEL_MANAGED
from dockyard.engine.docker import DockerEngine
from dockyard.engine.models import ContainerSpec, VolumeMount
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.reconcile import gc
from tests.helpers import FakeClock

IMAGE = "dockyard/workspace:latest"
NOW = GcRequest(age=timedelta(0), images=True, volumes=True)


@pytest.fixture
def raw(docker: DockerEngine) -> Iterator[list[str]]:
    """Containers made here by hand (not labelled as any installation's); removed after."""
    made: list[str] = []
    yield made
    for ref in made:
        docker.remove_container(ref=ref)


def stopped_container(
    docker: DockerEngine, raw: list[str], labels: dict[str, str], **spec: object
) -> str:
    """A container never started (``created``), to be started by the test if it likes."""
    name = f"gc-test-{secrets.token_hex(4)}"
    fields = {"command": ["sleep", "300"], "image": IMAGE, **spec}
    container = docker.create_container(
        spec=ContainerSpec(name=name, labels=labels, init=True, **fields)  # type: ignore[arg-type]
    )
    raw.append(container)
    return name


def ours(dy: Dockyard, **extra: str) -> dict[str, str]:
    return {LABEL_MANAGED: "true", LABEL_INSTALLATION: dy.ctx.installation, **extra}


def planned(dy: Dockyard, request: GcRequest = NOW) -> dict[str, Kind]:
    return {item.name: item.kind for item in dy.gc_plan(request).items}


def snapshot_image(dy: Dockyard, docker: DockerEngine, tag: str) -> str:
    """An image this installation made itself (as it records a checkpoint commit)."""
    dy.acquire(AcquireRequest(key=f"src-{tag}"))
    image = docker.commit(
        ref=dy.get(f"src-{tag}").name, repo="dockyard-gc-test", tag=tag, labels=ours(dy)
    )
    dy.ctx.store.images.made(image, at=dy.ctx.now())
    return image


def test_containers_running_kept_or_foreign_are_never_planned(
    dy: Dockyard, docker: DockerEngine, raw: list[str]
) -> None:
    dy.acquire(AcquireRequest(key="running"))
    old = stopped_container(docker, raw, ours(dy))
    kept = stopped_container(docker, raw, ours(dy, **{LABEL_KEEP: "true"}))
    foreign = stopped_container(
        docker, raw, {LABEL_MANAGED: "true", LABEL_INSTALLATION: "someone-else"}
    )
    unlabelled = stopped_container(docker, raw, {})
    names = planned(dy)
    assert names.get(old) is Kind.CONTAINER
    assert dy.get("running").name not in names
    assert kept not in names
    assert foreign not in names
    assert unlabelled not in names


def test_age_is_measured_from_when_it_stopped(
    timed: Dockyard, clock: FakeClock, docker: DockerEngine, raw: list[str]
) -> None:
    name = stopped_container(docker, raw, ours(timed))
    week = GcRequest(age=timedelta(days=7))
    assert name not in planned(timed, week)
    clock.advance(timedelta(days=7, minutes=1))
    assert name in planned(timed, week)


def test_a_container_started_between_plan_and_apply_is_skipped(
    dy: Dockyard, docker: DockerEngine, raw: list[str]
) -> None:
    name = stopped_container(docker, raw, ours(dy))
    plan = dy.gc_plan(NOW)
    docker.start_container(ref=name)
    [result] = [r for r in dy.gc_apply(plan) if r.item.name == name]
    assert (result.outcome, result.detail) == ("skipped", "it started since the plan")
    assert docker.inspect_container(ref=name).running


def test_images_in_use_or_needed_are_protected_and_the_rest_go_lru_first(
    dy: Dockyard, docker: DockerEngine, raw: list[str]
) -> None:
    used = snapshot_image(dy, docker, "used")
    stopped_container(docker, raw, {}, image=used)  # a stopped, unlabelled user: still in use
    old = snapshot_image(dy, docker, "old")
    new = snapshot_image(dy, docker, "new")
    dy.ctx.store.images.record(old, at=dy.ctx.now() - timedelta(days=3))
    dy.ctx.store.images.record(new, at=dy.ctx.now() - timedelta(days=1))
    plan = dy.gc_plan(NOW)
    images = [item.ref for item in plan.items if item.kind is Kind.IMAGE]
    assert images == [old, new]  # least recently used first
    assert docker.inspect_image(ref=IMAGE)  # the default image is never planned
    assert used not in images

    two_days = GcRequest(age=timedelta(days=2), images=True)
    assert [i.ref for i in dy.gc_plan(two_days).items if i.kind is Kind.IMAGE] == [old]

    size = docker.inspect_image(ref=old).size
    everything = gc.observe(dy.ctx, NOW).images  # all dockyard's images
    sizes = sum(i.size for i in everything)
    budget = GcRequest(age=timedelta(days=365), images=True, keep_storage=sizes - size)
    assert [i.ref for i in dy.gc_plan(budget).items if i.kind is Kind.IMAGE] == [old]

    results = dy.gc_apply(plan)
    assert {r.item.ref: r.outcome for r in results if r.item.kind is Kind.IMAGE} == {
        old: "removed",
        new: "removed",
    }
    assert {i.id for i in docker.list_images(labels=ours(dy))} == {used}


def test_an_image_another_is_committed_from_goes_after_it(
    dy: Dockyard, docker: DockerEngine, raw: list[str]
) -> None:
    parent = snapshot_image(dy, docker, "parent")
    user = stopped_container(docker, raw, {}, image=parent)
    child = docker.commit(ref=user, repo="dockyard-gc-test", tag="child", labels=ours(dy))
    dy.ctx.store.images.made(child, at=dy.ctx.now())
    docker.remove_container(ref=user)
    assert docker.inspect_image(ref=child).parent_id == parent

    plan = dy.gc_plan(NOW)
    assert [i.ref for i in plan.items if i.kind is Kind.IMAGE] == [child]
    assert ("dockyard-gc-test:parent", "1 other image is built on it") in plan.kept
    assert [(r.item.ref, r.outcome) for r in dy.gc_apply(plan) if r.item.kind is Kind.IMAGE] == [
        (child, "removed")
    ]

    plan = dy.gc_plan(NOW)  # its child gone, the parent goes
    assert [(r.item.ref, r.outcome) for r in dy.gc_apply(plan) if r.item.kind is Kind.IMAGE] == [
        (parent, "removed")
    ]


def test_volumes_mounted_or_needed_by_a_workspace_are_protected(
    dy: Dockyard, docker: DockerEngine, raw: list[str]
) -> None:
    dy.acquire(AcquireRequest(key="live"))
    dy.acquire(AcquireRequest(key="parked", strategy=SaveStrategy.GIT))
    dy.park("parked")  # a live checkpoint
    dy.acquire(AcquireRequest(key="gone"))
    gone = dy.remove("gone").workspace.volume  # record removed, volume kept for gc
    dy.acquire(AcquireRequest(key="mounted"))
    mounted = dy.remove("mounted").workspace.volume
    stopped_container(docker, raw, {}, mounts=[VolumeMount(volume=mounted, target="/m")])

    volumes = {n for n, kind in planned(dy).items() if kind is Kind.VOLUME}
    assert volumes == {gone}
    [result] = [r for r in dy.gc_apply(dy.gc_plan(NOW)) if r.item.kind is Kind.VOLUME]
    assert result.outcome == "removed"
    assert {v.name for v in docker.list_volumes(labels=ours(dy))} == {
        dy.get("live").volume,
        dy.get("parked").volume,
        mounted,
    }


def test_a_volume_whose_workspace_comes_back_before_apply_is_skipped(
    dy: Dockyard, docker: DockerEngine
) -> None:
    dy.acquire(AcquireRequest(key="back"))
    volume = dy.remove("back").workspace.volume
    plan = dy.gc_plan(NOW)
    assert volume in {i.name for i in plan.items}
    dy.acquire(AcquireRequest(key="back"))  # restored onto its kept volume
    [result] = [r for r in dy.gc_apply(plan) if r.item.name == volume]
    assert result.outcome == "skipped"
    assert docker.inspect_volume(name=volume)


def test_the_dry_run_changes_nothing(
    dy: Dockyard, docker: DockerEngine, raw: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    stopped_container(docker, raw, ours(dy))
    dy.acquire(AcquireRequest(key="v"))
    dy.remove("v")
    snapshot_image(dy, docker, "dry")

    def engine_state() -> tuple[object, ...]:
        return (
            sorted((c.id, c.status) for c in docker.list_containers(labels={})),
            sorted(i.id for i in docker.list_images(labels={})),
            sorted(v.name for v in docker.list_volumes(labels={})),
        )

    before = engine_state()
    store = ["--data-dir", str(dy.ctx.settings.data_dir)]
    if dy.ctx.settings.database_url:
        store += ["--database-url", dy.ctx.settings.database_url]
    args = [*store, "gc", "--dry-run", "--images", "--volumes", "--age", "0s"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "total: " in out
    assert engine_state() == before
    assert main([*store, "gc", "--volumes", "--age", "0s"]) == 4  # no tty, no -f
    assert engine_state() == before


def test_another_installations_snapshots_are_never_planned(
    dy: Dockyard,
    *,
    docker: DockerEngine,
    engine_settings: object,
    installed: list[str],
    tmp_path: Path,
    another_database: dict[str, str],
) -> None:
    elsewhere = {"data_dir": tmp_path / "other", "database_url": None, **another_database}
    other = Dockyard.open(engine_settings.model_copy(update=elsewhere))  # type: ignore[attr-defined]
    installed.append(other.ctx.installation)
    try:
        theirs = snapshot_image(other, docker, "theirs")
        other.remove("src-theirs", purge=True)
    finally:
        other.close()
    assert theirs not in [i.ref for i in dy.gc_plan(NOW).items]


def test_images_that_inherit_our_labels_are_never_taken_for_ours(
    dy: Dockyard, docker: DockerEngine
) -> None:
    """An image built FROM the workspace image, or committed from one of our containers
    by someone else, carries every label of ours; only what dockyard recorded is its."""
    dy.acquire(AcquireRequest(key="theirs-from"))
    name = dy.get("theirs-from").name
    theirs = docker.commit(ref=name, repo="dockyard-gc-test", tag="by-a-user", labels={})
    assert docker.inspect_image(ref=theirs).labels.get(LABEL_INSTALLATION) == dy.ctx.installation
    ours_image = snapshot_image(dy, docker, "recorded")
    images = [i.ref for i in dy.gc_plan(NOW).items if i.kind is Kind.IMAGE]
    assert theirs not in images
    assert ours_image in images
    assert docker.inspect_image(ref=IMAGE).id not in images  # its label: dockyard.image


def test_a_kept_workspaces_container_is_not_in_the_preview(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="kept-later"))
    dy.stop("kept-later")
    dy.keep("kept-later")  # after the container was made: its label still says not kept
    assert dy.get("kept-later").name not in planned(dy)
