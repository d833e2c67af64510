"""The warm pool's pure decisions: what a member is for, what a refill makes and drops."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from dockyard.core.model import Resources
from dockyard.core.planner import ObservedContainer, plan
from dockyard.core.policy import Policy
from dockyard.core.pool import (
    MAX_AGE,
    PoolMember,
    PoolSpec,
    can_take_member,
    member_names,
    plan_refill,
)
from tests.helpers import T0, workspace

SMALL = Resources(memory_bytes=256 * 1024**2, nano_cpus=10**9, pids=512)
SPEC = PoolSpec(
    image="dockyard/workspace:latest",
    image_id="sha256:aaa",
    resources=SMALL,
    volume=True,
    command=("sleep", "infinity"),
    workdir="/workspace",
    network=None,
)
OTHER = replace(SPEC, image="myorg/agent:1", image_id="sha256:bbb")


def member(name: str, spec: PoolSpec = SPEC, *, age: timedelta = timedelta(0)) -> PoolMember:
    return PoolMember(
        name=name,
        container_id=f"id-{name}",
        volume=f"{name}-work",
        spec_id=spec.id,
        image=spec.image,
        engine="default",
        created_at=T0 - age,
    )


def test_the_spec_id_is_stable_and_tells_every_difference_apart() -> None:
    assert SPEC.id == replace(SPEC).id
    bigger = Resources(memory_bytes=SMALL.memory_bytes * 2, nano_cpus=10**9, pids=512)
    others = [
        OTHER,
        replace(SPEC, image_id="sha256:ccc"),  # the same tag, re-built
        replace(SPEC, resources=bigger),
        replace(SPEC, volume=False),
        replace(SPEC, command=("sleep", "1d")),
        replace(SPEC, workdir="/work"),
        replace(SPEC, network="bridge"),
        replace(SPEC, network="none"),
    ]
    assert len({SPEC.id, *(o.id for o in others)}) == len(others) + 1


def test_member_names_are_random_and_engine_safe() -> None:
    (a, a_volume), (b, _) = member_names(), member_names()
    assert a != b
    assert a.startswith("dy-pool-") and a_volume == f"{a}-work"


def test_an_empty_pool_is_filled_to_its_size() -> None:
    refill = plan_refill(now=T0, wanted={SPEC: 2, OTHER: 1}, members=[], running={})
    assert refill.drop == ()
    assert sorted(s.image for s in refill.make) == [SPEC.image, SPEC.image, OTHER.image]


def test_a_full_pool_is_left_alone() -> None:
    members = [member("a"), member("b")]
    refill = plan_refill(
        now=T0, wanted={SPEC: 2}, members=members, running={"id-a": True, "id-b": True}
    )
    assert (refill.drop, refill.make) == ((), ())


def test_members_that_cannot_be_handed_out_are_dropped_and_replaced() -> None:
    members = [
        member("gone"),
        member("stopped"),
        member("old", age=MAX_AGE + timedelta(minutes=1)),
        member("unwanted", OTHER),
        member("fine"),
    ]
    running = {"id-stopped": False, "id-old": True, "id-unwanted": True, "id-fine": True}
    refill = plan_refill(now=T0, wanted={SPEC: 2}, members=members, running=running)
    assert {d.name: d.reason for d in refill.drop} == {
        "gone": "its container is gone",
        "stopped": "its container is not running",
        "old": f"older than {MAX_AGE}",
        "unwanted": "the pool no longer has its spec",
    }
    assert refill.make == (SPEC,)


def test_a_smaller_pool_drops_the_oldest_members_first() -> None:
    members = [member("older", age=timedelta(hours=2)), member("newer", age=timedelta(hours=1))]
    running = {"id-older": True, "id-newer": True}
    refill = plan_refill(now=T0, wanted={SPEC: 1}, members=members, running=running)
    assert [d.name for d in refill.drop] == ["older"]
    assert refill.make == ()


def test_size_zero_turns_the_pool_off() -> None:
    refill = plan_refill(now=T0, wanted={SPEC: 0}, members=[member("a")], running={"id-a": True})
    assert [d.name for d in refill.drop] == ["a"]
    assert refill.make == ()


def test_the_planner_leaves_waiting_members_to_the_pool() -> None:
    waiting = ObservedContainer(
        id="id-a", name="dy-pool-a", key=None, status="running", created_at=T0, pooled=True
    )
    rowless = ObservedContainer(
        id="id-b", name="dy-pool-b", key=None, status="running", created_at=T0, from_pool=True
    )
    later = T0 + timedelta(days=1)
    found = plan(now=later, policy=Policy(), workspaces=[], containers=[waiting, rowless])
    assert [(a.verb, a.target) for a in found.actions] == [("remove container", "dy-pool-b")]


def test_only_a_plain_new_workspace_can_take_a_member() -> None:
    plain = workspace(resources=SMALL)
    assert can_take_member(plain)
    assert not can_take_member(replace(plain, keep=True))
    assert not can_take_member(replace(plain, labels={"team": "a"}))
    assert not can_take_member(replace(plain, resources=replace(SMALL, disk_bytes=64 * 1024**2)))
