"""The Engine protocol's contract: the same assertions against the fake, dockerd and
Podman's Docker-compatible API.

Orchestration tests run on ``FakeEngine``; they mean something only while the fake
behaves as the real engines do. Every test here runs once per engine, so the fake
cannot drift and Podman's differences show: names that clash, starts and stops that
repeat, removals that find nothing, execs refused by a container that is not running,
a container removed under a running exec, the event log of a stop, archives in and
out, an engine that cannot be reached.
"""

from __future__ import annotations

import io
import secrets
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dockyard.core.errors import Conflict, EngineUnavailable, NotFound
from dockyard.core.naming import LABEL_INSTALLATION
from dockyard.engine.base import Engine, ExecSpec
from dockyard.engine.docker import DockerEngine, Timeouts
from dockyard.engine.fake import FakeEngine
from dockyard.engine.models import ContainerSpec, VolumeMount
from dockyard.engine.process import run
from dockyard.service.observe import STOP_ACTIONS, is_exec_event
from tests.engine_fixtures import remove_installation

IMAGE = "dockyard/workspace:latest"


@pytest.fixture(params=["fake", "docker", "podman"])
def engine(request: pytest.FixtureRequest, docker: DockerEngine) -> Iterator[Engine]:
    if request.param == "fake":
        yield FakeEngine(images=[IMAGE])
        return
    yield docker if request.param == "docker" else request.getfixturevalue("podman")


@pytest.fixture
def labels(engine: Engine) -> Iterator[dict[str, str]]:
    """This test's own label: whatever it made on a real engine goes by it."""
    mine = {LABEL_INSTALLATION: f"contract-{secrets.token_hex(4)}"}
    yield mine
    if isinstance(engine, DockerEngine):
        remove_installation(engine, mine[LABEL_INSTALLATION])


def is_podman(engine: Engine) -> bool:
    """Where Podman behaves differently on purpose, the test says so and what it does."""
    return isinstance(engine, DockerEngine) and engine.ping().kind == "podman"


def spec(labels: dict[str, str], *, mounts: list[VolumeMount] | None = None) -> ContainerSpec:
    return ContainerSpec(
        name=f"dy-contract-{secrets.token_hex(4)}",
        image=IMAGE,
        command=["sleep", "infinity"],
        labels=labels,
        mounts=mounts or [],
        init=True,
        memory_bytes=64 * 1024**2,
    )


def started(
    engine: Engine, labels: dict[str, str], *, mounts: list[VolumeMount] | None = None
) -> str:
    container = engine.create_container(spec=spec(labels, mounts=mounts))
    engine.start_container(ref=container)
    return container


def test_a_created_container_is_not_running_and_its_name_is_taken(
    engine: Engine, labels: dict[str, str]
) -> None:
    made = spec(labels)
    container = engine.create_container(spec=made)
    info = engine.inspect_container(ref=made.name)
    assert (info.id, info.status, info.running) == (container, "created", False)
    assert info.labels[LABEL_INSTALLATION] == labels[LABEL_INSTALLATION]
    with pytest.raises(Conflict):
        engine.create_container(spec=made)
    assert [c.id for c in engine.list_containers(labels=labels)] == [container]
    assert engine.list_containers(labels={**labels, "other": None}) == []


def test_start_and_stop_repeat_harmlessly_and_a_stop_is_in_the_event_log(
    engine: Engine, labels: dict[str, str]
) -> None:
    container = started(engine, labels)
    engine.start_container(ref=container)  # running already: nothing happens
    assert engine.inspect_container(ref=container).running
    engine.stop_container(ref=container, timeout_s=0)
    engine.stop_container(ref=container, timeout_s=0)  # stopped already
    info = engine.inspect_container(ref=container)
    assert (info.running, info.status) == (False, "exited")
    assert info.exit_code != 0  # the init passes TERM on: the command dies of it
    assert info.started_at is not None and info.finished_at is not None
    if is_podman(engine):
        return  # Podman 4.3 logs the stop after the death, or not at all (core.engines)
    until = min(info.finished_at + timedelta(seconds=1), datetime.now(UTC))
    with engine.events(since=info.started_at, until=until, labels=labels) as events:
        actions = {e.action for e in events if e.actor_id == container}
    assert STOP_ACTIONS & actions  # what tells a requested stop from a crash


def test_removal_is_idempotent(engine: Engine, labels: dict[str, str]) -> None:
    container = started(engine, labels)
    engine.remove_container(ref=container)  # running: removed by force
    engine.remove_container(ref=container)  # gone already: done
    with pytest.raises(NotFound):
        engine.inspect_container(ref=container)


def test_an_exec_runs_to_its_exit_code_with_its_output_apart(
    engine: Engine, labels: dict[str, str]
) -> None:
    container = started(engine, labels)
    if isinstance(engine, FakeEngine):
        engine.exec_handler = lambda _c, _s, _i: (3, b"out\n", b"err\n")
    result = run(
        engine, ref=container, spec=ExecSpec(argv=["sh", "-c", "echo out; echo err >&2; exit 3"])
    )
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"out\n", b"err\n")


def test_a_container_that_is_not_running_refuses_execs(
    engine: Engine, labels: dict[str, str]
) -> None:
    container = engine.create_container(spec=spec(labels))
    with pytest.raises(Conflict):
        engine.exec_create(ref=container, spec=ExecSpec(argv=["true"]))
    engine.start_container(ref=container)
    exec_id = engine.exec_create(ref=container, spec=ExecSpec(argv=["true"]))
    engine.stop_container(ref=container, timeout_s=0)
    with pytest.raises((NotFound, Conflict)):  # at once, no hang: dockerd forgot the exec,
        engine.exec_start(exec_id=exec_id, tty=False)  # Podman refuses it
    with pytest.raises(NotFound):
        engine.exec_start(exec_id="0" * 64, tty=False)


def test_an_exec_ends_when_its_container_is_removed_under_it(
    engine: Engine, labels: dict[str, str]
) -> None:
    container = started(engine, labels)
    exec_id = engine.exec_create(ref=container, spec=ExecSpec(argv=["sleep", "60"]))
    stream = engine.exec_start(exec_id=exec_id, tty=False)
    threading.Timer(0.5, lambda: engine.remove_container(ref=container)).start()
    try:
        assert list(stream.frames()) == []
    finally:
        stream.close()
    if is_podman(engine):  # Podman forgets the exec with its container
        with pytest.raises(NotFound):
            engine.exec_inspect(exec_id=exec_id)
        return
    assert engine.exec_inspect(exec_id=exec_id).exit_code == 137  # killed with it


def test_volumes_are_created_once_and_removed_once(engine: Engine, labels: dict[str, str]) -> None:
    name = f"dy-contract-{secrets.token_hex(4)}"
    first = engine.create_volume(name=name, labels=labels)
    again = engine.create_volume(name=name, labels=labels)
    assert first.name == again.name == name
    assert [v.name for v in engine.list_volumes(labels=labels)] == [name]
    container = started(engine, labels, mounts=[VolumeMount(volume=name, target="/data")])
    with pytest.raises(Conflict):
        engine.remove_volume(name=name)  # mounted
    engine.remove_container(ref=container)
    engine.remove_volume(name=name)
    engine.remove_volume(name=name)
    with pytest.raises(NotFound):
        engine.inspect_volume(name=name)


def test_an_archive_goes_in_and_comes_out(engine: Engine, labels: dict[str, str]) -> None:
    container = started(engine, labels)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("note.txt")
        info.size = 6
        archive.addfile(info, io.BytesIO(b"hello\n"))
    engine.put_archive(ref=container, path="/tmp", data=[buffer.getvalue()])
    assert engine.path_exists(ref=container, path="/tmp/note.txt")
    with engine.get_archive(ref=container, path="/tmp/note.txt") as chunks:
        data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.extractfile("note.txt")
        assert member is not None and member.read() == b"hello\n"


def test_an_unreachable_engine_says_so(engine: Engine) -> None:
    if isinstance(engine, FakeEngine):
        engine.down = True
        unreachable: Engine = engine
    else:
        unreachable = DockerEngine("unix:///run/dockyard-no-engine.sock", timeouts=Timeouts())
    with pytest.raises(EngineUnavailable):
        unreachable.list_containers(labels={})
    with pytest.raises(EngineUnavailable):
        unreachable.ping()


def test_networks_are_named_once_own_their_subnet_and_stay_while_attached(
    engine: Engine, labels: dict[str, str]
) -> None:
    name = f"dy-contract-net-{secrets.token_hex(4)}"
    subnet = f"10.250.{secrets.randbelow(250)}.0/24"
    made = engine.create_network(name=name, labels=labels, subnet=subnet)
    assert (made.name, made.subnets, dict(made.labels)) == (name, (subnet,), labels)
    assert [n.name for n in engine.list_networks(labels=labels)] == [name]
    with pytest.raises(Conflict):  # the name is taken
        engine.create_network(name=name, labels=labels, subnet=None)
    with pytest.raises(Conflict):  # the subnet overlaps
        engine.create_network(name=f"{name}-2", labels=labels, subnet=subnet[:-3] + "/25")
    attached = replace(spec(labels), network=name)
    container = engine.create_container(spec=attached)
    engine.start_container(ref=container)
    [listed] = engine.list_containers(labels=labels)
    assert listed.networks == (name,)
    with pytest.raises(Conflict):  # a running container holds it
        engine.remove_network(name=name)
    engine.stop_container(ref=container, timeout_s=1)
    [stopped] = engine.list_containers(labels=labels)
    assert stopped.networks == (name,)  # a stopped container still names its network ...
    if is_podman(engine):  # ... and on Podman holds it as well
        with pytest.raises(Conflict):
            engine.remove_network(name=name)
        engine.remove_container(ref=container)
        engine.remove_network(name=name)
        assert engine.list_networks(labels=labels) == []
        return
    engine.remove_network(name=name)  # ... but on dockerd does not hold it: dockyard must look
    engine.remove_network(name=name)  # idempotent
    with pytest.raises(NotFound):
        engine.inspect_network(name=name)
    with pytest.raises(NotFound, match="network"):  # and it cannot start again
        engine.start_container(ref=container)
    engine.remove_container(ref=container)
    orphan = engine.create_container(spec=attached)  # dockerd creates it; the start fails
    with pytest.raises(NotFound, match="network"):
        engine.start_container(ref=orphan)
    assert engine.inspect_network(name="bridge").name == "bridge"


def test_a_stopped_container_moves_from_the_bridge_to_another_network(
    engine: Engine, labels: dict[str, str]
) -> None:
    name = f"dy-contract-net-{secrets.token_hex(4)}"
    engine.create_network(name=name, labels=labels, subnet=f"10.251.{secrets.randbelow(250)}.0/24")
    container = engine.create_container(spec=spec(labels))  # on the engine's default network
    [default] = engine.inspect_container(ref=container).networks  # dockerd's bridge, podman
    engine.connect_network(name=name, container=container)
    engine.disconnect_network(name=default, container=container)
    assert engine.inspect_container(ref=container).networks == (name,)
    engine.start_container(ref=container)
    assert engine.inspect_container(ref=container).running
    [listed] = engine.list_containers(labels=labels)
    assert listed.networks == (name,)


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_an_exec_is_in_the_event_log_as_activity(
    kind: str, request: pytest.FixtureRequest, docker: DockerEngine
) -> None:
    """What counts a ``docker exec`` (or ``podman exec``) from outside dockyard as
    activity: the engine's exec events, named differently by the two engines."""
    engine: DockerEngine = docker if kind == "docker" else request.getfixturevalue("podman")
    mine = {LABEL_INSTALLATION: f"contract-{secrets.token_hex(4)}"}
    try:
        began = datetime.now(UTC) - timedelta(seconds=1)
        container = started(engine, mine)
        assert run(engine, ref=container, spec=ExecSpec(argv=["true"])).exit_code == 0
        with engine.events(since=began, until=datetime.now(UTC), labels=mine) as events:
            actions = [e.action for e in events if e.actor_id == container]
        execs = [action for action in actions if action.startswith("exec")]
        assert execs, actions
        assert all(is_exec_event(action) for action in execs), execs  # its start too
    finally:
        remove_installation(engine, mine[LABEL_INSTALLATION])


def test_disk_use_counts_the_volume_and_the_writable_layer_apart(
    engine: Engine, labels: dict[str, str]
) -> None:
    """A local engine's directories are walked here; of a remote one (Podman here is
    reached over TCP) only the writable layer is asked, a volume's use is unknown."""
    remote = isinstance(engine, DockerEngine) and engine.url.startswith("tcp://")
    name = f"dy-contract-{secrets.token_hex(4)}"
    engine.create_volume(name=name, labels=labels)
    container = started(engine, labels, mounts=[VolumeMount(volume=name, target="/data")])
    before = engine.disk_use(container_id=container, volume=name, budget_s=5)
    assert before.complete and before.layer_bytes is not None
    assert (before.volume_bytes is None) is remote
    if isinstance(engine, FakeEngine):  # the fake's execs write nothing: it is told
        engine.volume_bytes[name] = (before.volume_bytes or 0) + 2 * 1024**2
    for target, mib in (("/data/blob", 2), ("/root/blob", 1)):
        argv = ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}"]
        ran = run(engine, ref=container, spec=ExecSpec(argv=argv))
        assert ran.exit_code == 0
    after = engine.disk_use(container_id=container, volume=name, budget_s=5)
    assert after.layer_bytes is not None
    if not isinstance(engine, FakeEngine):
        assert after.layer_bytes >= before.layer_bytes + 1024**2
    if not remote:
        assert before.volume_bytes is not None and after.volume_bytes is not None
        assert after.volume_bytes >= before.volume_bytes + 2 * 1024**2
        assert after.volume_bytes < before.volume_bytes + 3 * 1024**2  # not the layer's
        assert after.total_bytes == after.volume_bytes + after.layer_bytes
    engine.remove_container(ref=container)
