"""``dockyard cp`` and ``dockyard files`` on the real engine, as docker cp behaves; and the
CLI driving a remote ``serve`` with ``--url`` (``DOCKYARD_URL``) and ``DOCKYARD_TOKEN``:
the same commands, the same output and exit codes, nothing opened locally."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.engine.docker import DockerEngine
from tests.api.conftest import ADMIN, Server, start_server, stop_server
from tests.cli.conftest import CLI
from tests.cli.test_cli import OnTerminal
from tests.engine_fixtures import remove_installation


def test_cp_follows_docker_cps_rules(cli: CLI, tmp_path: Path) -> None:
    assert cli("up", "cp-ws")[0] == 0
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("a\n")
    (src / "top.txt").write_text("top\n")

    code, out, err = cli("cp", str(src), "cp-ws:/tmp")  # into a directory: under its name
    assert code == 0, err
    assert "copied" in err
    assert cli("exec", "cp-ws", "--", "cat", "/tmp/src/sub/a.txt")[1] == "a\n"
    assert cli("cp", str(src / "top.txt"), "cp-ws:/tmp/renamed.txt")[0] == 0  # onto nothing
    assert cli("exec", "cp-ws", "--", "cat", "/tmp/renamed.txt")[1] == "top\n"
    assert cli("cp", str(src), "cp-ws:/tmp/copy")[0] == 0  # a directory made under dest's name
    assert cli("exec", "cp-ws", "--", "cat", "/tmp/copy/top.txt")[1] == "top\n"

    back = tmp_path / "back"
    back.mkdir()
    assert cli("cp", "cp-ws:/tmp/src", str(back))[0] == 0
    assert (back / "src" / "sub" / "a.txt").read_text() == "a\n"
    assert cli("cp", "cp-ws:/tmp/renamed.txt", str(back / "here.txt"))[0] == 0
    assert (back / "here.txt").read_text() == "top\n"

    code, out, _ = cli("files", "cp-ws", "/tmp/src", "--json")
    assert code == 0
    listing = json.loads(out)
    assert [(e["name"], e["kind"]) for e in listing["entries"]] == [
        ("sub", "directory"),
        ("top.txt", "file"),
    ]
    code, out, _ = cli("files", "cp-ws", "/tmp/src")
    assert code == 0 and "sub/" in out and "top.txt" in out


def test_cp_says_what_is_wrong_in_one_line(cli: CLI, tmp_path: Path) -> None:
    assert cli("up", "cp-err")[0] == 0
    (tmp_path / "f").write_text("f")
    cases = [
        (("cp", str(tmp_path / "none"), "cp-err:/tmp"), 3, "no "),
        (("cp", "cp-err:/nope", str(tmp_path)), 3, "no /nope in workspace 'cp-err'"),
        (("cp", str(tmp_path / "f"), "cp-err:/no/such/f"), 3, "no directory /no/such"),
        (("cp", str(tmp_path), "cp-err:/etc/hostname"), 2, "cannot copy a directory onto"),
        (("cp", "a", "b"), 2, "one of SOURCE and DEST must be KEY:/path"),
        (("cp", "ghost:/tmp", str(tmp_path)), 3, "no workspace 'ghost'"),
        (("files", "cp-err", "/etc/hostname"), 2, "is not a directory"),
    ]
    for args, exit_code, message in cases:
        code, _, err = cli(*args)
        assert (code, err.count("\n")) == (exit_code, 1), (args, err)
        assert message in err, (args, err)


def test_cp_through_standard_input_and_output(cli: CLI, tmp_path: Path) -> None:
    """``-`` is a tar stream, as with docker cp; run as a whole process (real pipes)."""
    assert cli("up", "cp-pipe")[0] == 0
    archive = tmp_path / "in.tar"
    (tmp_path / "piped.txt").write_text("piped\n")
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "piped.txt", arcname="piped.txt")
    base = [sys.executable, "-m", "dockyard", "--data-dir", str(cli.data)]
    with archive.open("rb") as stdin:
        subprocess.run([*base, "cp", "-", "cp-pipe:/tmp"], stdin=stdin, check=True)
    out = subprocess.run(
        [*base, "cp", "cp-pipe:/tmp/piped.txt", "-"], capture_output=True, check=True
    ).stdout
    out_tar = tmp_path / "out.tar"
    out_tar.write_bytes(out)
    with tarfile.open(out_tar) as tar:
        member = tar.extractfile("piped.txt")
        assert member is not None and member.read() == b"piped\n"


@pytest.fixture
def remote(
    tmp_path: Path, docker: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    server = start_server(tmp_path / "server")
    monkeypatch.setenv("DOCKYARD_URL", server.url)
    monkeypatch.setenv("DOCKYARD_TOKEN", ADMIN)
    # nothing of this machine's own: a data dir the remote commands must never create
    monkeypatch.setenv("DOCKYARD_DATA_DIR", str(tmp_path / "local-data"))
    yield server
    stop_server(server)
    remove_installation(docker, server.installation)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("remote")
def test_a_remote_cli_drives_a_shared_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "up", "far", "--label", "from=laptop")
    assert code == 0, err
    assert out.startswith("created dy-far-")
    code, out, _ = run(capsys, "up", "far", "--json")
    assert code == 0 and json.loads(out)["outcome"] == "reused"

    code, out, err = run(capsys, "exec", "far", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (code, out, err) == (7, "out\n", "err\n")

    code, out, _ = run(capsys, "ls", "--json")
    assert code == 0
    [listed] = json.loads(out)
    assert (listed["key"], listed["labels"]) == ("far", {"from": "laptop"})
    code, out, _ = run(capsys, "ls")
    assert code == 0 and "far" in out and "running" in out

    code, out, err = run(capsys, "run", "far", "--", "cd", "/tmp", "&&", "export", "X=1")
    assert code == 0
    session = err.split("session ", 1)[1].split(" ", 1)[0]
    code, out, _ = run(capsys, "run", "far", "--session", session, "--", "echo", "$X;", "pwd")
    assert (code, out) == (0, "1\n/tmp\n")
    code, out, _ = run(capsys, "sessions", "far", "--json")
    assert session in [s["id"] for s in json.loads(out)]

    (tmp_path / "up.txt").write_text("uploaded\n")
    assert run(capsys, "cp", str(tmp_path / "up.txt"), "far:/tmp")[0] == 0
    code, out, _ = run(capsys, "files", "far", "/tmp", "--json")
    assert "up.txt" in [e["name"] for e in json.loads(out)["entries"]]
    assert run(capsys, "cp", "far:/tmp/up.txt", str(tmp_path / "down.txt"))[0] == 0
    assert (tmp_path / "down.txt").read_text() == "uploaded\n"

    code, out, _ = run(capsys, "touch", "far", "--json")
    assert code == 0 and json.loads(out)["key"] == "far"
    code, out, _ = run(capsys, "extend", "far", "--by", "20m", "--json")
    assert code == 0 and json.loads(out)["capped"] is False
    code, out, _ = run(capsys, "status", "far", "--json")
    assert code == 0 and json.loads(out)["state"] == "running"
    assert run(capsys, "keep", "far")[1] == "kept far\n"
    assert run(capsys, "unkeep", "far")[0] == 0
    code, out, _ = run(capsys, "park", "far", "--json")
    assert code == 0 and json.loads(out)["state"] == "parked"
    code, out, _ = run(capsys, "rm", "far", "--purge", "--force")
    assert code == 0 and out.startswith("removed far")

    code, _, err = run(capsys, "status", "far")
    assert (code, err.strip()) == (3, "dockyard: error: no workspace 'far'")
    code, _, err = run(capsys, "gc", "--dry-run")
    assert code == 2 and "works on this machine's store and engine" in err
    assert not (tmp_path / "local-data").exists()


def dockyard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_remote_cli_as_a_whole_process(remote: Server) -> None:
    env = {**os.environ}
    made = dockyard("up", "proc", env=env)
    assert made.returncode == 0, made.stderr
    local_url = {k: v for k, v in env.items() if k != "DOCKYARD_URL"}
    ran = dockyard(
        "--url", remote.url, "exec", "proc", "--", "sh", "-c", "echo hi; exit 3", env=local_url
    )
    assert (ran.returncode, ran.stdout) == (3, "hi\n")
    wrong = dockyard("ls", env={**env, "DOCKYARD_TOKEN": "dy_wrong"})
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    gone = dockyard("--url", "http://127.0.0.1:1", "ls", env=env)
    assert gone.returncode == 6 and "cannot reach dockyard at http://127.0.0.1:1" in gone.stderr


def shows(terminal: OnTerminal, pattern: bytes, timeout_s: float = 30) -> re.Match[bytes]:
    """Read ``terminal``'s screen until ``pattern`` (a regular expression) is on it."""
    deadline = time.monotonic() + timeout_s
    while (found := re.search(pattern, terminal.shown)) is None:
        assert time.monotonic() < deadline, (pattern, bytes(terminal.shown))
        terminal.read(until=b"\0never shown", timeout_s=0.2)
    return found


def test_a_remote_shell_is_a_session_the_server_holds(remote: Server, cli: CLI) -> None:
    """The shell lives in ``serve``: the CLI that opened it goes away, another one
    attaches with --session and finds the same shell (the same pid) and its screen."""
    with remote.client() as api:
        api.post("/api/v1/workspaces", json={"key": "rsh"}).raise_for_status()
    first = OnTerminal(cli, "shell", "rsh", size=(24, 80))
    found = shows(first, rb"--session ([0-9a-f]+)\)")
    first.wait_for_raw_mode()
    first.type(b"echo pid=$$.\n")
    pid = shows(first, rb"pid=(\d+)\.")
    first.child.send_signal(signal.SIGTERM)  # this CLI goes; the shell stays in serve
    code, _ = first.finish()
    assert code == 128 + signal.SIGTERM

    second = OnTerminal(cli, "shell", "rsh", "--session", found.group(1).decode(), size=(30, 100))
    second.wait_for_raw_mode()
    shows(second, b"pid=" + pid.group(1))  # the recent screen, repainted
    second.type(b"echo again=$$ $(stty size).\n")
    shows(second, b"again=" + pid.group(1) + b" 30 100\\.")
    second.type(b"exit\n")
    code, shown = second.finish()
    assert code == 0 and b"its shell ended" in shown
    with remote.client() as api:
        ended = api.get(f"/api/v1/sessions/{found.group(1).decode()}").json()
    assert ended["status"] == "dead"


def test_a_local_shell_session_says_where_it_lives(cli: CLI) -> None:
    assert cli("up", "lsh")[0] == 0
    terminal = OnTerminal(cli, "shell", "lsh", "--session", "0123456789abcdef", size=(24, 80))
    code, shown = terminal.finish()
    assert code == 2 and b"attach through it with --url" in shown
