"""``dockyard exec`` as an agent runs it, a whole process each time: the quick path for a
running workspace (the same session, activity and output as the full command), and the
full CLI for everything it declines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dockyard.core.model import SessionKind, SessionStatus
from dockyard.store import Store
from tests.cli.conftest import CLI

#: ``dockyard exec`` in a process of its own, telling (on $PROBE_FD) whether it stayed quick.
PROBE = (
    "import os, sys\n"
    "sys.argv = ['dockyard', *sys.argv[1:]]\n"
    "from dockyard.cli.entry import main\n"
    "code = main()\n"
    "told = b'full' if 'sqlalchemy' in sys.modules else b'quick'\n"
    "os.write(int(os.environ['PROBE_FD']), told)\n"
    "sys.exit(code)\n"
)


def dockyard(data: Path, *args: str) -> tuple[int, str, str, str]:
    """Exit code, stdout, stderr, and which path ran ("quick" or "full")."""
    read, write = os.pipe()
    env = {**os.environ, "DOCKYARD_DATA_DIR": str(data), "PROBE_FD": str(write)}
    env.pop("DOCKYARD_URL", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            pass_fds=(write,),
            check=False,
        )
    finally:
        os.close(write)
    with os.fdopen(read) as told:
        path = told.read()
    return done.returncode, done.stdout, done.stderr, path


def store_of(cli: CLI) -> Store:
    return Store.open(f"sqlite:///{cli.data / 'dockyard.db'}")


def test_exec_of_a_running_workspace_is_quick_and_complete(cli: CLI) -> None:
    assert cli("up", "agent-1")[0] == 0
    store = store_of(cli)
    try:
        before = store.workspaces.get("agent-1")
        assert before is not None
        script = "echo out; echo err >&2; echo $DOCKYARD_WORKSPACE; pwd; exit 7"
        code, out, err, path = dockyard(cli.data, "exec", "agent-1", "--", "sh", "-c", script)
        assert (code, out, err, path) == (7, "out\nagent-1\n/workspace\n", "err\n", "quick")
        after = store.workspaces.get("agent-1")
        assert after is not None
        assert after.last_activity_at > before.last_activity_at  # activity, as the full path
        (session,) = store.sessions.list(workspace_key="agent-1")
        assert (session.kind, session.status) == (SessionKind.EXEC, SessionStatus.DEAD)
        assert session.description == f"sh -c {script}"
        assert session.closed_reason is not None
    finally:
        store.close()

    code, out, _err, path = dockyard(cli.data, "exec", "agent-1", "echo", "plain")
    assert (code, out, path) == (0, "plain\n", "quick")


def test_what_the_quick_path_declines_the_full_cli_does(cli: CLI) -> None:
    code, _out, err, path = dockyard(cli.data, "exec", "nobody", "--", "true")
    assert (code, path) == (3, "full")
    assert "no workspace 'nobody'" in err

    assert cli("up", "agent-2")[0] == 0
    code, out, _err, path = dockyard(
        cli.data, "exec", "agent-2", "-e", "A=1", "--", "sh", "-c", "echo $A"
    )
    assert (code, out, path) == (0, "1\n", "full")  # an option: click parses it

    assert cli("park", "agent-2")[0] == 0
    code, _out, err, path = dockyard(cli.data, "exec", "agent-2", "--", "true")
    assert (code, path) == (4, "full")
    assert "dockyard up agent-2" in err


def test_a_reader_that_goes_away_is_no_error(cli: CLI) -> None:
    assert cli("up", "agent-3")[0] == 0
    env = {**os.environ, "DOCKYARD_DATA_DIR": str(cli.data)}
    env.pop("DOCKYARD_URL", None)
    piped = subprocess.run(
        [
            "sh",
            "-c",
            (
                f"{sys.executable} -m dockyard exec agent-3 -- sh -c 'yes | head -c 20000000'"
                " | head -c 5"
            ),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert piped.stdout == "y\ny\ny"
    assert "Traceback" not in piped.stderr
