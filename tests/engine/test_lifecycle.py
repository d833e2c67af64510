"""The reconciler's rules end to end on the real engine, with an injected clock.

Containers are real; time is not: the clock starts at the real time (so the engine's
own timestamps line up) and the tests move it forward instead of waiting.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dockyard.core.model import Outcome, SessionKind, SessionStatus, State
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_MANAGED, LABEL_WORKSPACE
from dockyard.engine.base import ExecSpec
from dockyard.engine.docker import DockerEngine
from dockyard.engine.models import ContainerSpec
from dockyard.service import AcquireRequest, Context, Dockyard
from dockyard.service.reconcile.execute import execute
from dockyard.service.reconcile.passes import run_pass
from dockyard.service.workspaces.sessions import recover_sessions
from tests.engine_fixtures import gone
from tests.helpers import FakeClock, wait_until

M = timedelta(minutes=1)


def up(dy: Dockyard, key: str, **kwargs: Any) -> Outcome:
    return dy.acquire(AcquireRequest(key=key, **kwargs)).outcome


def sh(dy: Dockyard, key: str, script: str) -> int:
    return dy.exec(key, ["sh", "-c", script], on_output=lambda _s, _d: None)


def background(dy: Dockyard, key: str, script: str) -> None:
    """Start ``script`` detached from its exec (it outlives it, like an agent's build)."""
    assert sh(dy, key, f"sh -c '{script}' </dev/null >/dev/null 2>&1 & sleep 0.2") == 0


def test_idle_is_warned_then_parked_and_comes_back(
    timed: Dockyard, clock: FakeClock, docker: DockerEngine
) -> None:
    up(timed, "idle")
    sh(timed, "idle", "echo work > /workspace/f")
    name = timed.get("idle").name
    clock.advance(41 * M)
    run_pass(timed.ctx)
    assert timed.get("idle").state is State.WARNED
    clock.advance(5 * M)
    run_pass(timed.ctx)
    assert timed.get("idle").state is State.PARKED and gone(docker, name)
    assert up(timed, "idle") is Outcome.RESTORED
    out: list[bytes] = []
    timed.exec("idle", ["cat", "/workspace/f"], on_output=lambda _s, d: out.append(d))
    assert b"".join(out) == b"work\n"


def test_busy_cpu_is_not_parked(timed: Dockyard, clock: FakeClock) -> None:
    up(timed, "cpu")
    # A detached busy loop inside the container: real work with no connection at all.
    background(timed, "cpu", "while :; do :; done")
    clock.advance(50 * M)
    report = run_pass(timed.ctx)
    [result] = report.results
    assert result.action.verb == "keep alive" and result.message.startswith("kept alive: cpu ")
    assert timed.get("cpu").state is State.RUNNING


def test_named_process_is_not_parked(timed: Dockyard, clock: FakeClock) -> None:
    timed.ctx.policy = replace(timed.ctx.policy, busy_cpu_percent=0, busy_processes=("build.sh",))
    up(timed, "proc")
    sh(timed, "proc", "printf 'sleep 600\\n' > /tmp/build.sh")
    background(timed, "proc", "sh /tmp/build.sh")
    clock.advance(50 * M)
    [result] = run_pass(timed.ctx).results
    assert result.message == "kept alive: process build.sh is running"
    assert timed.get("proc").state is State.RUNNING


def test_touched_is_not_parked(timed: Dockyard, clock: FakeClock) -> None:
    up(timed, "t")
    clock.advance(44 * M)
    timed.touch("t")
    clock.advance(44 * M)
    run_pass(timed.ctx)
    assert timed.get("t").state in (State.RUNNING, State.WARNED)


def test_keep_is_never_touched(timed: Dockyard, clock: FakeClock, docker: DockerEngine) -> None:
    up(timed, "kept", keep=True)
    docker.stop_container(ref=timed.get("kept").name, timeout_s=0)
    clock.advance(timedelta(days=30))
    report = run_pass(timed.ctx)
    records = {"mark failed", "mark stopped"}  # what the record says, nothing done to it
    assert [a for a in report.plan.actions if a.key == "kept" and a.verb not in records] == []
    assert not gone(docker, timed.get("kept").name)


def test_orphans_leftovers_go_but_not_others_or_unlabelled(
    timed: Dockyard, clock: FakeClock, docker: DockerEngine
) -> None:
    image = timed.ctx.settings.workspace.image
    ours = {LABEL_MANAGED: "true", LABEL_INSTALLATION: timed.ctx.installation}
    suffix = timed.ctx.installation

    def make(name: str, labels: dict[str, str], *, start: bool) -> str:
        spec = ContainerSpec(
            name=f"{name}-{suffix}", image=image, command=["sleep", "600"], labels=labels
        )
        container_id = docker.create_container(spec=spec)
        if start:
            docker.start_container(ref=container_id)
        return container_id

    orphan = make("orphan", {**ours, LABEL_WORKSPACE: "nobody"}, start=True)
    leftover = make("leftover", ours, start=False)
    other = make("other", {LABEL_MANAGED: "true", LABEL_INSTALLATION: "someone-else"}, start=True)
    plain = make("plain", {}, start=False)
    try:
        run_pass(timed.ctx)
        assert not gone(docker, orphan) and not gone(docker, leftover)  # within their grace
        clock.advance(11 * M)
        report = run_pass(timed.ctx)
        assert sorted(r.action.reason.value for r in report.results) == ["leftover", "orphan"]
        assert gone(docker, orphan) and gone(docker, leftover)
        assert not gone(docker, other) and not gone(docker, plain)
    finally:
        docker.remove_container(ref=other)
        docker.remove_container(ref=plain)


def test_a_stop_through_the_engine_is_a_stop_not_a_crash(
    timed: Dockyard, clock: FakeClock, docker: DockerEngine
) -> None:
    """``docker stop``: the init passes TERM on and the command exits non-zero; the
    engine's log says someone asked (kill, stop), so it is kept for stopped_retention."""
    up(timed, "s")
    name = timed.get("s").name
    docker.stop_container(ref=name, timeout_s=0)
    assert docker.inspect_container(ref=name).exit_code != 0
    [result] = run_pass(timed.ctx).results
    assert (result.action.verb, result.action.reason.value) == ("mark stopped", "exited")
    assert timed.get("s").state is State.STOPPED
    clock.advance(61 * M)
    [result] = run_pass(timed.ctx).results
    assert (result.action.verb, result.action.reason.value) == ("park", "stopped_too_long")
    assert timed.get("s").state is State.PARKED


def test_crashed_container_is_parked_at_once(timed: Dockyard, docker: DockerEngine) -> None:
    up(timed, "crash")
    sh(timed, "crash", "kill -9 $(pidof sleep) || true")  # the workspace's only process dies
    name = timed.get("crash").name
    wait_until(lambda: not docker.inspect_container(ref=name).running, what="container exit")
    assert docker.inspect_container(ref=name).exit_code != 0
    [result] = run_pass(timed.ctx).results
    assert (result.action.verb, result.action.reason.value) == ("park", "crashed")
    assert timed.get("crash").state is State.PARKED
    assert up(timed, "crash") is Outcome.RESTORED


def test_quota_parks_the_oldest_idle(
    timed: Dockyard, clock: FakeClock, docker: DockerEngine
) -> None:
    timed.ctx.policy = replace(timed.ctx.policy, max_workspaces_per_owner=2)
    up(timed, "q1", owner="o")
    clock.advance(10 * M)
    up(timed, "q2", owner="o")
    clock.advance(10 * M)
    first = timed.get("q1").name
    assert up(timed, "q3", owner="o") is Outcome.CREATED
    assert timed.get("q1").state is State.PARKED and gone(docker, first)
    assert timed.get("q2").state is State.RUNNING


def test_restart_adopts_whats_running(
    timed: Dockyard, engine_settings: Any, clock: FakeClock, docker: DockerEngine
) -> None:
    up(timed, "adopt")
    up(timed, "lost")
    timed.stop("adopt")
    docker.start_container(ref=timed.get("adopt").name)  # started behind dockyard's back
    docker.remove_container(ref=timed.get("lost").name)  # vanished while we were down
    shell = timed.ctx.store.sessions.open(
        workspace_key="adopt", kind=SessionKind.SHELL, holder="gone-host:1", at=clock.now
    )
    # a new manager process on the same store: recover, then one pass
    restarted = Context(
        settings=engine_settings,
        store=timed.ctx.store,
        engine=timed.ctx.engine,
        clock=clock,
        holder=f"{timed.ctx.holder.split(':')[0]}:{2**22 + 99}",
    )
    timed.ctx.store.sessions.set_status([shell.id], SessionStatus.ACTIVE)
    recover_sessions(restarted)
    run_pass(restarted)
    assert timed.get("adopt").state is State.RUNNING
    assert timed.get("lost").state is State.FAILED
    assert up(timed, "lost") is Outcome.RESTORED


def test_a_touch_arriving_while_the_reconciler_decides_wins(
    timed: Dockyard, clock: FakeClock, docker: DockerEngine
) -> None:
    up(timed, "race")
    clock.advance(46 * M)
    [action] = run_pass(timed.ctx, dry_run=True).plan.actions
    assert action.verb == "park"
    timed.touch("race")
    result = execute(timed.ctx, action)
    assert result.outcome == "skipped"
    assert docker.inspect_container(ref=timed.get("race").name).running


def test_docker_exec_by_hand_counts_as_activity_in_a_one_shot_pass(
    timed: Dockyard, clock: FakeClock
) -> None:
    clock.now = datetime.now(UTC) - 10 * M  # recorded activity: ten minutes ago
    up(timed, "by-hand")
    run_pass(timed.ctx)  # the previous pass
    name = timed.get("by-hand").name
    # someone runs `docker exec` directly, not through dockyard
    exec_id = timed.ctx.engine.exec_create(ref=name, spec=ExecSpec(argv=["true"]))
    timed.ctx.engine.exec_start(exec_id=exec_id, tty=False).close()
    seen = datetime.now(UTC)
    clock.now = seen + 40 * M  # idle for 50 min by the record, 40 min since the exec
    report = run_pass(timed.ctx)
    assert "park" not in [r.action.verb for r in report.results]  # warned or kept alive
    assert timed.get("by-hand").last_activity_at >= seen - timedelta(seconds=5)
