"""A manager killed with SIGKILL at any step of a park loses no work.

For each strategy and each step its park goes through, a separate manager process parks
a workspace full of sentinel files and kills itself (SIGKILL: no cleanup, no finally)
the moment the step is announced. Then a fresh manager runs the reconciler, which finds
the interrupted park and finishes it, and ``up`` brings the workspace back: every
sentinel file must be there, with the same content. Zero lost files over all runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.core.model import Outcome, SaveStrategy, State
from dockyard.engine.base import ExecSpec
from dockyard.engine.process import run
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.reconcile.passes import run_pass
from dockyard.service.snapshots.checkpoints import STEP_EXPORTED
from dockyard.service.snapshots.gitops import STEP_COMMIT, STEP_COMMITTED
from dockyard.service.workspaces.parking import STEP_REMOVING, STEP_STOPPED
from dockyard.settings import Settings
from tests.helpers import FakeClock, make_repo, store_env

SENTINELS = (
    "cd /workspace && echo changed >> README.md && rm src/run.sh"
    " && for i in 1 2 3 4 5; do echo sentinel-$i > sentinel-$i.txt; done"
    " && mkdir -p nested/dir && echo deep > nested/dir/sentinel.txt"
)
SNAPSHOT = "cd /workspace && find . -path ./.git -prune -o -type f -exec sha256sum {} + | sort"

#: The park of a manager that dies the moment ``step`` is announced.
CHILD = """
import os, signal, sys
from dockyard.service import Dockyard

key, step = sys.argv[1], sys.argv[2]

def progress(message: str) -> None:
    if message.startswith(step):
        os.kill(os.getpid(), signal.SIGKILL)

with Dockyard.open() as dy:
    dy.park(key, force=True, progress=progress)
sys.exit(3)  # the step never came
"""

CASES = [
    (SaveStrategy.GIT, STEP_COMMIT),  # before the commit
    (SaveStrategy.GIT, STEP_COMMITTED),  # after the commit
    (SaveStrategy.GIT, STEP_EXPORTED),  # after the bundle is exported and verified
    (SaveStrategy.GIT, STEP_STOPPED),  # after the container stopped
    (SaveStrategy.GIT, STEP_REMOVING),  # right before the container is removed
    (SaveStrategy.VOLUME, STEP_COMMIT),
    (SaveStrategy.VOLUME, STEP_COMMITTED),
    (SaveStrategy.VOLUME, STEP_STOPPED),
    (SaveStrategy.VOLUME, STEP_REMOVING),
    (SaveStrategy.IMAGE, STEP_EXPORTED),
    (SaveStrategy.IMAGE, STEP_STOPPED),
    (SaveStrategy.IMAGE, STEP_REMOVING),
]


def snapshot(dy: Dockyard, key: str) -> str:
    ws = dy.get(key)
    result = run(dy.ctx.engine, ref=ws.name, spec=ExecSpec(argv=["sh", "-c", SNAPSHOT]))
    assert result.ok, result.stderr.decode()
    return result.stdout.decode()


def kill_mid_park(settings: Settings, key: str, step: str) -> None:
    env = {
        **os.environ,
        **store_env(settings),
        "DOCKYARD_WORKSPACE__STOP_TIMEOUT": "2s",
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, key, step],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stderr)


@pytest.mark.parametrize(("strategy", "step"), CASES, ids=[f"{s}-{t}" for s, t in CASES])
def test_sigkill_at_any_step_of_a_park_loses_nothing(
    timed: Dockyard,
    clock: FakeClock,
    tmp_path: Path,
    strategy: SaveStrategy,
    step: str,
) -> None:
    key = "crashy"
    request = AcquireRequest(key=key, repo=str(make_repo(tmp_path / "app")), strategy=strategy)
    timed.acquire(request)
    assert run(
        timed.ctx.engine, ref=timed.get(key).name, spec=ExecSpec(argv=["sh", "-c", SENTINELS])
    ).ok
    before = snapshot(timed, key)
    assert before.count("sentinel") == 6

    kill_mid_park(timed.ctx.settings, key, step)
    assert timed.get(key).state is State.PARKING  # the intent is on record

    clock.advance(timedelta(minutes=5))  # past interrupted_after
    report = run_pass(timed.ctx)
    assert [(r.action.verb, r.outcome) for r in report.results] == [("recover", "done")], [
        r.message for r in report.results
    ]
    assert timed.get(key).state is State.PARKED

    result = timed.acquire(AcquireRequest(key=key))
    assert result.outcome is Outcome.RESTORED
    assert snapshot(timed, key) == before
