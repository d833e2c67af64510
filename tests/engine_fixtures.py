"""Fixtures for tests that drive the real engine (tests/engine, tests/cli).

Every test gets its own store, hence its own installation id; everything it creates
carries that id in ``dockyard.installation`` and is removed by label afterwards, even
when the test fails. On failure the test's containers are dumped (state, exit code,
labels) so the CI log says what the engine saw. A missing engine fails the test: in
CI, Docker (and for the tests that ask for it, Podman) is required, never skipped.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from dockyard.core.errors import Conflict, DockyardError, NotFound
from dockyard.core.naming import LABEL_INSTALLATION
from dockyard.engine.docker import DockerEngine
from dockyard.engine.http import EngineTransport
from dockyard.service import Dockyard
from dockyard.settings import DEFAULT_IMAGE, Settings, load_settings
from tests.netns_engine import NetnsEngine, podman_in_netns


@pytest.fixture(scope="session")
def docker() -> Iterator[DockerEngine]:
    engine = DockerEngine()
    try:
        engine.ping()
    except DockyardError as exc:
        pytest.fail(f"these tests need a running Docker engine (run scripts/setup): {exc}")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def podman_netns() -> Iterator[NetnsEngine]:
    """Podman's Docker-compatible API in a network namespace of its own, started on
    first use, for the whole session (``tests/netns_engine.py``)."""
    if shutil.which("podman") is None or shutil.which("catatonit") is None:
        pytest.fail("these tests need Debian's podman and catatonit (scripts/setup --test)")
    with podman_in_netns(DEFAULT_IMAGE) as engine:
        yield engine


@pytest.fixture(scope="session")
def podman(podman_netns: NetnsEngine) -> Iterator[DockerEngine]:
    engine = DockerEngine(podman_netns.tcp_url)
    yield engine
    engine.close()


#: The settings every engine test's manager runs with (small, fast to stop).
ENGINE_FLAGS = {"workspace.memory": "256m", "workspace.stop_timeout": "2s", "lock_timeout": "60s"}


@pytest.fixture
def engine_settings(tmp_path: Path, database: dict[str, str]) -> Settings:
    return load_settings(env={}, flags={"data_dir": tmp_path / "data", **ENGINE_FLAGS, **database})


def remove_installation(docker: DockerEngine, installation: str) -> None:
    labels = {LABEL_INSTALLATION: installation}
    for container in docker.list_containers(labels=labels):
        docker.remove_container(ref=container.id)
    for volume in docker.list_volumes(labels=labels):
        docker.remove_volume(name=volume.name)
    remove_images(docker, [i.id for i in docker.list_images(labels=labels)])
    for network in docker.list_networks(labels=labels):
        docker.remove_network(name=network.name)


def remove_installation_at(url: str, installation: str) -> None:
    """``remove_installation`` on the engine at ``url`` (a second engine of a test)."""
    engine = DockerEngine(url)
    try:
        remove_installation(engine, installation)
    finally:
        engine.close()


def remove_images(docker: DockerEngine, ids: list[str]) -> None:
    """Remove images, a snapshot's child before its parent (the engine refuses otherwise;
    the listing cannot tell them apart when they were made in the same second)."""
    left = list(ids)
    for _round in range(len(left)):
        refused = []
        for image_id in left:
            try:
                docker.remove_image(ref=image_id)
            except Conflict:
                refused.append(image_id)
        if not refused:
            return
        left = refused


def dump_installation(docker: DockerEngine, installation: str) -> str:
    lines = [f"engine state of installation {installation}:"]
    for summary in docker.list_containers(labels={LABEL_INSTALLATION: installation}):
        info = docker.inspect_container(ref=summary.id)
        lines.append(
            f"  {info.name} {info.status} exit={info.exit_code} oom={info.oom_killed} "
            f"error={info.error!r} labels={json.dumps(dict(info.labels))}"
        )
    volumes = docker.list_volumes(labels={LABEL_INSTALLATION: installation})
    lines.extend(f"  volume {volume.name}" for volume in volumes)
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
    call: pytest.CallInfo[None],  # noqa: ARG001 - the hook's signature
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def installed(docker: DockerEngine, request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Register installation ids to clean up (and dump on failure) after the test."""
    installations: list[str] = []
    yield installations
    for installation in installations:
        if request.node.stash.get(_FAILED, False):
            print(dump_installation(docker, installation))  # noqa: T201 - shown on failure
        remove_installation(docker, installation)


@pytest.fixture
def dy(engine_settings: Settings, installed: list[str]) -> Iterator[Dockyard]:
    """The service on the real engine with a fresh store (a fresh installation)."""
    service = Dockyard.open(engine_settings)
    installed.append(service.ctx.installation)
    yield service
    service.close()


def gone(docker: DockerEngine, name: str) -> bool:
    """True if the engine has no container ``name``."""
    try:
        docker.inspect_container(ref=name)
    except NotFound:
        return True
    return False


def engine_json(path: str) -> object:
    """A raw engine API read, for assertions about what the engine really has."""
    transport = EngineTransport(DockerEngine().url)
    try:
        return transport.request("GET", path).json()
    finally:
        transport.close()
