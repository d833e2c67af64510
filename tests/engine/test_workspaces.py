"""Workspace lifecycle against the real engine: create, reuse, limits, init, repos, exec."""

from __future__ import annotations

import fcntl
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.errors import Conflict, EngineError, NotFound, ProvisionFailed, Refused
from dockyard.core.model import Outcome, State
from dockyard.core.naming import (
    LABEL_INSTALLATION,
    LABEL_KEEP,
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_WORKSPACE,
)
from dockyard.engine.docker import DockerEngine
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.runtime.objects import discard_container
from tests.engine_fixtures import engine_json
from tests.helpers import free_port, make_repo, wait_until


def run(dy: Dockyard, key: str, script: str) -> tuple[int, str, str]:
    out: list[bytes] = []
    err: list[bytes] = []
    code = dy.exec(
        key, ["sh", "-c", script], on_output=lambda s, d: (err if s == 2 else out).append(d)
    )
    return code, b"".join(out).decode(), b"".join(err).decode()


def test_up_creates_once_then_reuses_warm(dy: Dockyard, docker: DockerEngine) -> None:
    first = dy.acquire(
        AcquireRequest(key="john@example.com-my-react-app", owner="john@example.com")
    )
    second = dy.acquire(AcquireRequest(key="john@example.com-my-react-app"))
    assert (first.outcome, second.outcome) == (Outcome.CREATED, Outcome.REUSED)
    assert first.workspace.container_id == second.workspace.container_id
    info = docker.inspect_container(ref=first.workspace.name)
    assert info.running
    assert info.labels[LABEL_MANAGED] == "true"
    assert info.labels[LABEL_INSTALLATION] == dy.ctx.installation
    assert info.labels[LABEL_WORKSPACE] == "john@example.com-my-react-app"
    assert info.labels[LABEL_OWNER] == "john@example.com"
    assert info.labels[LABEL_KEEP] == "false"
    assert info.volumes == [first.workspace.volume]


def test_limits_and_init_reach_the_engine(dy: Dockyard) -> None:
    ws = dy.acquire(
        AcquireRequest(key="limits", memory=128 * 1024**2, cpus=0.5, pids=100)
    ).workspace
    raw: Any = engine_json(f"/containers/{ws.name}/json")
    host = raw["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (
        128 * 1024**2,
        500_000_000,
        100,
    )
    assert host["Init"] is True
    # PID 1 is the init process, which forwards TERM: stop does not wait out a timeout
    code, out, _ = run(dy, "limits", "tr '\\0' ' ' < /proc/1/cmdline")
    assert code == 0 and "init" in out.split()[0]
    dy.stop("limits")
    assert dy.get("limits").state is State.STOPPED
    # TERM ended it (143): with no init to pass it on, sleep as PID 1 ignores TERM and
    # the engine waits out the stop timeout, then kills it (137)
    assert dy.ctx.engine.inspect_container(ref=ws.name).exit_code == 128 + signal.SIGTERM


def test_exec_streams_output_returns_exit_code_and_takes_stdin(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="e"))
    code, out, err = run(dy, "e", "echo out; echo err >&2; exit 3")
    assert (code, out, err) == (3, "out\n", "err\n")
    chunks: list[bytes] = []
    code = dy.exec(
        "e",
        ["sh", "-c", "tr a-z A-Z"],
        stdin=[b"hello ", b"world\n"],
        on_output=lambda _s, d: chunks.append(d),
    )
    assert code == 0 and b"".join(chunks) == b"HELLO WORLD\n"
    code, out, _ = run(dy, "e", "pwd")
    assert out.strip() == "/workspace"


def test_work_survives_stop_start_and_park_restore(dy: Dockyard, docker: DockerEngine) -> None:
    dy.acquire(AcquireRequest(key="w"))
    run(dy, "w", "echo hi > /workspace/note.txt")
    dy.stop("w")
    assert docker.inspect_container(ref=dy.get("w").name).status == "exited"
    assert dy.acquire(AcquireRequest(key="w")).outcome is Outcome.STARTED
    assert run(dy, "w", "cat /workspace/note.txt")[1] == "hi\n"
    name = dy.get("w").name
    dy.park("w")
    with pytest.raises(NotFound):
        docker.inspect_container(ref=name)
    assert dy.acquire(AcquireRequest(key="w")).outcome is Outcome.RESTORED
    assert run(dy, "w", "cat /workspace/note.txt")[1] == "hi\n"


def test_rm_keeps_the_volume_purge_deletes_it(dy: Dockyard, docker: DockerEngine) -> None:
    ws = dy.acquire(AcquireRequest(key="r")).workspace
    run(dy, "r", "echo keep > /workspace/f")
    dy.remove("r")
    with pytest.raises(NotFound):
        docker.inspect_container(ref=ws.name)
    docker.inspect_volume(name=ws.volume)  # still there
    assert dy.acquire(AcquireRequest(key="r")).outcome is Outcome.RESTORED
    assert run(dy, "r", "cat /workspace/f")[1] == "keep\n"
    dy.remove("r", purge=True)
    with pytest.raises(NotFound):
        docker.inspect_volume(name=ws.volume)
    assert dy.ctx.store.workspaces.get("r") is None


def test_local_repo_is_copied_without_network(dy: Dockyard, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "my-react-app", branch="feature/auth")
    (repo / "untracked.txt").write_text("work in progress\n")
    result = dy.acquire(AcquireRequest(key="repo", repo=str(repo)))
    assert result.workspace.name.startswith("dy-my-react-app-")
    code, out, _ = run(
        dy, "repo", "git status --porcelain; git log --format=%s; test -x src/run.sh && echo exec"
    )
    assert code == 0
    assert out.splitlines() == ["?? untracked.txt", "first", "exec"]


def test_branch_is_checked_out(dy: Dockyard, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", branch="feature/auth")
    ws = dy.acquire(AcquireRequest(key="b", repo=str(repo), branch="feature/auth")).workspace
    assert ws.name.startswith("dy-app-auth-")
    assert run(dy, "b", "git rev-parse --abbrev-ref HEAD; cat feature.txt")[1] == (
        "feature/auth\non the branch\n"
    )


def test_missing_branch_fails_cleanly(dy: Dockyard, docker: DockerEngine, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app")
    with pytest.raises(ProvisionFailed, match="nosuch"):
        dy.acquire(AcquireRequest(key="nb", repo=str(repo), branch="nosuch"))
    assert docker.list_containers(labels={LABEL_INSTALLATION: dy.ctx.installation}) == []
    assert docker.list_volumes(labels={LABEL_INSTALLATION: dy.ctx.installation}) == []
    assert dy.ctx.store.workspaces.get("nb") is None


@pytest.fixture
def git_daemon(tmp_path: Path) -> Any:
    """A bare repository served over git:// on the Docker bridge's gateway address."""
    source = make_repo(tmp_path / "src", branch="dev")
    bare = tmp_path / "served" / "app.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
    gateway = bridge_gateway()
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            f"--base-path={tmp_path / 'served'}",
            f"--listen={gateway}",
            f"--port={port}",
            "--reuseaddr",
            str(tmp_path / "served"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: _accepts(gateway, port), what="git daemon listening")
    yield f"git://{gateway}:{port}/app.git"
    daemon.terminate()
    daemon.wait(timeout=10)


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


def bridge_gateway() -> str:
    """The host's address on the default bridge, which containers can reach."""
    network: Any = engine_json("/networks/bridge")
    config = network["IPAM"]["Config"][0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    device = network["Options"]["com.docker.network.bridge.name"].encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        siocgifaddr = 0x8915
        packed = fcntl.ioctl(probe.fileno(), siocgifaddr, struct.pack("256s", device[:15]))
    return socket.inet_ntoa(packed[20:24])


def test_url_is_cloned_inside_the_container(dy: Dockyard, git_daemon: str) -> None:
    ws = dy.acquire(AcquireRequest(key="url", repo=git_daemon, branch="dev")).workspace
    assert ws.repo == git_daemon
    code, out, _ = run(dy, "url", "git rev-parse --abbrev-ref HEAD; ls")
    assert code == 0 and out.split() == ["dev", "README.md", "feature.txt", "src"]


def test_unreachable_clone_fails_cleanly(dy: Dockyard, docker: DockerEngine) -> None:
    with pytest.raises(ProvisionFailed, match=r"clone of git://127\.0\.0\.1:9/nope\.git failed"):
        dy.acquire(AcquireRequest(key="bad-url", repo="git://127.0.0.1:9/nope.git"))
    assert docker.list_containers(labels={LABEL_INSTALLATION: dy.ctx.installation}) == []
    assert dy.ctx.store.workspaces.get("bad-url") is None


def test_failed_start_leaves_no_created_container(
    engine_settings: Any, docker: DockerEngine, installed: list[str]
) -> None:
    # A working directory below a file: the engine accepts the create and fails the start,
    # which leaves a container in "created" unless dockyard removes it.
    broken = engine_settings.model_copy(
        update={"workspace": engine_settings.workspace.model_copy(update={"workdir": "/bin/sh/x"})}
    )
    with Dockyard.open(broken) as dy:
        installed.append(dy.ctx.installation)
        with pytest.raises(EngineError, match="not a directory"):
            dy.acquire(AcquireRequest(key="broken"))
        assert docker.list_containers(labels={LABEL_INSTALLATION: dy.ctx.installation}) == []
        assert docker.list_volumes(labels={LABEL_INSTALLATION: dy.ctx.installation}) == []
        assert dy.ctx.store.workspaces.get("broken") is None


def _with_network(settings: Any, network: str) -> Any:
    return settings.model_copy(
        update={"workspace": settings.workspace.model_copy(update={"network": network})}
    )


def test_the_network_setting_reaches_the_container(
    dy: Dockyard, engine_settings: Any, docker: DockerEngine, installed: list[str]
) -> None:
    dy.acquire(AcquireRequest(key="bridged"))
    assert run(dy, "bridged", "ls /sys/class/net")[1].split() == ["eth0", "lo"]
    with Dockyard.open(_with_network(engine_settings, "none")) as offline:
        installed.append(offline.ctx.installation)
        offline.acquire(AcquireRequest(key="offline"))
        assert run(offline, "offline", "ls /sys/class/net")[1].split() == ["lo"]
    with Dockyard.open(_with_network(engine_settings, "dockyard-no-such-net")) as missing:
        installed.append(missing.ctx.installation)
        with pytest.raises(NotFound, match="network dockyard-no-such-net not found"):
            missing.acquire(AcquireRequest(key="nowhere"))
        left = {LABEL_INSTALLATION: missing.ctx.installation, LABEL_WORKSPACE: "nowhere"}
        assert docker.list_containers(labels=left) == []
        assert docker.list_volumes(labels=left) == []
        assert missing.ctx.store.workspaces.get("nowhere") is None


def test_unknown_image(dy: Dockyard) -> None:
    with pytest.raises(NotFound, match="image 'dockyard/no-such-image:1' not found"):
        dy.acquire(AcquireRequest(key="i", image="dockyard/no-such-image:1"))
    assert dy.ctx.store.workspaces.get("i") is None


def test_stop_refuses_while_an_exec_runs(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="busy"))
    worker = threading.Thread(target=run, args=(dy, "busy", "sleep 3"))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while dy.usage("busy").processes == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        usage = dy.usage("busy")
        assert usage.processes == 1 and len(usage.sessions) == 1
        with pytest.raises(Refused, match="1 running exec process"):
            dy.stop("busy")
        assert dy.get("busy").state is State.RUNNING
        assert dy.stop("busy", force=True).changed
    finally:
        worker.join()


def test_two_installations_sharing_an_engine_never_touch_each_other(
    engine_settings: Any,
    tmp_path: Path,
    installed: list[str],
    docker: DockerEngine,
    another_database: dict[str, str],
) -> None:
    other_settings = engine_settings.model_copy(
        update={"data_dir": tmp_path / "other", "database_url": None, **another_database}
    )
    with Dockyard.open(engine_settings) as a, Dockyard.open(other_settings) as b:
        installed.extend([a.ctx.installation, b.ctx.installation])
        wa = a.acquire(AcquireRequest(key="same-key")).workspace
        wb = b.acquire(AcquireRequest(key="same-key")).workspace
        assert wa.name != wb.name and wa.volume != wb.volume
        a.remove("same-key", purge=True)
        assert docker.inspect_container(ref=wb.name).running
        views, _ = a.list(include_removed=True)
        assert views == []
        # b's container does not belong to a's installation: a refuses to remove it
        with pytest.raises(Conflict, match="is not ours"):
            discard_container(a.ctx, wb)


def test_a_warm_acquires_view_needs_no_new_look_and_says_the_same(timed: Dockyard) -> None:
    timed.acquire(AcquireRequest(key="seen", owner="ann"))
    warm = timed.acquire(AcquireRequest(key="seen"))
    assert warm.outcome is Outcome.REUSED
    assert warm.container is not None and warm.container.running
    looked = timed.status("seen").to_json()
    assert timed.status("seen", seen=warm.container).to_json() == looked
