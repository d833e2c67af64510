"""Live sessions on the real engine: a command session keeps its shell's state between
commands, interrupts a command past its timeout and stays usable; closing it ends its
processes; its shell is not a "running exec" that keeps the workspace busy."""

from __future__ import annotations

import threading

import pytest

from dockyard.core.errors import Busy, EngineError, InvalidInput, NotFound, QuotaExceeded, Refused
from dockyard.core.framing import INTERRUPTED, SESSIONS_DIR
from dockyard.core.model import CloseReason, SessionKind, SessionStatus, State
from dockyard.engine.docker import DockerEngine
from dockyard.service import AcquireRequest, Dockyard
from dockyard.settings import Settings
from tests.helpers import FakeClock


def test_a_command_session_keeps_directory_environment_and_background_jobs(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="cs"))
    session = dy.open_session("cs", kind=SessionKind.COMMAND)
    first = dy.run_command(session.id, "cd /tmp && export A=1")
    assert (first.exit_code, first.cwd) == (0, "/tmp")
    second = dy.run_command(session.id, "pwd; echo $A")
    assert second.output == b"/tmp\n1\n" and second.exit_code == 0
    dy.run_command(session.id, "sleep 300 & echo $! > /tmp/job")
    third = dy.run_command(session.id, 'kill -0 "$(cat /tmp/job)" && jobs | wc -l')
    assert third.exit_code == 0 and third.output.strip() == b"1"
    failing = dy.run_command(session.id, "printf 'no newline'; false")
    assert (failing.output, failing.exit_code) == (b"no newline", 1)
    broken = dy.run_command(session.id, 'echo "unterminated')
    assert broken.exit_code != 0 and b"unterminated" in broken.output
    assert dy.run_command(session.id, "echo still $A").output == b"still 1\n"


def test_a_command_past_its_timeout_is_interrupted_and_the_next_one_works(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="ct"))
    session = dy.open_session("ct", kind=SessionKind.COMMAND)
    dy.run_command(session.id, "sleep 300 &")
    slow = dy.run_command(session.id, "echo before; sleep 60; echo after", timeout_s=0.5)
    assert slow.timed_out and slow.exit_code == INTERRUPTED
    assert slow.output.strip() == b"before" and not slow.session_ended  # a shell adds a newline
    after = dy.run_command(session.id, "echo next; jobs | wc -l")
    assert after.output == b"next\n1\n"  # the background job was not interrupted


def test_output_streams_while_the_command_runs(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="cst"))
    session = dy.open_session("cst", kind=SessionKind.COMMAND)
    seen: list[bytes] = []
    first_seen = threading.Event()

    def on_output(data: bytes) -> None:
        seen.append(data)
        first_seen.set()

    def release() -> None:
        first_seen.wait(30)
        dy.exec("cst", ["touch", "/tmp/go"])

    threading.Thread(target=release).start()
    result = dy.run_command(
        session.id,
        "echo first; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo last",
        on_output=on_output,
        timeout_s=30,
    )
    assert result.exit_code == 0 and b"".join(seen) == b"first\nlast\n"


def test_a_second_process_takes_the_session_over_with_its_state(
    dy: Dockyard, engine_settings: Settings
) -> None:
    dy.acquire(AcquireRequest(key="cx"))
    session = dy.open_session("cx", kind=SessionKind.COMMAND)
    dy.run_command(session.id, "cd /etc; X=kept")
    with Dockyard.open(engine_settings) as other:  # as a second CLI process would
        assert other.run_command(session.id, "echo $X; pwd").output == b"kept\n/etc\n"
    assert dy.run_command(session.id, "echo $X").output == b"kept\n"  # and back


def test_exit_ends_the_session_and_closing_ends_its_processes(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="ce"))
    gone = dy.open_session("ce", kind=SessionKind.COMMAND)
    result = dy.run_command(gone.id, "exit 3")
    assert result.session_ended and result.exit_code is None
    assert dy.session(gone.id).closed_reason is CloseReason.ENDED
    with pytest.raises(NotFound, match="closed"):
        dy.run_command(gone.id, "true")
    kept = dy.open_session("ce", kind=SessionKind.COMMAND)
    dy.run_command(kept.id, "sleep 300 &")
    assert dy.usage("ce").processes == 0  # the shell waits for input: not work
    dy.close_session(kept.id)
    code = dy.exec("ce", ["sh", "-c", "ps | grep -c '[s]leep 300'; ls /tmp/.dockyard-sessions"])
    closed = dy.session(kept.id)
    assert code != 0 or closed.status is SessionStatus.DEAD
    assert closed.closed_reason is CloseReason.CLOSED


def test_one_command_at_a_time_and_bad_input_is_refused(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="cb"))
    session = dy.open_session("cb", kind=SessionKind.COMMAND)
    started = threading.Event()
    results = []

    def slow() -> None:
        results.append(
            dy.run_command(session.id, "sleep 1", on_output=lambda _d: None, timeout_s=10)
        )

    thread = threading.Thread(target=slow)
    thread.start()
    while dy.session(session.id).running_since is None:
        started.wait(0.02)
    with pytest.raises(Busy, match="running a command"):
        dy.run_command(session.id, "true")
    thread.join()
    assert results[0].exit_code == 0
    with pytest.raises(InvalidInput):
        dy.run_command(session.id, "")
    shell = dy.open_session("cb", kind=SessionKind.SHELL)
    with pytest.raises(InvalidInput, match="not a command"):
        dy.run_command(shell.id, "true")


def test_idle_sessions_never_block_a_one_shot_exec(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="cq"))
    limit = dy.policy.max_sessions_per_workspace
    for _ in range(limit):
        dy.open_session("cq", kind=SessionKind.COMMAND)
    with pytest.raises(QuotaExceeded, match="limit"):
        dy.open_session("cq", kind=SessionKind.COMMAND)
    assert dy.exec("cq", ["true"]) == 0


def test_an_unused_session_is_pending_then_closed_by_a_pass_and_its_workspace_stays(
    timed: Dockyard, clock: FakeClock
) -> None:
    timed.acquire(AcquireRequest(key="ci", keep=True))  # never parked: its sessions still close
    session = timed.open_session("ci", kind=SessionKind.COMMAND)
    timed.run_command(session.id, "sleep 600 &")
    clock.advance(minutes=59)
    [pending] = timed.stats()["sessions"]["sessions_pending_cleanup"]
    assert (pending["id"], pending["will_cleanup"]) == (session.id, False)
    assert pending["inactive_time_s"] == 59 * 60
    clock.advance(minutes=2)
    stats = timed.stats()["sessions"]
    assert stats["inactive"] == 1 and stats["sessions_pending_cleanup"][0]["will_cleanup"]
    planned = timed.clean(dry_run=True).plan.actions
    assert [(a.verb.value, a.reason.value) for a in planned] == [("close session", "inactive")]

    report = timed.clean()
    assert [r.outcome.value for r in report.results] == ["done"]
    closed = timed.session(session.id)
    assert (closed.status, closed.closed_reason) == (SessionStatus.DEAD, CloseReason.INACTIVE)
    assert timed.get("ci").state is State.RUNNING
    # its shell and its background job ended with it
    assert timed.exec("ci", ["sh", "-c", "ps | grep -q '[s]leep 600'"]) == 1


def test_a_park_refuses_while_a_command_runs_and_closes_the_sessions_after(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="cp"))
    session = dy.open_session("cp", kind=SessionKind.COMMAND)
    idle = dy.open_session("cp", kind=SessionKind.COMMAND)
    pause = threading.Event()
    thread = threading.Thread(target=dy.run_command, args=(session.id, "sleep 2"))
    thread.start()
    while dy.session(session.id).running_since is None:
        pause.wait(0.02)
    with pytest.raises(Refused, match="in use"):
        dy.park("cp")
    thread.join()
    assert dy.park("cp").changed  # an idle command session does not hold it
    reasons = {s.id: s.closed_reason for s in dy.sessions("cp")}
    assert reasons == {session.id: CloseReason.PARKED, idle.id: CloseReason.PARKED}


def test_after_a_container_restart_the_session_is_over_and_nothing_else_is_touched(
    dy: Dockyard, docker: DockerEngine
) -> None:
    """The files of a session name its processes by pid and start time: after a restart
    those pids may be other processes, which no channel, interrupt or close touches."""
    ws = dy.acquire(AcquireRequest(key="cr")).workspace
    session = dy.open_session("cr", kind=SessionKind.COMMAND)
    dy.run_command(session.id, "true")
    ref = ws.container_id or ws.name
    docker.stop_container(ref=ref, timeout_s=1)
    docker.start_container(ref=ref)
    # a process that may well get the old shell's pid: it must survive what follows
    dy.exec("cr", ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 300 & done"])
    result = dy.run_command(session.id, "true", timeout_s=5)
    assert result.session_ended and not result.timed_out
    assert dy.session(session.id).closed_reason is CloseReason.ENDED
    assert dy.exec("cr", ["sh", "-c", "[ $(ps | grep -c '[s]leep 300') -eq 8 ]"]) == 0
    fresh = dy.open_session("cr", kind=SessionKind.COMMAND)
    assert dy.run_command(fresh.id, "echo again").output == b"again\n"


def test_a_planted_sessions_directory_is_refused(dy: Dockyard) -> None:
    """A link in place of the sessions directory (anyone in the container could plant
    one, with pid files for a close to act on) is never used."""
    dy.acquire(AcquireRequest(key="cl"))
    assert (
        dy.exec("cl", ["sh", "-c", "mkdir /tmp/elsewhere && ln -s /tmp/elsewhere " + SESSIONS_DIR])
        == 0
    )
    with pytest.raises(EngineError, match="not private"):
        dy.open_session("cl", kind=SessionKind.COMMAND)
    opened = [s for s in dy.sessions("cl") if s.kind is SessionKind.COMMAND]
    assert [s.closed_reason for s in opened] == [CloseReason.ENDED]
