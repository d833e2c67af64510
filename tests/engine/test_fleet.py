"""Two real engines under one manager: the host's dockerd and a dockerd of the test's own
in a network namespace of its own (``tests/netns_engine.py``), reached over TCP; and a
mixed fleet of dockerd and Podman.

Workspaces land on both; each call goes to the workspace's engine; cutting one engine
off (its packets dropped inside its namespace) changes nothing on it and the other's
workspaces go on; an address that reaches another daemon is refused; draining an engine
moves a git workspace, its files intact, to the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.core.errors import EngineRefused, EngineUnavailable
from dockyard.core.model import Outcome, SaveStrategy, State
from dockyard.engine.docker import DockerEngine
from dockyard.service import AcquireRequest, Dockyard
from dockyard.settings import DEFAULT_IMAGE, Settings, load_settings
from tests.engine_fixtures import remove_installation, remove_installation_at
from tests.netns_engine import NetnsEngine, engine_in_netns

LOCAL = "unix:///var/run/docker.sock"


@pytest.fixture(scope="module")
def far() -> Iterator[NetnsEngine]:
    with engine_in_netns(DEFAULT_IMAGE) as engine:
        yield engine


def fleet_settings(tmp_path: Path, far_url: str) -> Settings:
    return load_settings(
        env={},
        flags={
            "data_dir": tmp_path / "data",
            "engines": [{"name": "local", "url": LOCAL}, {"name": "far", "url": far_url}],
            "workspace.network": "none",  # the far engine has no bridge
            "workspace.memory": "128m",
            "workspace.stop_timeout": "1s",
            "reconciler.busy_sample": "0s",
        },
    )


@pytest.fixture
def fleet(tmp_path: Path, far: NetnsEngine, docker: DockerEngine) -> Iterator[Dockyard]:
    dy = Dockyard.open(fleet_settings(tmp_path, far.tcp_url))
    yield dy
    installation = dy.installation
    dy.close()
    remove_installation(docker, installation)
    remove_installation_at(far.unix_url, installation)


def sh(dy: Dockyard, key: str, script: str) -> str:
    out = bytearray()
    code = dy.exec(key, ["sh", "-c", script], on_output=lambda _stream, data: out.extend(data))
    assert code == 0, out.decode()
    return out.decode()


def names_on(url: str, installation: str) -> set[str]:
    engine = DockerEngine(url)
    try:
        listed = engine.list_containers(labels={"dockyard.installation": installation})
    finally:
        engine.close()
    return {c.name for c in listed}


def test_workspaces_land_on_both_engines_and_each_call_goes_to_its_own(
    fleet: Dockyard, far: NetnsEngine
) -> None:
    for key in ("a", "b", "c", "d"):
        assert fleet.acquire(AcquireRequest(key=key)).outcome is Outcome.CREATED
    where = {key: fleet.get(key).engine for key in "abcd"}
    assert sorted(where.values()) == ["far", "far", "local", "local"]
    on_far = {fleet.get(k).name for k, e in where.items() if e == "far"}
    assert names_on(far.unix_url, fleet.installation) == on_far
    for key in "abcd":  # each exec reaches its own container, wherever it is
        assert sh(fleet, key, "hostname").strip() == fleet.get(key).name
    [view_far] = [v for v in fleet.engines() if v.name == "far"]
    assert (view_far.health.value, view_far.load) == ("ready", 2)


def test_a_cut_off_engine_is_left_alone_and_the_other_goes_on(
    fleet: Dockyard, far: NetnsEngine
) -> None:
    fleet.acquire(AcquireRequest(key="here", engine="local"))
    fleet.acquire(AcquireRequest(key="there", engine="far"))
    sh(fleet, "there", "echo kept > /workspace/w.txt")
    far.blackhole(on=True)
    try:
        fleet.ctx.engines.distrust("far")
        report = fleet.clean()  # far's listing times out; local's pass goes on
        assert [r for r in report.results if r.action.key == "there"] == []
        views = {v.workspace.key: v for v in fleet.list()[0]}
        assert views["there"].container_status == "unknown"
        assert views["here"].container_status == "running"
        assert fleet.park("here").changed  # the other engine's workspaces go on
        assert fleet.acquire(AcquireRequest(key="here")).outcome is Outcome.RESTORED
        assert fleet.acquire(AcquireRequest(key="new")).workspace.engine == "local"
        with pytest.raises(EngineUnavailable, match="workspace 'there' is on engine 'far'"):
            fleet.acquire(AcquireRequest(key="there"))
        assert fleet.get("there").state is State.RUNNING
    finally:
        far.blackhole(on=False)
    fleet.ctx.engines.distrust("far")
    fleet.clean()
    assert fleet.get("there").state is State.RUNNING  # healed: nothing was lost meanwhile
    assert sh(fleet, "there", "cat /workspace/w.txt") == "kept\n"


def test_an_address_that_reaches_another_daemon_is_refused(
    fleet: Dockyard, far: NetnsEngine, tmp_path: Path
) -> None:
    fleet.acquire(AcquireRequest(key="mine", engine="local"))
    fleet.clean()  # both engines' daemons on record
    # another manager on the same store whose "local" is, by mistake, the far daemon
    wrong = Dockyard.open(
        load_settings(
            env={},
            flags={
                "data_dir": tmp_path / "other",
                "database_url": fleet.store_url,
                "engines": [{"name": "local", "url": far.tcp_url}],
                "workspace.network": "none",
            },
        )
    )
    try:
        with pytest.raises(EngineRefused, match="another daemon"):
            wrong.clean()
        with pytest.raises(EngineRefused, match="dockyard engine confirm local"):
            wrong.acquire(AcquireRequest(key="mine"))
    finally:
        wrong.close()
    assert fleet.get("mine").state is State.RUNNING  # not vanished, not recreated
    assert names_on(far.unix_url, fleet.installation) == set()


def test_draining_an_engine_moves_git_work_to_the_other(fleet: Dockyard, far: NetnsEngine) -> None:
    fleet.acquire(AcquireRequest(key="moving", engine="far", strategy=SaveStrategy.GIT))
    sh(fleet, "moving", "mkdir -p /workspace/src && echo hello > /workspace/src/f.txt")
    fleet.acquire(AcquireRequest(key="staying", engine="far"))
    report = fleet.drain_engine("far")
    assert sorted(report.parked) == ["moving", "staying"]
    assert report.stays == ["staying"]  # a volume cannot leave its engine
    assert names_on(far.unix_url, fleet.installation) == set()
    result = fleet.acquire(AcquireRequest(key="moving"))
    assert (result.outcome, result.workspace.engine) == (Outcome.RESTORED, "local")
    assert sh(fleet, "moving", "cat /workspace/src/f.txt") == "hello\n"
    assert fleet.acquire(AcquireRequest(key="staying")).workspace.engine == "far"
    assert fleet.acquire(AcquireRequest(key="fresh")).workspace.engine == "local"
    fleet.undrain_engine("far")


def test_a_mixed_fleet_of_dockerd_and_podman(
    tmp_path: Path, podman_netns: NetnsEngine, docker: DockerEngine
) -> None:
    """The same manager over dockerd and Podman's compatible API: a workspace on each
    lives, parks and comes back with its files; a drain of Podman moves git work."""
    settings = load_settings(
        env={},
        flags={
            "data_dir": tmp_path / "data",
            "engines": [
                {"name": "docker", "url": LOCAL},
                {"name": "podman", "url": podman_netns.tcp_url},
            ],
            "workspace.network": "none",
            "workspace.memory": "128m",
            "workspace.stop_timeout": "1s",
        },
    )
    dy = Dockyard.open(settings)
    try:
        for key, engine in (("on-docker", "docker"), ("on-podman", "podman")):
            dy.acquire(AcquireRequest(key=key, engine=engine, strategy=SaveStrategy.GIT))
            sh(dy, key, f"echo {engine} > /workspace/where.txt")
            assert dy.park(key).changed
            result = dy.acquire(AcquireRequest(key=key))
            assert (result.outcome, result.workspace.engine) == (Outcome.RESTORED, engine)
            assert sh(dy, key, "cat /workspace/where.txt") == f"{engine}\n"
        assert {v.name: v.health.value for v in dy.engines()} == {
            "docker": "ready",
            "podman": "ready",
        }
        dy.drain_engine("podman")
        moved = dy.acquire(AcquireRequest(key="on-podman"))
        assert (moved.outcome, moved.workspace.engine) == (Outcome.RESTORED, "docker")
        assert sh(dy, "on-podman", "cat /workspace/where.txt") == "podman\n"
    finally:
        installation = dy.installation
        dy.close()
        remove_installation(docker, installation)
        remove_installation_at(podman_netns.tcp_url, installation)
