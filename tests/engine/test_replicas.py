"""Two ``dockyard serve`` replicas on one PostgreSQL store and the real engine.

Each replica has a data directory of its own (as on two machines); they share only the
database and the engines: the host's dockerd and a dockerd in a network namespace of
its own (``tests/netns_engine.py``). Concurrent acquires spread over both replicas make
exactly one container per key, on both engines, and never pass an owner's quota; a
replica killed (SIGKILL) in the middle of a park loses no work: the other replica's
loop notices within a second and finishes the park.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from dockyard.core.model import State
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_OWNER, LABEL_WORKSPACE
from dockyard.engine.docker import DockerEngine
from dockyard.engine.models import ContainerSummary
from dockyard.settings import DEFAULT_IMAGE
from dockyard.store import Store
from tests.api.conftest import Server, start_server, stop_server
from tests.engine_fixtures import remove_installation, remove_installation_at
from tests.helpers import wait_until
from tests.netns_engine import NetnsEngine, engine_in_netns
from tests.postgres import PostgresServer

KEYS = 50
OWNERS = 10  # five keys each
QUOTA = 4  # live workspaces per owner: one key of each owner is refused
CALLS = 200


@pytest.fixture
def shared_store(postgres: PostgresServer) -> Iterator[str]:
    with postgres.database() as url:
        yield url


@pytest.fixture(scope="module")
def far() -> Iterator[NetnsEngine]:
    with engine_in_netns(DEFAULT_IMAGE) as engine:
        yield engine


@pytest.fixture
def replicas(
    tmp_path: Path, shared_store: str, docker: DockerEngine, far: NetnsEngine
) -> Iterator[list[Server]]:
    policy = f"max_workspaces_per_owner = {QUOTA}\n"
    engines = (
        '[[engines]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\n'
        f'[[engines]]\nname = "far"\nurl = "{far.tcp_url}"\n'
    )
    servers = [
        start_server(
            tmp_path / name,
            database_url=shared_store,
            policy=policy,
            workspace='network = "none"\n',  # the far engine has no bridge
            extra_config=engines,
        )
        for name in ("replica-a", "replica-b")
    ]
    installation = servers[0].installation
    assert servers[1].installation == installation  # one installation, two managers
    yield servers
    for server in servers:
        stop_server(server)
    remove_installation(docker, installation)
    remove_installation_at(far.unix_url, installation)


def containers_of(installation: str, *urls: str | None) -> list[ContainerSummary]:
    found = []
    for url in urls:
        engine = DockerEngine(url)
        try:
            found += engine.list_containers(labels={LABEL_INSTALLATION: installation})
        finally:
            engine.close()
    return found


def test_concurrent_acquires_over_both_replicas_make_one_container_per_key_within_quota(
    replicas: list[Server], far: NetnsEngine
) -> None:
    calls = [(f"k{i % KEYS}", f"team-{i % KEYS % OWNERS}") for i in range(CALLS)]
    random.Random(7).shuffle(calls)  # noqa: S311 - a fixed order, not a secret
    clients = [server.client() for server in replicas]

    def acquire(n: int) -> tuple[int, int]:
        key, owner = calls[n]
        replica = n % len(clients)
        answer = clients[replica].post("/api/v1/workspaces", json={"key": key, "owner": owner})
        assert answer.status_code in {200, 201, 429}, answer.text
        return replica, answer.status_code

    try:
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(acquire, range(CALLS)))
    finally:
        for client in clients:
            client.close()
    assert {replica for replica, status in answers if status == 201} == {0, 1}
    local = containers_of(replicas[0].installation, None)
    remote = containers_of(replicas[0].installation, far.unix_url)
    assert local and remote  # placed on both engines
    containers = local + remote
    per_key = Counter(c.labels[LABEL_WORKSPACE] for c in containers)
    per_owner = Counter(c.labels[LABEL_OWNER] for c in containers)
    assert max(per_key.values()) == 1
    assert per_owner == dict.fromkeys((f"team-{i}" for i in range(OWNERS)), QUOTA)
    assert sum(status == 201 for _, status in answers) == OWNERS * QUOTA


def test_a_replica_killed_mid_park_loses_nothing_and_the_other_finishes_the_park(
    replicas: list[Server], shared_store: str
) -> None:
    doomed, survivor = replicas
    with doomed.client() as api:
        assert api.post("/api/v1/workspaces", json={"key": "victim"}).status_code == 201
        wrote = api.post(
            "/api/v1/workspaces/victim/exec",
            json={"command": ["sh", "-c", "echo precious > /workspace/precious.txt"]},
        )
        assert wrote.json()["exit_code"] == 0, wrote.text
    store = Store.open(shared_store)
    try:

        def state() -> State | None:
            ws = store.workspaces.get("victim")
            return None if ws is None else ws.state

        def park() -> None:
            with doomed.client() as api, pytest.raises(httpx.TransportError):
                api.post("/api/v1/workspaces/victim/park")  # its server dies under it

        parking = threading.Thread(target=park)
        parking.start()
        wait_until(lambda: state() is State.PARKING, what="the park to begin", within_s=30)
        doomed.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        parking.join(timeout=30)
        wait_until(lambda: state() is State.PARKED, what="the other replica's park", within_s=20)
        took = time.monotonic() - killed_at
    finally:
        store.close()
    assert took < 10, f"the park was finished {took:.1f}s after the kill"
    with survivor.client() as api:
        back = api.post("/api/v1/workspaces", json={"key": "victim"})
        assert back.json()["outcome"] == "restored", back.text
        read = api.post(
            "/api/v1/workspaces/victim/exec", json={"command": ["cat", "/workspace/precious.txt"]}
        )
        assert read.json()["stdout"] == "precious\n"
