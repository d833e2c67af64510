"""The reconcile loop on the fake engine with an injected clock: nobody sleeps for a timeout."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from dockyard.core.actions import AnyAction, KeepAlive, MarkFailed, MarkStopped, Park, Reason, Warn
from dockyard.core.errors import QuotaExceeded
from dockyard.core.model import Outcome, SessionKind, SessionStatus, State
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_MANAGED, LABEL_WORKSPACE
from dockyard.engine.fake import FakeEngine
from dockyard.engine.models import ContainerSpec
from dockyard.service import AcquireRequest, Context, Dockyard, PassReport, Reconciler, notify
from dockyard.service.reconcile.diskwatch import watch_disks
from dockyard.service.reconcile.execute import Verdict, execute
from dockyard.service.reconcile.passes import run_pass
from dockyard.service.workspaces.sessions import recover_sessions
from tests.helpers import T0, FakeClock, wait_until

M = timedelta(minutes=1)


def up(dy: Dockyard, key: str = "k", **kwargs: object) -> Outcome:
    return dy.acquire(AcquireRequest(key=key, **kwargs)).outcome  # type: ignore[arg-type]


def events(dy: Dockyard) -> list[str]:
    return [e["type"] for e in dy.ctx.store.events.list(limit=1000)]


def test_idle_workspace_is_warned_once_then_parked(fake_dy: Dockyard, clock: FakeClock) -> None:
    up(fake_dy)
    clock.advance(39 * M)
    assert run_pass(fake_dy.ctx).plan.actions == ()
    clock.advance(M)
    report = run_pass(fake_dy.ctx)
    assert [type(r.action) for r in report.results] == [Warn]
    assert fake_dy.get("k").state is State.WARNED
    warning = fake_dy.ctx.store.events.list(limit=100)[-1]
    assert warning["type"] == "workspace.idle_warning"
    assert warning["data"]["deadline"] == (clock.now + 5 * M).isoformat()
    clock.advance(M)
    assert run_pass(fake_dy.ctx).plan.actions == ()  # once per deadline
    clock.advance(4 * M)
    report = run_pass(fake_dy.ctx)
    assert [(r.action.verb, r.outcome) for r in report.results] == [("park", "done")]
    assert fake_dy.get("k").state is State.PARKED
    assert events(fake_dy)[-1] == "workspace.parked"


def test_touched_workspace_is_not_parked(fake_dy: Dockyard, clock: FakeClock) -> None:
    up(fake_dy)
    clock.advance(44 * M)
    fake_dy.touch("k")
    clock.advance(44 * M)
    run_pass(fake_dy.ctx)
    assert fake_dy.get("k").state in (State.RUNNING, State.WARNED)


def test_extension_is_honoured(fake_dy: Dockyard, clock: FakeClock) -> None:
    up(fake_dy)
    fake_dy.extend("k", by=timedelta(hours=2))
    clock.advance(2 * 60 * M)
    run_pass(fake_dy.ctx)
    assert fake_dy.get("k").state is not State.PARKED


def test_busy_cpu_keeps_it_alive(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    up(fake_dy)
    fake_engine.busy_cpu.add(fake_dy.get("k").container_id or "")
    clock.advance(50 * M)
    report = run_pass(fake_dy.ctx)
    assert [type(r.action) for r in report.results] == [KeepAlive]
    assert report.results[0].message.startswith("kept alive: cpu ")
    assert fake_dy.get("k").state is State.RUNNING
    assert fake_dy.get("k").last_activity_at == clock.now


def test_named_process_keeps_it_alive(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    fake_dy.ctx.policy = replace(fake_dy.ctx.policy, busy_processes=("make",))
    up(fake_dy)
    fake_engine.process_names[fake_dy.get("k").container_id or ""] = ["/usr/bin/make -j4 all"]
    clock.advance(50 * M)
    report = run_pass(fake_dy.ctx)
    assert report.results[0].message == "kept alive: process make is running"


def test_live_session_use_keeps_it_alive(fake_dy: Dockyard, clock: FakeClock) -> None:
    up(fake_dy)
    session = fake_dy.ctx.store.sessions.open(
        workspace_key="k", kind=SessionKind.SHELL, holder="elsewhere:1", at=clock.now + 30 * M
    )
    assert session.status is SessionStatus.ACTIVE
    clock.advance(50 * M)
    run_pass(fake_dy.ctx)
    assert fake_dy.get("k").state is State.RUNNING


def test_keep_is_never_touched(fake_dy: Dockyard, clock: FakeClock) -> None:
    up(fake_dy, keep=True)
    clock.advance(timedelta(days=30))
    assert run_pass(fake_dy.ctx).plan.actions == ()
    change = fake_dy.keep("k", keep=False)
    # the container's dockyard.keep label cannot change: it stays kept until recreated
    assert "stays kept until it is recreated" in change.detail
    assert run_pass(fake_dy.ctx).plan.actions == ()
    fake_dy.park("k")
    up(fake_dy)
    clock.advance(timedelta(days=1))
    assert [a.verb for a in run_pass(fake_dy.ctx).plan.actions] == ["park"]


def test_a_touch_arriving_while_the_reconciler_decides_wins(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    up(fake_dy)
    clock.advance(46 * M)
    report = run_pass(fake_dy.ctx, dry_run=True)  # the decision: park it
    [action] = report.plan.actions
    assert isinstance(action, Park)
    fake_dy.touch("k")  # the touch lands between decision and action
    result = execute(fake_dy.ctx, action)
    assert result.outcome == "skipped" and "changed since the plan" in result.message
    assert fake_dy.get("k").state is State.RUNNING
    assert len(fake_engine.containers) == 1


def test_crashed_container_is_parked_at_once(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    up(fake_dy)
    fake_engine.crash(fake_dy.get("k").name, exit_code=137, oom=True)
    clock.advance(timedelta(seconds=1))
    [result] = run_pass(fake_dy.ctx).results
    assert result.action.reason is Reason.CRASHED
    assert result.action.detail == "exited 137 (OOM-killed)"
    parked = fake_dy.get("k")
    assert parked.state is State.PARKED and "OOM" in (parked.reason or "")
    assert up(fake_dy) is Outcome.RESTORED


def test_clean_exit_outside_dockyard_is_recorded_as_stopped_then_retained(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    up(fake_dy)
    fake_engine.crash(fake_dy.get("k").name, exit_code=0)
    run_pass(fake_dy.ctx)
    assert fake_dy.get("k").state is State.STOPPED
    clock.advance(61 * M)
    run_pass(fake_dy.ctx)
    assert fake_dy.get("k").state is State.PARKED


def test_vanished_container_marks_the_record_failed(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    up(fake_dy)
    fake_engine.vanish(fake_dy.get("k").name)
    run_pass(fake_dy.ctx)
    failed = fake_dy.get("k")
    assert failed.state is State.FAILED and failed.reason == "its container is gone"
    assert "workspace.failed" in events(fake_dy)
    assert up(fake_dy) is Outcome.RESTORED


def test_a_container_made_after_the_plans_listing_is_not_taken_for_vanished(
    fake_dy: Dockyard,
) -> None:
    """The engine is listed before the store is read: a workspace created in between is
    running in the record but missing from the listing (two replicas hit this under load:
    the record was marked failed, and the owner's quota let one workspace too many in)."""
    up(fake_dy)
    ws = fake_dy.get("k")
    stale = MarkFailed("k", Reason.VANISHED, "its container is gone", revision=ws.revision)
    result = execute(fake_dy.ctx, stale)
    assert (result.outcome, result.message) == (
        "skipped",
        "its container is there (made after the listing the plan saw)",
    )
    assert fake_dy.get("k").state is State.RUNNING


def _foreign(engine: FakeEngine, name: str, labels: dict[str, str]) -> str:
    return engine.create_container(
        spec=ContainerSpec(
            name=name, image="dockyard/workspace:latest", command=["x"], labels=labels
        )
    )


def test_orphans_and_leftovers_go_others_stay(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    ours = {LABEL_MANAGED: "true", LABEL_INSTALLATION: fake_dy.ctx.installation}
    fake_engine.start_container(ref=_foreign(fake_engine, "orphan", {**ours, LABEL_WORKSPACE: "x"}))
    _foreign(fake_engine, "leftover", ours)  # created, never started
    fake_engine.start_container(
        ref=_foreign(fake_engine, "other", {LABEL_MANAGED: "true", LABEL_INSTALLATION: "other"})
    )
    fake_engine.start_container(ref=_foreign(fake_engine, "plain", {}))
    for c in fake_engine.containers.values():
        c.created_at = clock.now
    clock.advance(2 * M)
    run_pass(fake_dy.ctx)
    assert {c.spec.name for c in fake_engine.containers.values()} == {"orphan", "other", "plain"}
    clock.advance(9 * M)
    run_pass(fake_dy.ctx)
    assert {c.spec.name for c in fake_engine.containers.values()} == {"other", "plain"}
    assert events(fake_dy).count("orphan.removed") == 2


def test_interrupted_creation_is_undone_once_its_lease_is_free(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    up(fake_dy)
    ws = fake_dy.get("k")
    assert fake_dy.ctx.store.workspaces.save(
        replace(ws, state=State.CREATING, state_changed_at=clock.now), expect_state=State.RUNNING
    )
    clock.advance(3 * M)
    run_pass(fake_dy.ctx)
    assert fake_dy.ctx.store.workspaces.get("k") is None
    assert fake_engine.containers == {} and fake_engine.volumes == {}


def test_interrupted_park_is_finished(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    up(fake_dy)
    ws = fake_dy.get("k")
    fake_dy.ctx.store.workspaces.save(
        replace(ws, state=State.PARKING, state_changed_at=clock.now), expect_state=State.RUNNING
    )
    clock.advance(3 * M)
    run_pass(fake_dy.ctx)
    assert fake_dy.get("k").state is State.PARKED
    assert fake_engine.containers == {} and ws.volume in fake_engine.volumes


def test_unreachable_engine_does_nothing_and_backs_off(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    up(fake_dy)
    clock.advance(timedelta(hours=5))
    fake_engine.down = True
    loop = Reconciler(fake_dy.ctx)
    waits = [loop.step() for _ in range(4)]
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert loop.status.last_error is not None and "cannot reach" in loop.status.last_error
    assert fake_dy.get("k").state is State.RUNNING
    fake_engine.down = False
    loop.step()
    loop.settle()
    assert fake_dy.get("k").state is State.PARKED
    assert loop.status.last_error is None


def test_the_loop_sleeps_until_the_next_deadline(fake_dy: Dockyard, clock: FakeClock) -> None:
    loop = Reconciler(fake_dy.ctx)
    assert loop.step() == 60.0  # nothing to watch: the maximum interval
    up(fake_dy)
    clock.advance(39 * M + timedelta(seconds=59.5))
    early = loop.lead.total_seconds() / 2  # so that the pass ends before the deadline
    assert loop.step() == pytest.approx(0.5 - early, abs=1e-5)  # the warning: in half a second
    assert loop.status.next_wakeup == clock.now + timedelta(seconds=0.5)


def test_a_slow_park_holds_back_neither_the_loop_nor_other_workspaces(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    up(fake_dy, "slow")
    up(fake_dy, "quick")
    slow = fake_dy.get("slow")
    gate = threading.Event()
    stop = fake_engine.stop_container

    def stop_slowly(*, ref: str, timeout_s: float) -> None:
        if ref in (slow.name, slow.container_id):
            assert gate.wait(timeout=10), "the test never opened the gate"
        stop(ref=ref, timeout_s=timeout_s)

    monkeypatch.setattr(fake_engine, "stop_container", stop_slowly)
    reports: list[PassReport] = []
    loop = Reconciler(fake_dy.ctx, on_pass=reports.append)
    clock.advance(46 * M)
    try:
        loop.step()  # dispatches both parks and returns at once
        wait_until(lambda: fake_dy.get("quick").state is State.PARKED, what="the quick park")
        wait_until(lambda: fake_dy.get("slow").state is State.PARKING, what="the slow park")
        assert reports == []  # the first pass is not over while its slow park runs
        clock.advance(fake_dy.ctx.policy.interrupted_after * 2)  # "slow" looks interrupted
        loop.step()  # ... but it is in flight: the next pass leaves it alone
        assert [r.plan.actions for r in reports] == [()]
    finally:
        gate.set()
        loop.settle()
    assert fake_dy.get("slow").state is State.PARKED
    first = reports[-1]
    assert sorted((r.action.key, r.outcome) for r in first.results) == [
        ("quick", "done"),
        ("slow", "done"),
    ]


def warned_by_a_loop(dy: Dockyard, clock: FakeClock) -> tuple[Reconciler, list[PassReport]]:
    """A workspace the loop (planning a second ahead) has just warned, and its reports."""
    up(dy)
    reports: list[PassReport] = []
    loop = Reconciler(dy.ctx, on_pass=reports.append, lead=timedelta(seconds=1))
    clock.advance(40 * M)
    loop.step()  # the warning, due now
    loop.settle()
    assert dy.get("k").state is State.WARNED
    return loop, reports


def test_a_park_due_before_the_next_pass_is_scheduled_for_its_deadline(
    fake_dy: Dockyard, clock: FakeClock
) -> None:
    loop, reports = warned_by_a_loop(fake_dy, clock)
    clock.advance(5 * M - timedelta(milliseconds=50))  # the deadline is 50 ms away
    loop.step()
    assert fake_dy.get("k").state is State.WARNED  # not parked before its deadline ...
    clock.advance(timedelta(milliseconds=50))
    loop.settle()
    assert fake_dy.get("k").state is State.PARKED  # ... but at it, without another pass
    assert loop.status.passes == 2
    assert [(r.action.verb, r.outcome) for r in reports[-1].results] == [("park", "done")]


def test_a_scheduled_park_loses_to_activity_before_its_moment(
    fake_dy: Dockyard, clock: FakeClock
) -> None:
    loop, reports = warned_by_a_loop(fake_dy, clock)
    clock.advance(5 * M - timedelta(milliseconds=200))
    loop.step()  # schedules the park 200 ms from now
    fake_dy.touch("k")
    clock.advance(timedelta(milliseconds=200))
    loop.settle()
    assert fake_dy.get("k").state is State.RUNNING
    [result] = reports[-1].results
    assert result.outcome == "skipped" and "changed since the plan" in result.message


def test_stopping_the_loop_cancels_what_it_scheduled_and_says_so(
    fake_dy: Dockyard, clock: FakeClock
) -> None:
    up(fake_dy)
    clock.advance(40 * M)
    run_pass(fake_dy.ctx)  # the warning
    clock.advance(5 * M - timedelta(milliseconds=500))
    reports: list[PassReport] = []
    loop = Reconciler(fake_dy.ctx, on_pass=reports.append, lead=timedelta(seconds=1))
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    wait_until(lambda: loop.status.passes >= 1, what="the pass that schedules the park")
    loop.stop()  # the fake clock never reaches the deadline: the park is still waiting
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert fake_dy.get("k").state is State.WARNED
    [result] = [r for report in reports for r in report.results]
    assert (result.action.verb, result.outcome) == ("park", "skipped")
    assert result.message == "the reconciler stopped first"


def test_quota_parks_the_owners_longest_idle(fake_dy: Dockyard, clock: FakeClock) -> None:
    fake_dy.ctx.policy = replace(fake_dy.ctx.policy, max_workspaces_per_owner=2)
    up(fake_dy, "a", owner="o")
    clock.advance(10 * M)
    up(fake_dy, "b", owner="o")
    clock.advance(10 * M)
    up(fake_dy, "other-owner", owner="p")
    up(fake_dy, "c", owner="o")
    assert fake_dy.get("a").state is State.PARKED
    assert (fake_dy.get("a").reason or "").startswith("quota")
    assert fake_dy.get("b").state is State.RUNNING
    assert fake_dy.get("c").state is State.RUNNING


def test_quota_refuses_when_nothing_is_idle(fake_dy: Dockyard, clock: FakeClock) -> None:
    fake_dy.ctx.policy = replace(fake_dy.ctx.policy, max_workspaces_per_owner=2)
    up(fake_dy, "a", owner="o")
    up(fake_dy, "b", owner="o")
    clock.advance(M)  # both were used a minute ago: agents thinking, not idle
    with pytest.raises(QuotaExceeded, match="owner 'o' has 2 live workspaces, the limit is 2"):
        up(fake_dy, "c", owner="o")
    assert fake_dy.ctx.store.workspaces.get("c") is None
    fake_dy.stop("a")  # a stopped workspace is not live
    assert up(fake_dy, "c", owner="o") is Outcome.CREATED
    with pytest.raises(QuotaExceeded):
        up(fake_dy, "a")  # starting it again needs room too


def test_restart_detaches_sessions_of_the_dead_manager(fake_dy: Dockyard) -> None:
    up(fake_dy)
    dead = f"{socket.gethostname()}:{2**22 + 7}"
    store = fake_dy.ctx.store
    shell = store.sessions.open(
        workspace_key="k", kind=SessionKind.SHELL, holder=dead, at=fake_dy.ctx.now()
    )
    execution = store.sessions.open(
        workspace_key="k", kind=SessionKind.EXEC, holder=dead, at=fake_dy.ctx.now()
    )
    alive = store.sessions.open(
        workspace_key="k", kind=SessionKind.AGENT, holder=fake_dy.ctx.holder, at=fake_dy.ctx.now()
    )
    assert recover_sessions(fake_dy.ctx) == 2
    status = {s.id: s.status for s in store.sessions.list()}
    assert status == {
        shell.id: SessionStatus.DETACHED,
        execution.id: SessionStatus.DEAD,
        alive.id: SessionStatus.ACTIVE,
    }


def test_restart_adopts_a_container_started_outside(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    up(fake_dy)
    fake_dy.stop("k")
    fake_engine.start_container(ref=fake_dy.get("k").name)  # someone ran `docker start`
    run_pass(fake_dy.ctx)
    assert fake_dy.get("k").state is State.RUNNING


def test_a_datagram_wakes_the_loop(fake_dy: Dockyard) -> None:
    loop = Reconciler(fake_dy.ctx)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        socket_path = fake_dy.ctx.settings.data_dir / "reconciler.sock"
        wait_until(lambda: loop.status.passes >= 1 and socket_path.exists(), what="first pass")
        notify(fake_dy.ctx.settings.data_dir)
        wait_until(lambda: loop.status.passes >= 2, what="a pass woken by the datagram")
    finally:
        loop.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_wake_up_the_loops_own_process_sent_is_not_a_second_pass(fake_dy: Dockyard) -> None:
    """An API call wakes its server's loop directly and tells the others (datagram,
    NOTIFY); the loop hears its own message too and must not run again for it."""
    loop = Reconciler(fake_dy.ctx)
    loop._woken_by(fake_dy.ctx.holder)
    assert not loop._wake.is_set()
    loop._woken_by("another-host:1:p0123456789abcdef")
    assert loop._wake.is_set()


def test_the_retry_of_a_failed_save_is_scheduled_not_spun_for(
    fake_dy: Dockyard, clock: FakeClock
) -> None:
    """Planned ahead like any park: no pass runs between this one and the retry (the
    loop used to re-run full passes back to back until the moment came)."""
    up(fake_dy)
    ws = fake_dy.get("k")
    failed = replace(
        ws.transition(State.PARKING, now=clock.now).transition(
            State.SAVE_FAILED, now=clock.now, reason="save failed: disk full"
        ),
        save_attempts=1,
    )
    assert fake_dy.ctx.store.workspaces.save(failed, expect_state=State.RUNNING)
    reports: list[PassReport] = []
    loop = Reconciler(fake_dy.ctx, on_pass=reports.append, lead=timedelta(seconds=1))
    clock.advance(M - timedelta(milliseconds=100))  # the retry is 100 ms away
    assert loop.step() == 60.0  # nothing left to wake for: the retry is scheduled
    clock.advance(timedelta(milliseconds=100))
    loop.settle()
    assert loop.status.passes == 1
    assert fake_dy.get("k").state is State.PARKED
    assert [(r.action.verb, r.outcome) for r in reports[-1].results] == [("park", "done")]


def test_the_scheduled_gc_is_part_of_the_plan_the_dry_run_and_stats_show(
    fake_dy: Dockyard, clock: FakeClock
) -> None:
    """One plan: what ``clean --dry-run`` lists is what a pass does, and stats say when."""
    settings = fake_dy.ctx.settings  # gc scheduled hourly, as a settings file would say
    fake_dy.ctx.settings = settings.model_copy(
        update={"gc": settings.gc.model_copy(update={"interval": 60 * M})}
    )
    up(fake_dy)
    fake_dy.remove("k")  # its volume stays until gc
    clock.advance(timedelta(days=8))
    volume = fake_dy.get("k").volume
    [pending] = [p for p in fake_dy.stats()["pending_cleanup"] if p.get("target") == volume]
    assert (pending["action"], pending["reason"], pending["in_s"]) == ("gc", "gc", 0.0)
    dry = fake_dy.clean(dry_run=True)
    [network] = fake_dy.ctx.engine.list_networks(labels={})  # the owner's, unused now
    assert [(a.verb, a.target) for a in dry.plan.actions] == [
        ("gc", volume),
        ("gc", network.name),
    ]
    assert dry.results == []
    report = fake_dy.clean()
    assert [(r.action.verb, r.outcome) for r in report.results] == [("gc", "done")] * 2
    assert fake_dy.ctx.engine.list_volumes(labels={}) == []
    assert fake_dy.ctx.engine.list_networks(labels={}) == []
    assert "gc.removed" in events(fake_dy)
    assert fake_dy.clean(dry_run=True).plan.actions == ()  # the next run is an hour away
    later = fake_dy.stats()["pending_cleanup"]
    assert later == []


def test_a_container_an_rm_in_progress_removed_is_not_marked_vanished(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    """While an operation holds the lease, what the engine shows is its doing: the pass
    that saw the container gone used to mark the record failed under the rm's feet."""
    up(fake_dy)
    with fake_dy.ctx.lock("k"):  # as rm holds it, between removing and recording
        fake_engine.remove_container(ref=fake_dy.get("k").name)
        report = run_pass(fake_dy.ctx)
        assert [(r.action.verb, r.outcome) for r in report.results] == [("mark failed", "skipped")]
    assert fake_dy.get("k").state is State.RUNNING
    assert fake_dy.remove("k").changed


def test_an_extended_warned_workspace_is_warned_again_before_its_new_deadline(
    fake_dy: Dockyard, clock: FakeClock
) -> None:
    """extend kept it warned: every pass tried to warn again (warned -> warned, refused)."""
    up(fake_dy)
    clock.advance(40 * M)
    assert [type(r.action) for r in run_pass(fake_dy.ctx).results] == [Warn]
    fake_dy.extend("k", by=30 * M)  # deadline 45m -> 75m
    assert fake_dy.get("k").state is State.RUNNING
    clock.advance(31 * M)  # 71m: within warn_before of the new deadline
    [result] = run_pass(fake_dy.ctx).results
    assert (type(result.action), result.outcome) == (Warn, "done")
    assert fake_dy.get("k").warned_deadline == T0 + 75 * M


@pytest.mark.parametrize(
    "action",
    [
        lambda rev: Park("k", Reason.CRASHED, "its container never started", revision=rev),
        lambda rev: Park("k", Reason.STOPPED_TOO_LONG, "stopped for 2h", revision=rev),
        lambda rev: MarkStopped("k", Reason.EXITED, "its container exited", revision=rev),
    ],
)
def test_a_plan_on_a_listing_from_before_the_start_does_not_act(
    fake_dy: Dockyard, action: Callable[[int], AnyAction]
) -> None:
    """The listing saw the container before its start, the store read the record after
    the create finished: a running record, a container never started. The executor
    looks again first."""
    fake_dy.acquire(AcquireRequest(key="k"))
    result = execute(fake_dy.ctx, action(fake_dy.get("k").revision))
    assert (result.outcome, result.message) == (
        Verdict.SKIPPED,
        "its container runs now (the plan saw it before it started)",
    )
    assert fake_dy.get("k").state is State.RUNNING


def test_the_loop_looks_at_capped_volumes_every_30s_and_warns_once_per_crossing(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    up(fake_dy)
    ws = fake_dy.get("k")  # capped as the store records it (the fake has no loop devices)
    capped = replace(ws, resources=replace(ws.resources, disk_bytes=100 * 1024**2))
    assert fake_dy.ctx.store.workspaces.save(capped, expect_state=ws.state)
    fake_engine.volume_bytes[ws.volume] = 95 * 1024**2
    looks: list[int] = []
    looked = threading.Event()

    def look(ctx: Context) -> int:
        sent = watch_disks(ctx)
        looks.append(sent)
        looked.set()
        return sent

    monkeypatch.setattr("dockyard.service.reconcile.loop.watch_disks", look)
    loop = Reconciler(fake_dy.ctx)
    for advance, wanted in ((0, [1]), (10, [1]), (25, [1, 0])):  # 0 s, 10 s, 35 s
        clock.advance(timedelta(seconds=advance))
        looked.clear()
        loop.step()
        if len(wanted) > len(looks):
            assert looked.wait(10), "the loop never looked"
        wait_until(lambda: not loop._disks_busy.locked(), what="the look to end")
        assert looks == wanted
    warned = [
        e for e in fake_dy.ctx.store.events.list(limit=100) if e["type"] == "workspace.disk_warning"
    ]
    assert [e["data"]["percent"] for e in warned] == [None]  # the fake tells no file system size
    assert warned[0]["data"]["used_bytes"] == 95 * 1024**2
    fake_engine.volume_bytes[ws.volume] = 10 * 1024**2
    assert watch_disks(fake_dy.ctx) == 0 and fake_dy.get("k").disk_warned is False  # re-armed
    fake_engine.volume_bytes[ws.volume] = 99 * 1024**2
    assert watch_disks(fake_dy.ctx) == 1
