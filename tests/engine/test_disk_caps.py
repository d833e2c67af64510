"""Size-capped workspace volumes on the real engine and real loop devices: the cap holds,
survives a park and a restore, comes back after a host restart (every loop device
detached, the manager restarted, another device number), refuses to start on a missing
disk file, and leaves no device and no file behind when the volume goes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.errors import DiskError, DockyardError, InvalidValue
from dockyard.core.events import EventType
from dockyard.core.gc import GcRequest, Kind
from dockyard.core.model import Outcome, SaveStrategy, State
from dockyard.engine import loopdisk
from dockyard.engine.docker import DockerEngine
from dockyard.engine.loopdisk import LoopDisk
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.reconcile.diskwatch import watch_disks
from dockyard.service.reconcile.passes import run_pass
from dockyard.settings import Settings, load_settings
from tests.engine_fixtures import gone

MIB = 1024**2


@pytest.fixture
def disks(engine_settings: Settings) -> Iterator[Path]:
    """The test's disks directory; every file in it is detached and deleted afterwards
    (requested before ``dy``, so this runs after the test's containers are gone)."""
    if loopdisk.unavailable() is not None:
        pytest.fail(f"disk caps need loop devices here: {loopdisk.unavailable()}")
    where = engine_settings.data_dir / "disks"
    yield where
    for image in where.glob("*.img"):
        loopdisk.delete(LoopDisk.at_link(str(image.with_suffix(".dev"))))
    for spare in where.glob("spare-*"):
        loopdisk.delete(LoopDisk(spare, spare.with_suffix(".link")))
    assert not list(where.glob("*.img"))


def sh(dy: Dockyard, key: str, script: str) -> tuple[int, str]:
    out: list[bytes] = []
    code = dy.exec(key, ["sh", "-c", script], on_output=lambda _s, data: out.append(data))
    return code, b"".join(out).decode()


def capped(dy: Dockyard, key: str) -> LoopDisk:
    return LoopDisk.of(dy.ctx.settings.data_dir / "disks", dy.get(key).volume)


def test_a_capped_workspace_refuses_a_write_past_its_size_and_reports_its_use(
    disks: Path, dy: Dockyard
) -> None:
    dy.acquire(AcquireRequest(key="small", disk=64 * MIB))
    disk = capped(dy, "small")
    assert disk.image.is_file() and disk.image.parent == disks
    assert loopdisk.devices_of(disk.image) == [str(disk.link.readlink())]
    code, out = sh(dy, "small", "dd if=/dev/zero of=/workspace/big bs=1M count=100 2>&1")
    assert code != 0 and "No space left on device" in out
    written = (disk.image.stat().st_blocks * 512) // MIB
    assert 40 <= written <= 64  # sparse: only what was written takes the host's disk
    use = dy.live_use("small").to_json()
    assert use["disk_limit_bytes"] == 64 * MIB
    assert isinstance(use["disk_volume_bytes"], int) and use["disk_volume_bytes"] > 40 * MIB
    assert isinstance(use["disk_volume_percent"], float) and use["disk_volume_percent"] > 95
    assert dy.status("small").to_json()["resources"]["disk_bytes"] == 64 * MIB


def test_park_and_restore_keep_the_files_and_the_cap(disks: Path, dy: Dockyard) -> None:  # noqa: ARG001
    dy.acquire(AcquireRequest(key="kept", disk=32 * MIB))
    assert sh(dy, "kept", "echo work > /workspace/note")[0] == 0
    dy.park("kept")
    assert dy.get("kept").state is State.PARKED
    disk = capped(dy, "kept")
    assert loopdisk.devices_of(disk.image) == []  # parked work holds no loop device
    result = dy.acquire(AcquireRequest(key="kept"))
    assert result.outcome is Outcome.RESTORED
    assert result.workspace.resources.disk_bytes == 32 * MIB
    assert len(loopdisk.devices_of(disk.image)) == 1
    assert sh(dy, "kept", "cat /workspace/note") == (0, "work\n")
    code, out = sh(dy, "kept", "dd if=/dev/zero of=/workspace/big bs=1M count=50 2>&1")
    assert code != 0 and "No space left on device" in out


def test_after_a_host_restart_the_disk_is_attached_again_before_the_start(
    disks: Path, engine_settings: Settings, dy: Dockyard, docker: DockerEngine
) -> None:
    dy.acquire(AcquireRequest(key="boot", disk=32 * MIB))
    assert sh(dy, "boot", "echo survived > /workspace/note")[0] == 0
    disk = capped(dy, "boot")
    before = loopdisk.devices_of(disk.image)
    # the host goes down: its containers stop, the kernel forgets every loop attachment
    docker.stop_container(ref=dy.get("boot").name, timeout_s=5)
    loopdisk.detach(disk)
    assert loopdisk.devices_of(disk.image) == []
    # ... and after the reboot another file takes the device number this one had
    spare = LoopDisk(disks / "spare-1", disks / "spare-1.link")
    spare.image.write_bytes(b"\0" * MIB)
    loopdisk.attach(spare)
    dy.close()
    with Dockyard.open(engine_settings) as again:  # the manager restarts
        result = again.acquire(AcquireRequest(key="boot"))
        assert result.outcome is Outcome.STARTED
        assert sh(again, "boot", "cat /workspace/note") == (0, "survived\n")
        after = loopdisk.devices_of(disk.image)
        assert len(after) == 1 and after != before
        assert str(disk.link.readlink()) == after[0]
        code, _ = sh(again, "boot", "dd if=/dev/zero of=/workspace/big bs=1M count=50")
        assert code != 0  # still capped


def test_a_missing_disk_file_is_an_error_that_names_it_never_an_empty_workspace(
    disks: Path, dy: Dockyard, docker: DockerEngine
) -> None:
    dy.acquire(AcquireRequest(key="lost", disk=32 * MIB))
    disk = capped(dy, "lost")
    docker.stop_container(ref=dy.get("lost").name, timeout_s=5)
    loopdisk.detach(disk)
    disk.image.unlink()
    with pytest.raises(DiskError, match=str(disk.image)):
        dy.acquire(AcquireRequest(key="lost"))
    ws = dy.get("lost")
    assert ws.state is not State.RUNNING, ws
    assert gone(docker, ws.name) or not docker.inspect_container(ref=ws.name).running
    assert list(disks.glob("*.img")) == []  # no new, empty file took its place
    with pytest.raises(DiskError, match=str(disk.image)):
        dy.acquire(AcquireRequest(key="lost"))  # and again: never a silently empty one


def test_purge_and_gc_detach_the_device_and_delete_the_file(disks: Path, dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="purged", disk=32 * MIB))
    dy.acquire(AcquireRequest(key="orphan", disk=32 * MIB))
    purged, orphan = capped(dy, "purged"), capped(dy, "orphan")
    dy.remove("purged", purge=True)
    assert loopdisk.devices_of(purged.image) == []
    assert not purged.image.exists() and not purged.link.is_symlink()
    dy.remove("orphan")  # the volume is kept ...
    assert orphan.image.exists() and loopdisk.devices_of(orphan.image) == []
    plan = dy.gc_plan(GcRequest(age=timedelta(0), volumes=True))
    assert [i.ref for i in plan.items if i.kind is Kind.VOLUME] == [dy.get("orphan").volume]
    dy.gc_apply(plan)  # ... until gc collects it
    assert loopdisk.devices_of(orphan.image) == []
    assert list(disks.iterdir()) == [disks / ".lock"]


def test_a_cap_too_small_or_on_a_workspace_without_a_volume_is_refused(
    disks: Path,
    dy: Dockyard,
) -> None:
    with pytest.raises(InvalidValue, match=r"between 16\.0MiB"):
        dy.acquire(AcquireRequest(key="tiny", disk=MIB))
    image = AcquireRequest(key="imaged", disk=32 * MIB, strategy=SaveStrategy.IMAGE)
    with pytest.raises(InvalidValue, match="strategy image keeps no volume"):
        dy.acquire(image)
    assert not disks.exists() or list(disks.glob("*.img")) == []


def warnings(dy: Dockyard, key: str) -> list[dict[str, Any]]:
    found = dy.events(workspace=key, limit=1000)
    return [e["data"] for e in found if e["type"] == EventType.WORKSPACE_DISK_WARNING.value]


def test_a_warning_comes_before_the_disk_is_full_once_per_crossing(
    disks: Path,  # noqa: ARG001
    dy: Dockyard,
) -> None:
    dy.acquire(AcquireRequest(key="filling", disk=32 * MIB))
    assert watch_disks(dy.ctx) == 0  # nearly empty
    sh(dy, "filling", "dd if=/dev/zero of=/workspace/big bs=1M count=100")  # full: refused
    assert watch_disks(dy.ctx) == 1
    [warned] = warnings(dy, "filling")
    assert warned["percent"] >= 90 and warned["threshold_percent"] == 90.0
    assert warned["size_bytes"] <= 32 * MIB and warned["used_bytes"] > 0.9 * warned["size_bytes"]
    assert watch_disks(dy.ctx) == 0  # still past it: no second warning for this crossing
    assert dy.get("filling").disk_warned is True
    assert sh(dy, "filling", "rm /workspace/big")[0] == 0
    assert watch_disks(dy.ctx) == 0 and dy.get("filling").disk_warned is False  # re-armed
    sh(dy, "filling", "dd if=/dev/zero of=/workspace/big bs=1M count=100")
    assert run_pass(dy.ctx).results == []  # the reconciler's pass looks too
    assert len(warnings(dy, "filling")) == 2


@pytest.mark.parametrize("strategy", [SaveStrategy.VOLUME, SaveStrategy.GIT])
def test_a_full_disk_never_loses_the_work_at_park(
    disks: Path,  # noqa: ARG001
    dy: Dockyard,
    strategy: SaveStrategy,
) -> None:
    dy.acquire(AcquireRequest(key="full", disk=32 * MIB, strategy=strategy))
    script = (
        "cd /workspace && git init -q && git config user.email a@b && git config user.name a"
        " && echo keep > kept.txt && git add kept.txt && git commit -qm first"
        " && echo more > new.txt"
        " && dd if=/dev/zero of=/workspace/filler bs=1M count=100 2>/dev/null; exit 0"
    )
    assert sh(dy, "full", script)[0] == 0
    with contextlib.suppress(DockyardError):  # a save that cannot complete
        dy.park("full")
    ws = dy.get("full")
    assert ws.state in (State.PARKED, State.SAVE_FAILED), ws
    if ws.state is State.SAVE_FAILED:  # nothing removed: the work is where it was
        assert sh(dy, "full", "cat /workspace/kept.txt /workspace/new.txt") == (0, "keep\nmore\n")
        return
    dy.acquire(AcquireRequest(key="full"))
    code, out = sh(dy, "full", "cat /workspace/kept.txt /workspace/new.txt")
    assert (code, out) == (0, "keep\nmore\n")


def test_a_stopped_workspace_is_saved_through_its_disk_after_a_host_restart(
    disks: Path,  # noqa: ARG001
    dy: Dockyard,
    docker: DockerEngine,
) -> None:
    """Under ``git`` the work of a stopped container is read out of it (its mounts):
    the capped volume's device is attached again first."""
    dy.acquire(AcquireRequest(key="cold", disk=32 * MIB, strategy=SaveStrategy.GIT))
    assert sh(dy, "cold", "echo cold > /workspace/note")[0] == 0
    disk = capped(dy, "cold")
    docker.stop_container(ref=dy.get("cold").name, timeout_s=5)
    loopdisk.detach(disk)
    dy.park("cold")
    assert dy.get("cold").state is State.PARKED
    assert dy.acquire(AcquireRequest(key="cold")).outcome is Outcome.RESTORED
    assert sh(dy, "cold", "cat /workspace/note") == (0, "cold\n")


def test_a_replica_with_a_data_dir_of_its_own_attaches_and_deletes_the_others_disk(
    disks: Path, engine_settings: Settings, dy: Dockyard, docker: DockerEngine, tmp_path: Path
) -> None:
    dy.acquire(AcquireRequest(key="shared", disk=32 * MIB))
    assert sh(dy, "shared", "echo shared > /workspace/note")[0] == 0
    disk = capped(dy, "shared")
    docker.stop_container(ref=dy.get("shared").name, timeout_s=5)
    loopdisk.detach(disk)
    other = load_settings(
        env={},
        flags={"data_dir": tmp_path / "replica", "database_url": engine_settings.store_url},
    )
    with Dockyard.open(other) as replica:
        assert replica.acquire(AcquireRequest(key="shared")).outcome is Outcome.STARTED
        assert sh(replica, "shared", "cat /workspace/note") == (0, "shared\n")
        replica.remove("shared", purge=True, force=True)
    assert loopdisk.devices_of(disk.image) == [] and not disk.image.exists()
    assert list(disks.glob("*.img")) == []
