"""Replicas sharing the reconcile work: the split (pure) and loops on one store (fake engine)."""

from __future__ import annotations

import secrets
import socket
import threading
from dataclasses import replace
from datetime import timedelta

from dockyard.core.actions import Park, Reason, Upcoming, Verb
from dockyard.core.model import State
from dockyard.core.planner import Plan
from dockyard.core.shares import Share, owner_of
from dockyard.service import AcquireRequest, Dockyard, Reconciler
from dockyard.service.reconcile.replicas import Membership
from tests.helpers import T0, FakeClock

M = timedelta(minutes=1)
ITEMS = [f"key-{i}" for i in range(3000)]
MEMBERS = ["a:1:p" + "1" * 16, "b:1:p" + "2" * 16, "c:1:p" + "3" * 16]


def test_every_item_has_one_owner_that_every_member_agrees_on() -> None:
    shares = [Share(m, frozenset(MEMBERS)) for m in MEMBERS]
    for item in ITEMS[:300]:
        assert sum(share.mine(item) for share in shares) == 1
        assert owner_of(item, reversed(MEMBERS)) == owner_of(item, MEMBERS)


def test_members_get_about_a_third_each() -> None:
    counts = dict.fromkeys(MEMBERS, 0)
    for item in ITEMS:
        counts[owner_of(item, MEMBERS) or ""] += 1
    assert all(800 < n < 1200 for n in counts.values()), counts


def test_a_member_leaving_moves_only_its_own_items() -> None:
    before = {item: owner_of(item, MEMBERS) for item in ITEMS}
    after = {item: owner_of(item, MEMBERS[:2]) for item in ITEMS}
    moved = {item for item in ITEMS if before[item] != after[item]}
    assert moved == {item for item in ITEMS if before[item] == MEMBERS[2]}


def test_a_member_alone_owns_everything_and_counts_itself_in() -> None:
    assert all(Share.alone("me").mine(item) for item in ITEMS[:50])
    assert Share("me", frozenset()).mine("x")  # its own view always includes itself


def test_a_share_of_a_plan_keeps_its_actions_and_deadlines_only() -> None:
    share = Share(MEMBERS[0], frozenset(MEMBERS))
    keys = ITEMS[:30]
    plan = Plan(
        actions=tuple(Park(k, Reason.IDLE, "idle", revision=0) for k in keys),
        upcoming={k: Upcoming(Verb.WARN, Reason.IDLE, T0) for k in keys},
    )
    part = share.of(plan)
    assert {a.key for a in part.actions} == {k for k in keys if share.mine(k)}
    assert set(part.upcoming) == {k for k in keys if share.mine(k)}
    assert 0 < len(part.actions) < len(keys)


# -- loops on one store ----------------------------------------------------------------------


def another_manager(dy: Dockyard) -> Dockyard:
    """A second manager on the same store and engine, as another process would be."""
    holder = f"{socket.gethostname()}:1:p{secrets.token_hex(8)}"
    return Dockyard(replace(dy.ctx, holder=holder))


def test_two_loops_split_a_pass_and_one_takes_over_when_the_other_leaves(
    fake_dy: Dockyard, clock: FakeClock
) -> None:
    keys = [f"w{i}" for i in range(12)]
    for key in keys:
        fake_dy.acquire(AcquireRequest(key=key, owner=f"owner-{key[-1]}"))  # under the quota
    other = another_manager(fake_dy)
    loops = [Reconciler(fake_dy.ctx), Reconciler(other.ctx)]
    for loop in loops:
        loop.membership.join(watch=False)
    try:
        assert loops[0].membership.refresh()  # it sees the second member now
        assert loops[0].membership.share.members == loops[1].membership.share.members
        clock.advance(41 * M)  # every workspace is due its warning
        warned: list[set[str]] = []
        for loop in loops:
            before = {k for k in keys if fake_dy.get(k).state is State.WARNED}
            loop.step()
            loop.settle()
            warned.append({k for k in keys if fake_dy.get(k).state is State.WARNED} - before)
        assert warned[0] and warned[1] and not warned[0] & warned[1]
        assert warned[0] | warned[1] == set(keys)
        assert all(loops[i].membership.share.mine(k) for i in (0, 1) for k in warned[i])
    finally:
        loops[1].membership.leave()
    assert loops[0].membership.refresh()  # the other left: its workspaces are ours now
    clock.advance(5 * M)  # every deadline passed
    loops[0].step()
    loops[0].settle()
    assert {fake_dy.get(k).state for k in keys} == {State.PARKED}
    loops[0].membership.leave()


def test_an_interrupted_park_nobody_holds_is_finished_at_once(
    fake_dy: Dockyard, clock: FakeClock
) -> None:
    fake_dy.acquire(AcquireRequest(key="k"))
    ws = fake_dy.get("k")
    parking = ws.transition(State.PARKING, now=clock.now, reason="idle")
    assert fake_dy.ctx.store.workspaces.save(
        parking, expect_state=ws.state, expect_revision=ws.revision
    )
    clock.advance(timedelta(seconds=1))  # long before interrupted_after (2 minutes)
    loop = Reconciler(fake_dy.ctx)
    loop.membership.join(watch=False)
    try:
        assert loop.membership.cut_off() == {"k"}
        loop.step()
        loop.settle()
    finally:
        loop.membership.leave()
    assert fake_dy.get("k").state is State.PARKED


def test_an_operation_under_way_is_not_cut_off(fake_dy: Dockyard, clock: FakeClock) -> None:
    fake_dy.acquire(AcquireRequest(key="k"))
    ws = fake_dy.get("k")
    loop = Reconciler(fake_dy.ctx)
    with fake_dy.ctx.lock("k"):
        parking = ws.transition(State.PARKING, now=clock.now, reason="idle")
        fake_dy.ctx.store.workspaces.save(
            parking, expect_state=ws.state, expect_revision=ws.revision
        )
        assert loop.membership.cut_off() == set()
        assert loop.step() > 0
        assert loop.status.next_wakeup == clock.now + fake_dy.ctx.policy.interrupted_after


def test_a_share_wakes_for_its_own_deadlines_and_the_plans_other_moments_only() -> None:
    share = Share(MEMBERS[0], frozenset(MEMBERS))
    mine = next(k for k in ITEMS if share.mine(k))
    theirs = next(k for k in ITEMS if not share.mine(k))
    upcoming = {
        mine: Upcoming(Verb.WARN, Reason.IDLE, T0 + M),
        theirs: Upcoming(Verb.WARN, Reason.IDLE, T0),
    }
    assert share.of(Plan(actions=(), upcoming=upcoming, next_wakeup=T0)).next_wakeup == T0 + M
    orphan_grace = T0 - M  # not any workspace's deadline: every member looks then
    plan = Plan(actions=(), upcoming=upcoming, next_wakeup=orphan_grace)
    assert share.of(plan).next_wakeup == orphan_grace


def test_a_lease_that_is_only_late_is_not_taken_for_a_cut_off_operation(
    fake_dy: Dockyard,
) -> None:
    """An expired lease whose holder may live (its renewals stalled) waits for
    interrupted_after; only a free lease or a holder known dead is abandoned."""
    store = fake_dy.ctx.store
    now = store.leases.db_now()
    late = f"elsewhere:1:p{secrets.token_hex(8)}:abcd"  # never announced here: cannot tell
    assert store.leases.try_take("workspace:k", holder=late, now=now, until=now - M)
    assert not fake_dy.ctx.abandoned("k")
    store.leases.release("workspace:k", holder=late)
    assert fake_dy.ctx.abandoned("k")


def test_the_watcher_sees_a_member_come_and_go_and_wakes_its_loop(fake_dy: Dockyard) -> None:
    woken = threading.Event()
    watching = Membership(fake_dy.ctx, on_change=woken.set)
    assert watching.join(watch=True)
    other = Membership(another_manager(fake_dy).ctx, on_change=lambda: None)
    try:
        assert other.join(watch=False)
        assert woken.wait(10), "the watcher never saw the new member"
        assert len(watching.share.members) == 2
        woken.clear()
        other.leave()
        assert woken.wait(10), "the watcher never saw the member go"
        assert watching.share.members == {fake_dy.ctx.holder}
    finally:
        other.leave()
        watching.leave()
