"""Owners' networks: subnets carved from the pool (pure), and who gets which network
(orchestration, on the fake engine; the isolation itself is proven on the real engine in
tests/engine/test_networks.py)."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from dockyard.core.errors import Conflict, NotFound
from dockyard.core.naming import owner_network_name
from dockyard.core.subnets import free_subnet
from dockyard.engine.fake import FakeEngine
from dockyard.engine.models import ContainerSpec
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.workspaces.networks import RECLAIM_GRACE
from tests.helpers import FakeClock

POOL = IPv4Network("10.213.0.0/16")


def test_the_first_subnet_of_the_pool_that_overlaps_nothing() -> None:
    assert free_subnet(POOL, 24, []) == IPv4Network("10.213.0.0/24")
    taken = ["10.213.0.0/24", "10.213.1.128/25", "172.17.0.0/16", "fd00::/64", "nonsense"]
    assert free_subnet(POOL, 24, taken) == IPv4Network("10.213.2.0/24")
    assert free_subnet(POOL, 24, ["10.0.0.0/8"]) is None  # someone's network covers it all
    assert free_subnet(IPv4Network("10.213.0.0/23"), 24, ["10.213.0.0/24", "10.213.1.0/24"]) is None


def test_network_names_are_per_owner_and_installation() -> None:
    name = owner_network_name("alice@example.com", installation="i1")
    assert name == owner_network_name("alice@example.com", installation="i1")
    assert name.startswith("dy-net-alice-example-co-") and len(name) <= 40
    assert name != owner_network_name("bob@example.com", installation="i1")
    assert name != owner_network_name("alice@example.com", installation="i2")
    assert owner_network_name("", installation="i1").startswith("dy-net-owner-")


def _network_of(dy: Dockyard, engine: FakeEngine, key: str) -> str | None:
    return engine.containers[dy.get(key).container_id or ""].spec.network


def test_each_owner_has_a_network_of_its_own_on_its_own_subnet(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    for key, owner in [("a1", "alice"), ("a2", "alice"), ("b1", "bob")]:
        fake_dy.acquire(AcquireRequest(key=key, owner=owner))
    alice, bob = (_network_of(fake_dy, fake_engine, k) for k in ("a1", "b1"))
    assert _network_of(fake_dy, fake_engine, "a2") == alice != bob
    subnets = {n.name: n.subnets for n in fake_engine.list_networks(labels={})}
    assert subnets == {alice: ("10.213.0.0/24",), bob: ("10.213.1.0/24",)}
    labels = fake_engine.inspect_network(name=alice or "").labels
    assert labels["dockyard.owner"] == "alice" and labels["dockyard.role"] == "network"


def test_a_configured_network_is_everyones(fake_dy: Dockyard, fake_engine: FakeEngine) -> None:
    settings = fake_dy.ctx.settings
    fake_dy.ctx.settings = settings.model_copy(
        update={"workspace": settings.workspace.model_copy(update={"network": "bridge"})}
    )
    fake_dy.acquire(AcquireRequest(key="a", owner="alice"))
    fake_dy.acquire(AcquireRequest(key="b", owner="bob"))
    assert {_network_of(fake_dy, fake_engine, k) for k in "ab"} == {"bridge"}
    assert fake_engine.list_networks(labels={}) == []


def _small_pool(dy: Dockyard) -> None:
    settings = dy.ctx.settings
    workspace = settings.workspace.model_copy(
        update={"network_pool": IPv4Network("10.213.0.0/23"), "network_prefix": 24}
    )
    dy.ctx.settings = settings.model_copy(update={"workspace": workspace})


def test_a_full_pool_makes_room_from_unused_networks_else_says_so(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    _small_pool(fake_dy)  # room for two owners
    fake_dy.acquire(AcquireRequest(key="a", owner="alice"))
    fake_dy.acquire(AcquireRequest(key="b", owner="bob"))
    fake_dy.remove("b", purge=True)  # bob's network is left unused
    with pytest.raises(Conflict, match="no /24 subnet left"):  # too young to take: its
        fake_dy.acquire(AcquireRequest(key="c", owner="carol"))  # container may be coming
    clock.advance(RECLAIM_GRACE)
    fake_dy.acquire(AcquireRequest(key="c", owner="carol"))  # takes bob's room
    names = {n.labels["dockyard.owner"] for n in fake_engine.list_networks(labels={})}
    assert names == {"alice", "carol"}
    with pytest.raises(Conflict, match=r"no /24 subnet left in workspace.network_pool 10.213"):
        fake_dy.acquire(AcquireRequest(key="d", owner="dave"))
    with pytest.raises(NotFound):  # nothing half-made stays
        fake_dy.get("d")
    assert len(fake_engine.containers) == 2


def test_a_network_that_went_meanwhile_is_made_again(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    fake_dy.acquire(AcquireRequest(key="a", owner="alice"))
    fake_dy.park("a")
    fake_engine.remove_network(name=owner_network_name("alice", installation=fake_dy.installation))
    assert fake_dy.acquire(AcquireRequest(key="a")).outcome.value == "restored"
    assert _network_of(fake_dy, fake_engine, "a") in {n.name for n in fake_engine.networks.values()}


def test_a_network_removed_between_looking_and_starting_is_made_again_once(
    fake_dy: Dockyard, fake_engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc of another process removes the network after ``network_for`` found it."""
    fake_dy.acquire(AcquireRequest(key="a", owner="alice"))
    fake_dy.park("a")
    create = fake_engine.create_container
    removed: list[str] = []

    def create_then_lose_the_network(*, spec: ContainerSpec) -> str:
        container_id = create(spec=spec)
        if not removed and spec.network:
            fake_engine.networks.pop(spec.network)
            removed.append(spec.network)
        return container_id

    monkeypatch.setattr(fake_engine, "create_container", create_then_lose_the_network)
    assert fake_dy.acquire(AcquireRequest(key="a")).outcome.value == "restored"
    assert removed and _network_of(fake_dy, fake_engine, "a") in fake_engine.networks
    assert len(fake_engine.containers) == 1  # the one that could not start is gone


def test_only_a_vanished_network_is_tried_again(fake_dy: Dockyard, fake_engine: FakeEngine) -> None:
    fake_engine.start_error = NotFound("no such file: /missing")  # not the network's fault
    created: list[str] = []
    create = fake_engine.create_container

    def counting(*, spec: ContainerSpec) -> str:
        created.append(spec.name)
        return create(spec=spec)

    fake_engine.create_container = counting  # type: ignore[method-assign]
    with pytest.raises(NotFound, match="/missing"):
        fake_dy.acquire(AcquireRequest(key="a", owner="alice"))
    assert len(created) == 1 and fake_engine.containers == {}
