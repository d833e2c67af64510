"""Orchestration on the fake engine: what acquire/exec/stop/park/rm decide and record.

The same behaviours run against the real engine in tests/engine; here they run in
milliseconds with an injected clock and failure hooks.
"""

from __future__ import annotations

import io
import socket
import tarfile
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.core.errors import (
    Conflict,
    EngineError,
    EngineUnavailable,
    InvalidInput,
    NotFound,
    ProvisionFailed,
    QuotaExceeded,
    Refused,
)
from dockyard.core.model import Outcome, SessionKind, SessionStatus, State
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_OWNER, LABEL_WORKSPACE
from dockyard.engine.base import ExecSpec
from dockyard.engine.fake import FakeContainer, FakeEngine
from dockyard.engine.models import ContainerSpec
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.probes import CpuReading
from tests.helpers import FakeClock


def up(dy: Dockyard, key: str = "k", **kwargs: object) -> Outcome:
    return dy.acquire(AcquireRequest(key=key, **kwargs)).outcome  # type: ignore[arg-type]


def event_types(dy: Dockyard) -> list[str]:
    return [e["type"] for e in dy.ctx.store.events.list(limit=1000)]


def test_create_then_reuse(fake_dy: Dockyard, fake_engine: FakeEngine) -> None:
    assert up(fake_dy, owner="alice") is Outcome.CREATED
    assert up(fake_dy) is Outcome.REUSED
    [container] = fake_engine.containers.values()
    labels = container.spec.labels
    assert labels[LABEL_WORKSPACE] == "k" and labels[LABEL_OWNER] == "alice"
    assert labels[LABEL_INSTALLATION] == fake_dy.ctx.installation
    assert container.spec.init is True
    assert event_types(fake_dy) == ["workspace.created", "workspace.reused"]


def test_reuse_records_activity(fake_dy: Dockyard, clock: FakeClock) -> None:
    up(fake_dy)
    clock.advance(minutes=10)
    up(fake_dy)
    assert fake_dy.get("k").last_activity_at == clock.now


def test_stopped_container_is_started(fake_dy: Dockyard, fake_engine: FakeEngine) -> None:
    up(fake_dy)
    fake_dy.stop("k")
    assert fake_dy.get("k").state is State.STOPPED
    assert up(fake_dy) is Outcome.STARTED
    assert fake_dy.get("k").state is State.RUNNING
    assert len(fake_engine.containers) == 1


def test_container_stopped_behind_our_back_is_started(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    up(fake_dy)
    fake_engine.crash(fake_dy.get("k").name, exit_code=137)
    assert up(fake_dy) is Outcome.STARTED


def test_vanished_container_is_restored_on_its_volume(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    up(fake_dy)
    ws = fake_dy.get("k")
    fake_engine.vanish(ws.name)
    result = fake_dy.acquire(AcquireRequest(key="k"))
    assert result.outcome is Outcome.RESTORED
    assert result.note and "kept volume" in result.note
    assert ws.volume in fake_engine.volumes


def test_park_then_restore(fake_dy: Dockyard, fake_engine: FakeEngine) -> None:
    up(fake_dy)
    change = fake_dy.park("k")
    assert change.changed and change.workspace.state is State.PARKED
    assert fake_engine.containers == {}
    assert change.workspace.volume in fake_engine.volumes
    assert up(fake_dy) is Outcome.RESTORED
    assert "workspace.parked" in event_types(fake_dy)


def test_failed_start_leaves_nothing_behind(fake_dy: Dockyard, fake_engine: FakeEngine) -> None:
    fake_engine.start_error = EngineError("OCI runtime create failed")
    with pytest.raises(EngineError, match="OCI runtime"):
        up(fake_dy)
    assert fake_engine.containers == {}  # no container left in "created"
    assert fake_engine.volumes == {}
    assert fake_dy.ctx.store.workspaces.get("k") is None
    fake_engine.start_error = None
    assert up(fake_dy) is Outcome.CREATED


def test_unknown_image_creates_nothing(fake_dy: Dockyard, fake_engine: FakeEngine) -> None:
    with pytest.raises(NotFound, match="image 'nope:1' not found"):
        up(fake_dy, image="nope:1")
    assert fake_dy.ctx.store.workspaces.get("k") is None and not fake_engine.volumes


def test_not_a_git_repo_creates_nothing(
    fake_dy: Dockyard, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="not a git repository"):
        up(fake_dy, repo=str(tmp_path))
    assert fake_dy.ctx.store.workspaces.get("k") is None and not fake_engine.containers


def test_unreachable_engine_creates_no_record(fake_dy: Dockyard, fake_engine: FakeEngine) -> None:
    fake_engine.down = True
    with pytest.raises(EngineUnavailable):
        up(fake_dy)
    assert fake_dy.ctx.store.workspaces.get("k") is None


def test_local_repo_is_copied_as_root_owned_tar(
    fake_dy: Dockyard, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    repo = tmp_path / "app"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "src").mkdir()
    (repo / "src" / "main.py").write_text("print('hi')\n")
    (repo / "link").symlink_to("src/main.py")
    up(fake_dy, repo=str(repo))
    [container] = fake_engine.containers.values()
    [(path, data)] = container.archives
    assert path == "/workspace"
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert {".git", ".git/HEAD", "src", "src/main.py", "link"} <= set(members)
    assert all(m.uid == 0 and m.uname == "root" for m in members.values())
    assert members["link"].issym()
    assert fake_dy.get("k").repo == str(repo)


def test_clone_failure_rolls_back_and_hides_the_token(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    url = "https://user:s3cret@example.com/acme/app.git"

    def handler(_c: FakeContainer, spec: ExecSpec, _stdin: bytes) -> tuple[int, bytes, bytes]:
        assert "s3cret" not in " ".join(spec.argv)  # the token travels in the environment
        assert spec.env["DOCKYARD_REPO_URL"] == url
        return 128, b"", f"fatal: could not read from {url}\n".encode()

    fake_engine.exec_handler = handler
    with pytest.raises(ProvisionFailed, match=r"clone of https://\*\*\*@example.com") as caught:
        up(fake_dy, repo=url)
    assert "s3cret" not in str(caught.value)
    assert fake_engine.containers == {} and fake_engine.volumes == {}
    assert fake_dy.ctx.store.workspaces.get("k") is None


def test_interrupted_creation_is_cleaned_up_by_the_next_acquire(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    def interrupt(_c: FakeContainer, _s: ExecSpec, _i: bytes) -> tuple[int, bytes, bytes]:
        raise KeyboardInterrupt

    fake_engine.exec_handler = interrupt
    with pytest.raises(KeyboardInterrupt):
        up(fake_dy, repo="https://example.com/a.git")
    assert fake_engine.containers == {} and fake_dy.ctx.store.workspaces.get("k") is None


def test_owner_mismatch_is_a_conflict(fake_dy: Dockyard) -> None:
    up(fake_dy, owner="alice")
    with pytest.raises(Conflict, match="belongs to owner 'alice'"):
        up(fake_dy, owner="bob")


def test_exec_counts_as_activity_and_holds_a_session(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    up(fake_dy)
    seen: list[int] = []

    def handler(_c: FakeContainer, _spec: ExecSpec, stdin: bytes) -> tuple[int, bytes, bytes]:
        sessions = fake_dy.ctx.store.sessions.list(statuses=[SessionStatus.ACTIVE])
        seen.append(len(sessions))
        clock.advance(minutes=30)  # a long command
        return 7, stdin.upper(), b"warn\n"

    fake_engine.exec_handler = handler
    output: list[tuple[int, bytes]] = []
    code = fake_dy.exec(
        "k", ["tr", "a-z", "A-Z"], stdin=[b"hello"], on_output=lambda s, d: output.append((s, d))
    )
    assert code == 7
    assert output == [(1, b"HELLO"), (2, b"warn\n")]
    assert seen == [1]
    assert fake_dy.ctx.store.sessions.list(statuses=[SessionStatus.ACTIVE]) == []
    assert fake_dy.get("k").last_activity_at == clock.now  # activity at the end, too


def test_a_terminal_sizes_its_exec_before_input_flows(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    up(fake_dy)
    sizes: list[tuple[int, int] | None] = []

    def handler(c: FakeContainer, _spec: ExecSpec, _stdin: bytes) -> tuple[int, bytes, bytes]:
        sizes.append(fake_engine.execs[c.exec_ids[-1]].size)
        return 0, b"", b""

    fake_engine.exec_handler = handler

    def started(exec_id: str) -> None:
        fake_dy.resize_exec("k", exec_id, rows=40, cols=120)

    fake_dy.exec("k", ["sh"], tty=True, stdin=[b"exit\n"], on_started=started)
    assert sizes == [(40, 120)]
    with pytest.raises(InvalidInput, match=r"1\.\.65535 rows and columns, got 0x80"):
        fake_dy.resize_exec("k", next(iter(fake_engine.execs)), rows=0, cols=80)


def test_exec_needs_a_running_workspace(fake_dy: Dockyard) -> None:
    with pytest.raises(NotFound):
        fake_dy.exec("k", ["true"])
    up(fake_dy)
    fake_dy.stop("k")
    with pytest.raises(Conflict, match="is stopped; run `dockyard up k` first"):
        fake_dy.exec("k", ["true"])


@pytest.mark.usefixtures("settings_limit_two")
def test_session_limit(fake_dy: Dockyard) -> None:
    up(fake_dy)
    store = fake_dy.ctx.store
    for _ in range(2):
        store.sessions.open(
            workspace_key="k", kind=SessionKind.SHELL, holder="elsewhere:1", at=fake_dy.ctx.now()
        )
    with pytest.raises(QuotaExceeded, match="limit of 2 live sessions"):
        fake_dy.open_session("k", kind=SessionKind.AGENT)
    assert fake_dy.exec("k", ["true"]) == 0  # a one-shot exec never waits for a slot


@pytest.fixture
def settings_limit_two(fake_dy: Dockyard) -> None:
    fake_dy.ctx.policy = replace(fake_dy.ctx.policy, max_sessions_per_workspace=2)


@pytest.mark.usefixtures("settings_limit_two")
def test_sessions_of_dead_local_processes_do_not_count(fake_dy: Dockyard) -> None:
    up(fake_dy)
    dead = f"{socket.gethostname()}:{2**22 + 12345}"  # above pid_max: no such process
    for _ in range(2):
        fake_dy.ctx.store.sessions.open(
            workspace_key="k", kind=SessionKind.EXEC, holder=dead, at=fake_dy.ctx.now()
        )
    assert fake_dy.exec("k", ["true"]) == 0


def test_stop_refuses_a_busy_workspace_unless_forced(fake_dy: Dockyard) -> None:
    up(fake_dy)
    fake_dy.ctx.store.sessions.open(
        workspace_key="k", kind=SessionKind.SHELL, holder="x:1", at=fake_dy.ctx.now()
    )
    with pytest.raises(Refused, match=r"in use \(1 active session \(shell\)\)"):
        fake_dy.stop("k")
    assert fake_dy.get("k").state is State.RUNNING
    assert fake_dy.stop("k", force=True).changed
    assert fake_dy.ctx.store.sessions.list(statuses=[SessionStatus.ACTIVE]) == []


def test_stop_and_park_are_idempotent(fake_dy: Dockyard) -> None:
    up(fake_dy)
    assert fake_dy.stop("k").changed
    assert not fake_dy.stop("k").changed
    assert fake_dy.park("k").changed
    assert not fake_dy.park("k").changed
    assert not fake_dy.stop("k").changed


def test_remove_keeps_the_volume_and_purge_deletes_it(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    up(fake_dy)
    volume = fake_dy.get("k").volume
    fake_dy.remove("k")
    assert fake_dy.get("k").state is State.REMOVED
    assert volume in fake_engine.volumes and not fake_engine.containers
    assert up(fake_dy) is Outcome.RESTORED  # the kept volume brings the work back
    fake_dy.remove("k", purge=True)
    assert fake_dy.ctx.store.workspaces.get("k") is None and volume not in fake_engine.volumes
    assert up(fake_dy) is Outcome.CREATED


def test_remove_never_touches_a_container_that_is_not_ours(
    fake_dy: Dockyard, fake_engine: FakeEngine
) -> None:
    up(fake_dy)
    ws = fake_dy.get("k")
    fake_engine.vanish(ws.name)
    fake_engine.create_container(
        spec=ContainerSpec(
            name=ws.name, image="dockyard/workspace:latest", command=["x"], labels={}
        )
    )
    with pytest.raises(Conflict, match="is not ours"):
        fake_dy.remove("k")
    assert len(fake_engine.containers) == 1


def test_extend_and_touch(fake_dy: Dockyard, clock: FakeClock) -> None:
    up(fake_dy)
    result = fake_dy.extend("k", by=timedelta(minutes=30))
    assert result.deadline == result.previous_deadline + timedelta(minutes=30)
    assert not result.capped
    assert fake_dy.extend("k", by=timedelta(days=3)).capped
    with pytest.raises(InvalidInput):
        fake_dy.extend("k", by=timedelta(0))
    clock.advance(hours=1)
    assert fake_dy.touch("k").last_activity_at == clock.now


def test_concurrent_acquires_make_one_container(fake_dy: Dockyard, fake_engine: FakeEngine) -> None:
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            outcomes.append(up(fake_dy))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(fake_engine.containers) == 1
    assert sorted(outcomes).count(Outcome.CREATED) == 1


def test_cpu_use_is_measured_over_each_containers_own_window() -> None:
    before = CpuReading(ns=10**9, at=100.0)
    assert CpuReading(ns=10**9 + 10**8, at=100.5).percent_since(before) == pytest.approx(20.0)
    assert CpuReading(ns=10**9 + 10**8, at=102.0).percent_since(before) == pytest.approx(5.0)
    assert CpuReading(ns=0, at=101.0).percent_since(before) == 0.0  # a restarted counter
