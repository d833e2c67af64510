"""The planner as decision tables: state x container x time x keep x busy -> action."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from dockyard.core.actions import (
    Action,
    CloseSession,
    DeleteCheckpoint,
    KeepAlive,
    MarkFailed,
    MarkRunning,
    MarkStopped,
    Park,
    Reason,
    Recover,
    RemoveContainer,
    Warn,
)
from dockyard.core.model import (
    Checkpoint,
    CheckpointKind,
    PolicyOverrides,
    SaveStrategy,
    Session,
    SessionKind,
    SessionStatus,
    State,
    Workspace,
)
from dockyard.core.planner import (
    Activity,
    ObservedContainer,
    Plan,
    idle_candidates,
    plan,
)
from dockyard.core.policy import Policy, Rule
from dockyard.core.quota import live_count, quota_victim
from dockyard.core.schedule import due_between
from tests.helpers import T0, workspace

M = timedelta(minutes=1)
POLICY = Policy()  # idle 45m, warn 5m, stopped 1h, orphan 10m, leftover 1m, interrupted 2m


def container(status: str = "running", **changes: object) -> ObservedContainer:
    base = ObservedContainer(
        id="c0ffee", name="dy-k-aaaaaaaa", key="k", status=status, created_at=T0
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(
    ws: Workspace,
    observed: ObservedContainer | None,
    *,
    at: timedelta,
    activity: Activity | None = None,
    policy: Policy = POLICY,
) -> Plan:
    return plan(
        now=T0 + at,
        policy=policy,
        workspaces=[ws],
        containers=[observed] if observed else [],
        activity={ws.key: activity} if activity else {},
    )


def only(p: Plan) -> Action | None:
    assert len(p.actions) <= 1
    return p.actions[0] if p.actions else None


# -- idle ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected", "reason"),
    [
        (10 * M, None, None),
        (39 * M, None, None),
        (40 * M, Warn, Reason.IDLE_SOON),  # warn_before (5m) before the deadline
        (44 * M, Warn, Reason.IDLE_SOON),
        (45 * M, Park, Reason.IDLE),
        (5 * 60 * M, Park, Reason.IDLE),
    ],
)
def test_running_idle_timeline(at: timedelta, expected: type | None, reason: Reason | None) -> None:
    action = only(run(workspace(), container(), at=at))
    assert type(action) is expected if expected else action is None
    if reason:
        assert action is not None and action.reason is reason


def test_warning_is_once_per_deadline() -> None:
    deadline = T0 + 45 * M
    warned = workspace(state=State.WARNED, warned_deadline=deadline)
    p = run(warned, container(), at=42 * M)
    assert p.actions == ()
    assert p.upcoming["k"].action == "park" and p.upcoming["k"].at == deadline
    # a new deadline (activity happened) gets its own warning
    later = replace(warned, last_activity_at=T0 + 10 * M)
    assert isinstance(only(run(later, container(), at=51 * M)), Warn)


def test_warn_carries_the_deadline_and_the_park_is_next() -> None:
    p = run(workspace(), container(), at=41 * M)
    action = only(p)
    assert isinstance(action, Warn) and action.deadline == T0 + 45 * M
    # the loop need not look again before the deadline the warning announces
    assert p.upcoming["k"].action == "park" and p.next_wakeup == T0 + 45 * M


def test_only_workspaces_due_a_warning_or_a_park_are_probed_for_busyness() -> None:
    def probed(ws: Workspace, at: timedelta) -> bool:
        return bool(idle_candidates(now=T0 + at, policy=POLICY, workspaces=[ws]))

    ws = workspace()
    warned = replace(ws, state=State.WARNED, warned_deadline=T0 + 45 * M)
    assert not probed(ws, 39 * M)
    assert probed(ws, 40 * M)  # the warning is due
    assert not probed(warned, 42 * M)  # warned: nothing due until the deadline
    assert probed(warned, 45 * M)  # the park is due
    assert not probed(replace(ws, keep=True), 50 * M)
    assert not probed(replace(ws, state=State.STOPPED), 50 * M)


def test_what_falls_due_before_the_horizon_comes_with_its_moment() -> None:
    warned = replace(workspace(), state=State.WARNED, warned_deadline=T0 + 45 * M)
    now = run(warned, container(), at=44 * M)
    ahead = run(warned, container(), at=46 * M)
    [(at, action)] = due_between(now, ahead, T0 + 46 * M)
    assert at == T0 + 45 * M and isinstance(action, Park)
    assert due_between(now, ahead, T0 + 44 * M + timedelta(seconds=30)) == []  # not by then


def test_upcoming_and_next_wakeup() -> None:
    p = run(workspace(), container(), at=10 * M)
    assert p.upcoming["k"].action == "warn" and p.upcoming["k"].at == T0 + 40 * M
    assert p.next_wakeup == T0 + 40 * M


@pytest.mark.parametrize("at", [40 * M, 45 * M, 3 * 60 * M])
def test_busy_near_the_deadline_keeps_it_alive(at: timedelta) -> None:
    action = only(run(workspace(), container(), at=at, activity=Activity(busy="cpu 80%")))
    assert isinstance(action, KeepAlive) and action.detail == "cpu 80%"


def test_busy_far_from_the_deadline_needs_nothing() -> None:
    assert only(run(workspace(), container(), at=10 * M, activity=Activity(busy="cpu 80%"))) is None


def test_live_session_use_counts_as_activity() -> None:
    recent = Activity(last_session_use=T0 + 30 * M)
    assert only(run(workspace(), container(), at=50 * M, activity=recent)) is None
    assert isinstance(only(run(workspace(), container(), at=75 * M, activity=recent)), Park)


def test_extension_moves_the_deadline() -> None:
    ws = workspace(extended_until=T0 + 2 * 60 * M)
    assert only(run(ws, container(), at=60 * M)) is None
    assert isinstance(only(run(ws, container(), at=115 * M)), Warn)


def test_rules_override_the_idle_timeout() -> None:
    policy = Policy(rules=(Rule(owner="ali*", overrides=PolicyOverrides(idle_timeout=10 * M)),))
    assert isinstance(only(run(workspace(), container(), at=11 * M, policy=policy)), Park)
    other = workspace(owner="bob")
    assert only(run(other, container(), at=11 * M, policy=policy)) is None


def test_workspace_override_beats_rules() -> None:
    ws = workspace(overrides=PolicyOverrides(idle_timeout=2 * M))
    assert isinstance(only(run(ws, container(), at=3 * M)), Park)


# -- never touched ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ws", "observed"),
    [
        (workspace(keep=True), container()),
        (workspace(), container(keep=True)),
        (workspace(state=State.STOPPED, keep=True), container("exited", exit_code=0)),
        (workspace(state=State.FAILED, keep=True), container("exited", exit_code=1)),
    ],
)
def test_keep_is_never_parked_or_warned(ws: Workspace, observed: ObservedContainer) -> None:
    for at in (41 * M, 46 * M, 100 * 60 * M):
        assert only(run(ws, observed, at=at)) is None


def test_running_orphan_with_keep_label_is_left_alone() -> None:
    p = plan(now=T0 + 100 * M, policy=POLICY, workspaces=[], containers=[container(keep=True)])
    assert p.actions == ()


# -- crashed, exited, vanished, started outside ------------------------------------------


@pytest.mark.parametrize(
    ("observed", "expected", "detail"),
    [
        (container("exited", exit_code=137, oom_killed=True), Park, "exited 137 (OOM-killed)"),
        (container("exited", exit_code=2), Park, "exited 2"),
        (container("dead", exit_code=1), Park, "exited 1"),
        (container("created"), Park, "its container never started"),
        (container("exited", exit_code=0), MarkStopped, "its container exited (code 0)"),
        (container("exited", exit_code=143), Park, "exited 143"),  # TERM nobody asked for
        (
            container("exited", exit_code=143, stop_requested=True),
            MarkStopped,
            "its container was stopped through the engine (exit 143)",
        ),
        (
            container("exited", exit_code=137, oom_killed=True, stop_requested=True),
            Park,
            "exited 137 (OOM-killed)",
        ),
        (None, MarkFailed, "its container is gone"),
    ],
)
def test_running_record_whose_container_is_not(
    observed: ObservedContainer | None, expected: type, detail: str
) -> None:
    action = only(run(workspace(), observed, at=M))  # handled at once, not at a deadline
    assert type(action) is expected and action is not None and action.detail == detail


def test_crashed_is_parked_with_reason_crashed() -> None:
    action = only(run(workspace(), container("exited", exit_code=1), at=M))
    assert isinstance(action, Park) and action.reason is Reason.CRASHED


def test_stopped_record_whose_container_runs_is_adopted() -> None:
    action = only(run(workspace(state=State.STOPPED), container(), at=M))
    assert isinstance(action, MarkRunning) and action.container_id == "c0ffee"


def test_failed_record_with_container_is_parked_or_adopted() -> None:
    failed = workspace(state=State.FAILED, reason="exited 1")
    assert isinstance(only(run(failed, container("exited", exit_code=1), at=M)), Park)
    assert isinstance(only(run(failed, container(), at=M)), MarkRunning)
    assert only(run(failed, None, at=M)) is None  # nothing left: the next up restores


def test_container_matched_by_name_when_the_id_changed() -> None:
    ws = workspace(container_id="old")
    assert only(run(ws, container(id="new"), at=M)) is None


# -- stopped retention ---------------------------------------------------------------------


@pytest.mark.parametrize(("at", "park"), [(59 * M, False), (60 * M, True), (600 * M, True)])
def test_stopped_retention(at: timedelta, park: bool) -> None:
    stopped = workspace(state=State.STOPPED, state_changed_at=T0)
    observed = container("exited", exit_code=0, finished_at=T0)
    action = only(run(stopped, observed, at=at))
    assert (type(action) is Park) == park
    if park:
        assert action is not None and action.reason is Reason.STOPPED_TOO_LONG


# -- orphans and leftovers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "at", "expected"),
    [
        (container(key="gone"), 9 * M, None),
        (container(key="gone"), 10 * M, Reason.ORPHAN),
        (container("exited", key=None), 10 * M, Reason.ORPHAN),
        (container("created", key="gone"), 59 * timedelta(seconds=1), None),
        (container("created", key="gone"), M, Reason.LEFTOVER),
    ],
)
def test_orphans_and_leftovers_after_their_grace(
    observed: ObservedContainer, at: timedelta, expected: Reason | None
) -> None:
    p = plan(now=T0 + at, policy=POLICY, workspaces=[], containers=[observed])
    action = only(p)
    if expected is None:
        assert action is None and p.next_wakeup is not None
    else:
        assert isinstance(action, RemoveContainer) and action.reason is expected


def test_container_of_a_creating_record_is_not_an_orphan() -> None:
    creating = workspace(state=State.CREATING, container_id=None, name="other")
    leftover = container("created", key="k")
    p = plan(now=T0 + M, policy=POLICY, workspaces=[creating], containers=[leftover])
    assert p.actions == ()


def test_stopped_container_of_a_parked_workspace_is_removed() -> None:
    parked = workspace(state=State.PARKED, container_id=None)
    action = only(run(parked, container("exited", exit_code=0, finished_at=T0), at=11 * M))
    assert isinstance(action, RemoveContainer) and action.reason is Reason.ORPHAN
    # a running one might hold work: left alone
    assert only(run(parked, container(), at=11 * M)) is None


# -- interrupted operations --------------------------------------------------------------


@pytest.mark.parametrize("state", [State.CREATING, State.RESTORING, State.PARKING])
def test_interrupted_operations_are_recovered_after_a_while(state: State) -> None:
    ws = workspace(state=state, state_changed_at=T0)
    assert only(run(ws, container(), at=M)) is None
    assert isinstance(only(run(ws, container(), at=2 * M)), Recover)


@pytest.mark.parametrize("state", [State.CREATING, State.RESTORING, State.PARKING])
def test_an_operation_whose_manager_is_gone_is_recovered_at_once(state: State) -> None:
    ws = workspace(state=state, state_changed_at=T0)
    recovered = only(
        run(ws, container(), at=timedelta(seconds=1), activity=Activity(abandoned=True))
    )
    assert isinstance(recovered, Recover)
    assert recovered.detail.endswith("its manager gone")


# -- the plan as a whole ------------------------------------------------------------------


def test_no_records_no_containers_no_actions() -> None:
    assert plan(now=T0, policy=POLICY, workspaces=[], containers=[]) == Plan(actions=())


def test_actions_carry_the_revision_they_were_planned_on() -> None:
    action = only(run(workspace(revision=7), container(), at=46 * M))
    assert isinstance(action, Park) and action.revision == 7


def test_many_workspaces_earliest_wakeup() -> None:
    wss = [
        workspace(key=f"k{i}", name=f"n{i}", container_id=f"c{i}", last_activity_at=T0 + i * M)
        for i in range(5)
    ]
    observed = [container(id=f"c{i}", name=f"n{i}", key=f"k{i}") for i in range(5)]
    p = plan(now=T0, policy=POLICY, workspaces=wss, containers=observed)
    assert p.next_wakeup == T0 + 40 * M
    assert set(p.upcoming) == {f"k{i}" for i in range(5)}


# -- quota --------------------------------------------------------------------------------


def _owned(n: int, now: datetime) -> list[Workspace]:
    return [
        workspace(key=f"k{i}", name=f"n{i}", last_activity_at=now - (10 + i) * M) for i in range(n)
    ]


def test_quota_parks_the_oldest_idle() -> None:
    now = T0 + 60 * M
    owned = _owned(5, now)
    victim = quota_victim(now=now, policy=POLICY, workspaces=owned, activity={}, exclude="new")
    assert victim is not None and victim.key == "k4"


def test_quota_skips_busy_kept_and_recently_used() -> None:
    now = T0 + 60 * M
    owned = _owned(3, now)
    owned[2] = replace(owned[2], keep=True)
    activity = {"k1": Activity(busy="1 running exec"), "k0": Activity(last_session_use=now)}
    assert (
        quota_victim(now=now, policy=POLICY, workspaces=owned, activity=activity, exclude="x")
        is None
    )


def test_quota_never_parks_a_workspace_used_moments_ago() -> None:
    now = T0 + 60 * M
    thinking = [workspace(key="a", last_activity_at=now - M)]  # the model is thinking
    assert (
        quota_victim(now=now, policy=POLICY, workspaces=thinking, activity={}, exclude="x") is None
    )


def test_live_count() -> None:
    states = [State.RUNNING, State.WARNED, State.CREATING, State.STOPPED, State.PARKED]
    wss = [workspace(key=str(i), state=s) for i, s in enumerate(states)]
    assert live_count(wss, exclude="0") == 2


# -- failed saves -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "retry_after"),
    [(1, 1 * M), (2, 2 * M), (3, 4 * M), (7, 60 * M), (40, 60 * M)],  # doubling, capped at 1h
)
def test_a_failed_save_is_retried_after_a_doubling_backoff(
    attempts: int, retry_after: timedelta
) -> None:
    ws = workspace(state=State.SAVE_FAILED, save_attempts=attempts, reason="save failed: disk")
    waiting = run(ws, container(), at=retry_after - timedelta(seconds=1))
    assert only(waiting) is None
    assert waiting.upcoming["k"].action == "retry park"
    assert waiting.upcoming["k"].at == T0 + retry_after
    action = only(run(ws, container(), at=retry_after))
    assert isinstance(action, Park)
    assert action.reason is Reason.SAVE_FAILED
    assert "save failed: disk" in action.detail


def test_a_failed_save_of_a_kept_workspace_is_not_retried() -> None:
    ws = workspace(state=State.SAVE_FAILED, save_attempts=1, keep=True)
    assert only(run(ws, container(), at=10 * M)) is None


def test_a_failed_save_whose_container_vanished_is_marked_failed() -> None:
    action = only(run(workspace(state=State.SAVE_FAILED, save_attempts=1), None, at=M))
    assert isinstance(action, MarkFailed)


# -- checkpoints --------------------------------------------------------------------------


def checkpoint(**changes: object) -> Checkpoint:
    base = Checkpoint(
        id="ck1",
        workspace_key="k",
        strategy=SaveStrategy.GIT,
        kind=CheckpointKind.BUNDLE,
        created_at=T0,
        expires_at=T0 + timedelta(days=7),
        verified=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def plan_checkpoints(ws: Workspace | None, ck: Checkpoint, *, at: timedelta) -> Plan:
    """The plan's checkpoint actions (the workspace's own are other tests' business)."""
    full = plan(
        now=T0 + at,
        policy=POLICY,
        workspaces=[ws] if ws else [],
        containers=[],
        checkpoints=[ck],
    )
    actions = tuple(a for a in full.actions if isinstance(a, DeleteCheckpoint))
    return replace(full, actions=actions)


PARKED = workspace(state=State.PARKED, container_id=None, checkpoint_id="ck1")


def test_a_checkpoint_expires_at_its_retention() -> None:
    before = plan_checkpoints(PARKED, checkpoint(), at=timedelta(days=7) - M)
    assert before.actions == ()
    assert before.next_wakeup == T0 + timedelta(days=7)
    [action] = plan_checkpoints(PARKED, checkpoint(), at=timedelta(days=7)).actions
    assert isinstance(action, DeleteCheckpoint)
    assert (action.reason, action.checkpoint_id) == (Reason.EXPIRED, "ck1")


def test_the_image_a_running_workspace_was_restored_from_is_not_expired() -> None:
    image = checkpoint(kind=CheckpointKind.IMAGE, ref="sha256:x")
    running = workspace(checkpoint_id="ck1")
    assert plan_checkpoints(running, image, at=timedelta(days=30)).actions == ()
    assert plan_checkpoints(PARKED, image, at=timedelta(days=30)).actions != ()


@pytest.mark.parametrize("state", [State.PARKING, State.SAVE_FAILED])
def test_an_unfinished_checkpoint_is_left_to_the_save_at_work(state: State) -> None:
    ws = workspace(state=state)
    assert plan_checkpoints(ws, checkpoint(verified=False), at=timedelta(hours=1)).actions == ()


def test_an_unfinished_checkpoint_of_an_idle_workspace_is_a_leftover() -> None:
    unfinished = checkpoint(verified=False)
    assert plan_checkpoints(PARKED, unfinished, at=M).actions == ()  # inside interrupted_after
    [action] = plan_checkpoints(PARKED, unfinished, at=2 * M).actions
    assert isinstance(action, DeleteCheckpoint)
    assert action.reason is Reason.LEFTOVER


def test_a_checkpoint_without_a_workspace_is_an_orphan() -> None:
    [action] = plan_checkpoints(None, checkpoint(), at=M).actions
    assert isinstance(action, DeleteCheckpoint)
    assert action.reason is Reason.ORPHAN


def test_a_warning_comes_at_most_halfway_through_the_idle_timeout() -> None:
    """warn_before longer than the idle timeout warned at once, after every use."""
    policy = replace(POLICY, idle_timeout=10 * M, warn_before=60 * M)
    assert only(run(workspace(), container(), at=4 * M, policy=policy)) is None
    assert isinstance(only(run(workspace(), container(), at=5 * M, policy=policy)), Warn)


def a_session(kind: SessionKind = SessionKind.COMMAND, **changes: object) -> Session:
    base = Session(
        id="5e55",
        workspace_key="k",
        kind=kind,
        status=SessionStatus.DETACHED,
        created_at=T0,
        last_used=T0,
        holder="h:1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def sessions_plan(
    session: Session, *, at: timedelta, policy: Policy = POLICY, ws: Workspace | None = None
) -> list[CloseSession]:
    ws = ws or workspace(extended_until=T0 + 10 * 60 * M)  # never idle in these tests
    found = plan(
        now=T0 + at, policy=policy, workspaces=[ws], containers=[container()], sessions=[session]
    )
    return [a for a in found.actions if isinstance(a, CloseSession)]


def test_an_unused_session_is_closed_at_its_timeout_and_its_workspace_stays() -> None:
    assert sessions_plan(a_session(), at=59 * M) == []
    closing = sessions_plan(a_session(), at=60 * M)
    assert [(c.session_id, c.reason, c.last_used) for c in closing] == [
        ("5e55", Reason.INACTIVE, T0)
    ]
    assert "unused for 1h" in closing[0].detail
    found = plan(
        now=T0 + 30 * M,
        policy=POLICY,
        workspaces=[workspace(extended_until=T0 + 10 * 60 * M)],
        containers=[container()],
        sessions=[a_session()],
    )
    assert found.next_wakeup == T0 + 60 * M


def test_a_session_running_a_command_or_a_one_shot_exec_is_never_closed_for_inactivity() -> None:
    running = a_session(status=SessionStatus.ACTIVE, running_since=T0)
    assert sessions_plan(running, at=10 * 60 * M) == []
    orphaned = a_session(status=SessionStatus.DETACHED, running_since=T0)  # its holder died
    assert len(sessions_plan(orphaned, at=60 * M)) == 1
    assert sessions_plan(a_session(SessionKind.EXEC), at=10 * 60 * M) == []
    closed = a_session(status=SessionStatus.DEAD)
    assert sessions_plan(closed, at=10 * 60 * M) == []


def test_session_timeout_per_rule_and_none_for_a_workspace_being_parked() -> None:
    short = Policy(rules=(Rule(owner="ali*", overrides=PolicyOverrides(session_timeout=5 * M)),))
    assert len(sessions_plan(a_session(), at=5 * M, policy=short)) == 1
    idle = workspace()  # parked at 45m: its sessions end with the park, not before
    assert sessions_plan(a_session(), at=60 * M, ws=idle) == []
