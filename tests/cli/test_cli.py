"""The CLI as a user meets it: exact output, exit codes, one-line errors, real engine."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from rich.cells import cell_len

from dockyard.core.engines import known_defects
from dockyard.core.model import SessionKind, SessionStatus
from dockyard.engine import loopdisk
from dockyard.engine.docker import DockerEngine
from dockyard.engine.loopdisk import LoopDisk
from dockyard.service import Dockyard
from dockyard.settings import load_settings
from dockyard.store import Store
from tests.cli.conftest import CLI


def test_up_says_what_it_did_and_prints_the_name(cli: CLI) -> None:
    code, out, err = cli("up", "john@example.com-my-react-app", "--owner", "john@example.com")
    assert (code, err) == (0, "")
    assert re.fullmatch(r"created dy-john-example-com-my-reac-[a-z2-7]{8}\n", out)
    name = out.split()[1]
    assert cli("up", "john@example.com-my-react-app") == (0, f"reused {name}\n", "")
    assert cli("stop", "john@example.com-my-react-app") == (
        0,
        "stopped john@example.com-my-react-app\n",
        "",
    )
    assert cli("up", "john@example.com-my-react-app") == (0, f"started {name}\n", "")


def test_up_json(cli: CLI) -> None:
    code, out, _ = cli("up", "k", "--owner", "o", "--memory", "300m", "--cpus", "0.5", "--json")
    record = json.loads(out)
    assert code == 0
    assert record["outcome"] == "created" and record["state"] == "running"
    assert record["resources"] == {
        "memory_bytes": 300 * 1024**2,
        "cpus": 0.5,
        "pids": 512,
        "disk_bytes": None,  # no cap
    }
    assert record["container_status"] == "running"


def test_exec_streams_and_exits_with_the_commands_code(cli: CLI) -> None:
    cli("up", "k")
    code, out, err = cli(
        "exec",
        "k",
        "--",
        "sh",
        "-c",
        "echo hi > /workspace/note.txt; cat /workspace/note.txt; echo oops >&2; exit 3",
    )
    assert (code, out, err) == (3, "hi\n", "oops\n")
    code, out, err = cli("exec", "k", "--", "echo", "a" * 200_000)
    assert (code, out) == (2, "")
    assert err == "dockyard: error: command[1]: 195.3KiB, at most 128.0KiB\n"


class OnTerminal:
    """``dockyard`` in a child process on a pseudo-terminal of ``size`` (rows, cols), as
    a user at a terminal runs it: keys typed, the window resized, the screen read."""

    def __init__(self, cli: CLI, *args: str, size: tuple[int, int]) -> None:
        self.main_fd, child_fd = pty.openpty()
        self._set_size(child_fd, size)
        self.child = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "--data-dir", str(cli.data), *args],
            stdin=child_fd,
            stdout=child_fd,
            stderr=child_fd,
            start_new_session=True,
        )
        os.close(child_fd)
        self.shown = bytearray()
        self.modes_before = termios.tcgetattr(self.main_fd)
        self.modes_after: list[Any] = []

    @staticmethod
    def _set_size(fd: int, size: tuple[int, int]) -> None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))

    def type(self, keys: bytes) -> None:
        os.write(self.main_fd, keys)

    def resize(self, size: tuple[int, int]) -> None:
        """Resize the window; the kernel signals the terminal's foreground group, which
        the child (no controlling terminal) is not: signal it as the kernel would."""
        self._set_size(self.main_fd, size)
        self.child.send_signal(signal.SIGWINCH)

    def read(self, *, until: bytes | None = None, timeout_s: float = 60) -> bool:
        """Read the screen until ``until`` shows (True), the child closes the terminal or
        ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while until is None or until not in self.shown:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.main_fd], [], [], left)[0]:
                return False
            try:
                chunk = os.read(self.main_fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                return False
            if not chunk:
                return False
            self.shown += chunk
        return True

    def wait_for_raw_mode(self) -> None:
        deadline = time.monotonic() + 30
        while termios.tcgetattr(self.main_fd)[3] & termios.ECHO:
            assert time.monotonic() < deadline, "the terminal never went raw"
            time.sleep(0.02)

    def finish(self) -> tuple[int, bytes]:
        """Its exit code and everything it showed; ``modes_after`` the terminal's modes."""
        try:
            self.read()
            code = self.child.wait(timeout=60)
            self.modes_after = termios.tcgetattr(self.main_fd)
            return code, bytes(self.shown)
        finally:
            self.child.kill()
            os.close(self.main_fd)


def _sessions(cli: CLI, key: str) -> list[tuple[SessionKind, SessionStatus]]:
    store = Store.open(f"sqlite:///{cli.data / 'dockyard.db'}")
    try:
        return [(s.kind, s.status) for s in store.sessions.list(workspace_key=key)]
    finally:
        store.close()


def test_shell_is_a_terminal_of_the_callers_size(cli: CLI) -> None:
    cli("up", "k")
    script = "read go; stty size; tty; exit 3"
    terminal = OnTerminal(cli, "shell", "k", "--", "sh", "-c", script, size=(33, 111))
    terminal.type(b"go\n")
    code, shown = terminal.finish()
    assert code == 3, shown
    assert b"33 111\r\n/dev/pts/" in shown


def test_shell_follows_the_window_size(cli: CLI) -> None:
    cli("up", "k")
    script = "while read line; do stty size; done"
    terminal = OnTerminal(cli, "shell", "k", "--", "sh", "-c", script, size=(24, 80))
    terminal.type(b"\n")
    assert terminal.read(until=b"24 80\r\n"), terminal.shown
    terminal.resize((50, 150))
    for _ in range(50):  # the resize and the next key race: ask until it shows
        terminal.type(b"\n")
        if terminal.read(until=b"50 150\r\n", timeout_s=0.2):
            break
    terminal.type(b"\x04")  # end of input: the loop ends
    code, shown = terminal.finish()
    assert (code, b"50 150\r\n" in shown) == (0, True), shown


def test_shell_opens_the_images_shell_and_exits_with_its_code(cli: CLI) -> None:
    cli("up", "k")
    terminal = OnTerminal(cli, "shell", "k", size=(24, 80))
    terminal.type(b'echo "answer=$((6*7)) bash=${BASH_VERSION:+yes}"; exit 5\n')
    code, shown = terminal.finish()
    assert code == 5, shown
    assert b"answer=42 bash=\r\n" in shown  # the test image has no bash: its sh
    assert _sessions(cli, "k") == [(SessionKind.SHELL, SessionStatus.DEAD)]


def test_shell_restores_the_terminal_when_it_fails(cli: CLI) -> None:
    terminal = OnTerminal(cli, "shell", "nope", size=(24, 80))
    code, shown = terminal.finish()
    assert (code, shown) == (3, b"\x1b[31mdockyard: error: no workspace 'nope'\x1b[0m\r\n")
    assert terminal.modes_after == terminal.modes_before


def test_shell_ends_its_session_and_restores_the_terminal_on_sigterm(cli: CLI) -> None:
    cli("up", "k")
    terminal = OnTerminal(cli, "shell", "k", "--", "sh", "-c", "read x", size=(24, 80))
    terminal.wait_for_raw_mode()
    terminal.child.send_signal(signal.SIGTERM)
    code, shown = terminal.finish()
    assert code == 128 + signal.SIGTERM, shown
    assert terminal.modes_after == terminal.modes_before
    assert _sessions(cli, "k") == [(SessionKind.SHELL, SessionStatus.DEAD)]


def test_shell_without_a_terminal_says_what_to_use(cli: CLI) -> None:
    cli("up", "k")
    message = (
        "dockyard: error: `dockyard shell` needs a terminal on standard input and output; "
        "to pipe input to a command use `dockyard exec -i k -- COMMAND`\n"
    )
    assert cli("shell", "k") == (2, "", message)


def test_ls_and_status(cli: CLI) -> None:
    cli("up", "k1", "--owner", "alice")
    cli("up", "k2", "--owner", "bob")
    code, out, _ = cli("ls")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == [
        "KEY",
        "CONTAINER",
        "STATE",
        "OWNER",
        "IDLE",
        "LEFT",
        "SESSIONS",
        "NEXT",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["k1", "k2"]
    assert lines[1].split()[2:4] == ["running", "alice"]
    assert lines[1].split()[6] == "0/0"
    listed = json.loads(cli("ls", "--json")[1])
    assert [w["key"] for w in listed] == ["k1", "k2"]
    assert listed[0]["time_left_s"] > 44 * 60
    status = json.loads(cli("status", "k1", "--json")[1])
    assert status["owner"] == "alice" and status["sessions"] == {"active": 0, "total": 0}
    overall = json.loads(cli("status", "--json")[1])
    assert overall["counts"] == {"running": 2}
    assert overall["engine"]["reachable"] is True


def test_status_of_one_says_how_long_it_is_up_and_what_it_uses(cli: CLI) -> None:
    cli("up", "k")
    live = json.loads(cli("status", "k", "--json")[1])
    assert 0 <= live["uptime_s"] < 60
    assert live["cpu_percent"] is not None and live["cpu_percent"] >= 0
    assert 0 < live["memory_bytes"] <= live["resources"]["memory_bytes"]
    assert live["disk_complete"] is True and live["disk_layer_bytes"] >= 0
    assert live["disk_bytes"] == live["disk_volume_bytes"] + live["disk_layer_bytes"]
    cli("exec", "k", "--", "dd", "if=/dev/zero", "of=/workspace/blob", "bs=1M", "count=3")
    filled = json.loads(cli("status", "k", "--json")[1])
    assert filled["disk_volume_bytes"] >= live["disk_volume_bytes"] + 3 * 1024**2
    code, out, _ = cli("status", "k")
    rows = dict(
        line.split(None, 1)
        for line in out.splitlines()
        if line.startswith(("cpu", "memory", "disk"))
    )
    assert code == 0 and rows["cpu"].endswith("% of one CPU") and " of " in rows["memory"]
    assert re.fullmatch(r"\S+ \(\S+ volume, \S+ layer\)", rows["disk"].strip())
    unreachable = cli("--engine-url", "unix:///nonexistent.sock", "status", "k", "--json")
    assert unreachable[0] == 0  # best effort: what the engine cannot say is null
    assert {k: json.loads(unreachable[1])[k] for k in ("uptime_s", "cpu_percent")} == {
        "uptime_s": None,
        "cpu_percent": None,
    }
    cli("park", "k")
    parked = json.loads(cli("status", "k", "--json")[1])
    assert (parked["uptime_s"], parked["cpu_percent"], parked["memory_bytes"]) == (None,) * 3
    assert parked["disk_bytes"] is None


def test_touch_and_extend(cli: CLI) -> None:
    cli("up", "k")
    code, out, _ = cli("touch", "k")
    assert code == 0 and out.startswith("touched k: idle deadline ")
    before = json.loads(cli("status", "k", "--json")[1])["deadline"]
    extended = json.loads(cli("extend", "k", "--by", "30m", "--json")[1])
    assert extended["previous_deadline"] == before
    assert extended["capped"] is False
    code, _, err = cli("extend", "k", "--by", "soon")
    assert code == 2 and "expected a duration" in err


def test_stop_refuses_a_busy_workspace_without_a_terminal(cli: CLI) -> None:
    cli("up", "busy")
    with Dockyard.open(load_settings(flags={"data_dir": cli.data})) as dy:
        worker = threading.Thread(target=dy.exec, args=("busy", ["sleep", "3"]))
        worker.start()
        try:
            deadline = time.monotonic() + 5
            while dy.usage("busy").processes == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            code, out, err = cli("stop", "busy")
            assert code == 4 and out == ""
            assert err == (
                "dockyard: error: workspace 'busy' is in use (1 active session (exec) and "
                "1 running exec process); pass --force to stop it anyway\n"
            )
            assert cli("stop", "busy", "--force")[0:2] == (0, "stopped busy\n")
        finally:
            worker.join()


def test_stop_all_remove_and_rm(cli: CLI) -> None:
    cli("up", "a")
    cli("up", "b")
    code, out, _ = cli("stop", "--all", "--remove")
    assert code == 0
    lines = sorted(out.splitlines())
    assert [line.split(": ")[0] for line in lines] == ["parked a", "parked b"]
    for line, volume in zip(lines, sorted(_volumes(cli).values()), strict=True):
        assert re.fullmatch(rf"parked \w: checkpoint [0-9a-f]{{12}} \(volume {volume}\)", line)
    assert cli("up", "a")[1].startswith("restored ")
    code, out, _ = cli("rm", "a", "--purge")
    assert code == 0 and out.startswith("removed a: volume dy-a-")
    assert out.endswith(" and 1 checkpoint deleted\n")
    assert cli("rm", "a") == (3, "", "dockyard: error: no workspace 'a'\n")


def _volumes(cli: CLI) -> dict[str, str]:
    return {w["key"]: w["volume"] for w in json.loads(cli("ls", "--json")[1])}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["up", ""], 2, "invalid workspace key: it is empty"),
        (["up", "a\tb"], 2, "invalid workspace key: control character '\\t' at position 1"),
        (["up", "k" * 129], 2, "invalid workspace key: 129 characters, the limit is 128"),
        (["up", "k", "--image", "nope/nope:1"], 3, "image 'nope/nope:1' not found on the engine"),
        (["up", "k", "--repo", "/"], 2, "--repo /: not a git repository (no .git directory)"),
        (["up", "k", "--branch", "a..b"], 2, "invalid branch name 'a..b'"),
        (
            ["--engine-url", "unix:///nonexistent.sock", "up", "k"],
            6,
            "cannot reach the container engine at unix:///nonexistent.sock: No such file",
        ),
        (["exec", "nope", "--", "true"], 3, "no workspace 'nope'"),
    ],
)
def test_bad_input_is_one_line_with_a_code_and_leaves_nothing(
    cli: CLI, args: list[str], code: int, message: str
) -> None:
    got_code, out, err = cli(*args)
    assert (got_code, out) == (code, "")
    assert err.startswith(f"dockyard: error: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert json.loads(cli("ls", "--json")[1]) == []


def test_settings_error_names_key_and_source(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_POLICY__IDLE_TIMEOUT", "soon")
    assert cli("ls") == (
        2,
        "",
        (
            "dockyard: error: policy.idle_timeout: expected a duration like 90s, 45m, 1h30m "
            "or 7d, got 'soon' (from DOCKYARD_POLICY__IDLE_TIMEOUT)\n"
        ),
    )


def test_doctor(cli: CLI, docker: DockerEngine) -> None:
    code, out, _ = cli("doctor", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert [c["name"] for c in report["checks"]] == [
        "data dir",
        "store",
        "engine",
        "disk caps",
        "image",
        "container",
    ]
    caps = next(c for c in report["checks"] if c["name"] == "disk caps")
    assert caps["ok"] and caps["detail"].startswith("available")
    engine = next(c for c in report["checks"] if c["name"] == "engine")
    info = docker.ping()  # Debian's 20.10.24 has the endpoint deadlock: one warning
    assert engine["warnings"] == known_defects(info.kind, info.version)
    code, out, _ = cli("--engine-url", "unix:///nonexistent.sock", "doctor")
    assert code == 1
    assert "FAIL engine" in out and "fix: start the engine" in out


def test_clean_dry_run_shows_the_plan_and_changes_nothing(cli: CLI) -> None:
    cli("up", "due", "--idle-timeout", "1m")
    cli("up", "kept", "--idle-timeout", "1m", "--keep")
    cli("up", "fresh")
    cli.idle("due", for_=timedelta(minutes=2))
    cli.idle("kept", for_=timedelta(minutes=2))
    code, out, _ = cli("clean", "--dry-run")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ACTION", "TARGET", "REASON", "DETAIL"]
    assert [line.split()[:3] for line in lines[1:]] == [["park", "due", "idle"]]
    states = {w["key"]: w["state"] for w in json.loads(cli("ls", "--json")[1])}
    assert states == {"due": "running", "kept": "running", "fresh": "running"}
    listed = {w["key"]: w["pending"] for w in json.loads(cli("ls", "--json")[1])}
    assert listed["due"]["action"] == "park" and listed["due"]["in_s"] == 0
    assert listed["fresh"]["action"] == "warn" and listed["kept"] is None
    code, out, _ = cli("clean", "--json")
    report = json.loads(out)
    assert code == 0 and report["dry_run"] is False
    assert [(a["action"], a["target"], a["outcome"]) for a in report["actions"]] == [
        ("park", "due", "done")
    ]
    states = {w["key"]: w["state"] for w in json.loads(cli("ls", "--json")[1])}
    assert states == {"due": "parked", "kept": "running", "fresh": "running"}
    assert cli("clean")[1] == "nothing to do; next due " + cli("clean")[1].split("next due ")[1]


def test_ls_shows_what_comes_next(cli: CLI) -> None:
    cli("up", "k")
    code, out, _ = cli("ls")
    header, row = out.splitlines()
    assert code == 0 and header.split()[-1] == "NEXT"
    assert row.endswith(("warn in 39m (idle_soon)", "warn in 40m (idle_soon)"))


def test_keep_and_unkeep(cli: CLI) -> None:
    cli("up", "k", "--idle-timeout", "1m")
    cli.idle("k", for_=timedelta(minutes=2))
    assert cli("keep", "k") == (0, "kept k\n", "")
    assert cli("keep", "k") == (0, "k: already kept\n", "")
    assert json.loads(cli("clean", "--json")[1])["actions"] == []
    assert cli("unkeep", "k")[:2] == (0, "unkept k\n")
    assert [a["target"] for a in json.loads(cli("clean", "--json")[1])["actions"]] == ["k"]


def test_background_cleanup_never_fails_the_command(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_RECONCILER__BACKGROUND_INTERVAL", "1h")
    code, out, err = cli("--engine-url", "unix:///nonexistent.sock", "ls")
    assert (code, out) == (0, "")
    assert err.startswith("warning: the engine did not answer")
    marker = cli.data / ".last_container_cleanup"
    assert marker.exists()
    first = marker.stat().st_mtime
    cli("--engine-url", "unix:///nonexistent.sock", "ls")
    assert marker.stat().st_mtime == first  # at most once an interval


def test_park_checkpoints_and_up_from(cli: CLI) -> None:
    cli("up", "ck", "--strategy", "git")
    cli("exec", "ck", "--", "sh", "-c", "echo one > /workspace/v.txt")
    code, out, err = cli("park", "ck")
    assert (code, err) == (0, "")
    assert re.fullmatch(
        r"parked ck: checkpoint ([0-9a-f]{12}) \(git bundle at commit [0-9a-f]{12}, "
        r"1 file changed, \d+B\)\n",
        out,
    )
    first = out.split()[3]
    code, out, _ = cli("up", "ck")
    assert code == 0 and out.startswith("restored ")
    cli("exec", "ck", "--", "sh", "-c", "echo two > /workspace/v.txt")
    cli("park", "ck")

    code, out, _ = cli("checkpoints", "ck", "--json")
    listed = json.loads(out)
    assert [c["kind"] for c in listed] == ["bundle", "bundle"]
    assert listed[1]["id"] == first
    assert all(c["verified"] for c in listed)
    code, out, _ = cli("checkpoints", "ck")
    assert out.splitlines()[0].split() == [
        "ID", "KIND", "REF", "SIZE", "SAVED", "EXPIRES", "IN", "VERIFIED", "DETAIL"
    ]  # fmt: skip

    code, out, _ = cli("up", "ck", "--from", first[:5], "--json")
    restored = json.loads(out)
    assert (restored["outcome"], restored["restored_from"]["id"]) == ("restored", first)
    assert cli("exec", "ck", "--", "cat", "/workspace/v.txt")[1] == "one\n"

    refusal = (
        "dockyard: error: workspace 'ck' is running; park it first (dockyard park ck), "
        "then restore a checkpoint with up --from\n"
    )
    assert cli("up", "ck", "--from", first) == (4, "", refusal)
    cli("park", "ck")
    assert cli("up", "ck", "--from", "nope!")[0] == 2
    assert cli("up", "ck", "--from", "ffffff")[0] == 3


def test_tokens_and_events(cli: CLI) -> None:
    code, out, err = cli("token", "create", "--owner", "alice", "--description", "ci")
    assert code == 0 and out.startswith("dy_") and "shown once" in err
    listed = json.loads(cli("token", "list", "--json")[1])
    assert [(t["owner"], t["description"]) for t in listed] == [("alice", "ci")]
    assert out.strip() not in cli("token", "list")[1]  # the secret is never shown again
    assert cli("token", "revoke", listed[0]["id"])[0] == 0
    assert cli("token", "revoke", listed[0]["id"])[0] == 3
    assert cli("token", "create")[0] == 2  # --owner or --admin

    cli("up", "ev")
    cli("touch", "ev")
    cli("extend", "ev", "--by", "5m")
    code, out, _ = cli("events", "--workspace", "ev", "--json")
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert types == ["workspace.created", "workspace.extended"]


def test_ls_usage_reports_cpu_and_memory_of_running_workspaces(cli: CLI) -> None:
    cli("up", "used")
    code, out, _ = cli("ls", "--usage", "--json")
    [row] = json.loads(out)
    assert code == 0
    assert row["cpu_percent"] is not None and row["cpu_percent"] >= 0
    assert row["memory_bytes"] is not None and row["memory_bytes"] > 0
    assert row["disk_bytes"] == row["disk_volume_bytes"] + row["disk_layer_bytes"]
    code, out, _ = cli("ls", "--usage")
    assert code == 0 and "CPU/MEM/DISK" in out


def test_keys_are_shown_as_they_are_in_aligned_columns(cli: CLI) -> None:
    """Rich turned :one: into an emoji; columns were counted in characters, not cells."""
    cli("up", "ab:one:", "--owner", "o")
    cli("up", "工作区", "--owner", "o")
    code, out, _ = cli("ls")
    assert code == 0
    header, *rows = out.splitlines()
    assert any(row.startswith("ab:one: ") for row in rows)
    starts = {cell_len(line[: line.index("dy-")]) for line in rows}
    assert starts == {cell_len(header[: header.index("CONTAINER")])}  # one column edge


def test_usage_errors_are_one_line(cli: CLI) -> None:
    code, out, err = cli("up")
    assert (code, out) == (2, "")
    assert err == "dockyard: error: Missing argument 'KEY'. (see 'dockyard up --help')\n"
    code, _, err = cli("ls", "--bogus")
    assert code == 2 and len(err.splitlines()) == 1


def test_up_disk_caps_the_volume_and_status_shows_how_full_it_is(cli: CLI) -> None:
    try:
        code, out, _ = cli("up", "capped", "--disk", "32m", "--json")
        assert code == 0 and json.loads(out)["resources"]["disk_bytes"] == 32 * 1024**2
        cli("exec", "capped", "--", "dd", "if=/dev/zero", "of=/workspace/f", "bs=1M", "count=8")
        live = json.loads(cli("status", "capped", "--json")[1])
        assert live["disk_limit_bytes"] == 32 * 1024**2 and 20 < live["disk_volume_percent"] < 50
        code, out, _ = cli("status", "capped")
        rows = dict(line.split(None, 1) for line in out.splitlines() if " " in line)
        assert "a 32.0MiB volume" in rows["resources"] and "% full" in rows["disk"]
        code, _, err = cli("up", "tiny", "--disk", "1m")
        assert (
            code == 2
            and err == "dockyard: error: disk must be between 16.0MiB and 64.0TiB, not 1.0MiB\n"
        )
        assert cli("rm", "capped", "--purge", "--force")[0] == 0
        assert list((cli.data / "disks").glob("*.img")) == []
    finally:  # whatever failed: no loop device or disk file of this test stays behind
        for image in (cli.data / "disks").glob("*.img"):
            cli("rm", "capped", "--purge", "--force")
            loopdisk.delete(LoopDisk.at_link(str(image.with_suffix(".dev"))))
