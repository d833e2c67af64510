"""What a user feels: whole ``dockyard`` processes against the engine's own CLI, each
pair run in turn (A, B, A, B, ...) in one run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import fleet
from bench.figures import Bench, interleaved, ratio_figure
from bench.stats import Figure, p50, timed
from dockyard.service import AcquireRequest

DOCKYARD = str(Path(sys.executable).parent / "dockyard")
WORKSPACES = 10


def cli_figures(bench: Bench) -> list[Figure]:
    """exec and ls against docker exec and docker ps; --help on its own."""
    data = Path(tempfile.mkdtemp(prefix="dockyard-bench-cli-"))
    dy = fleet.open_manager(data, **{"policy.max_workspaces_per_owner": WORKSPACES})
    fleet.clean_up_on_exit(dy.ctx.installation)
    env = {**os.environ, "DOCKYARD_DATA_DIR": str(data)}
    env.pop("DOCKYARD_URL", None)
    samples = 5 if bench.quick else 15
    try:
        names = [
            dy.acquire(AcquireRequest(key=f"bench-cli-{i}")).workspace.name
            for i in range(WORKSPACES)
        ]

        def run(*argv: str) -> None:
            subprocess.run(argv, env=env, capture_output=True, check=True, timeout=120)

        run(DOCKYARD, "ls")  # the first starts the hourly background cleanup: not measured
        exec_figure = ratio_figure(
            "dockyard exec KEY -- true, a whole process",
            2.0,
            bench,
            lambda: interleaved(
                lambda: run(DOCKYARD, "exec", "bench-cli-0", "--", "true"),
                lambda: run("docker", "exec", names[0], "true"),
                samples,
            ),
            note="vs docker exec NAME true of the same container",
        )
        ls_figure = ratio_figure(
            f"dockyard ls, {WORKSPACES} workspaces, a whole process",
            10.0,
            bench,
            lambda: interleaved(lambda: run(DOCKYARD, "ls"), lambda: run("docker", "ps"), samples),
            note="vs docker ps",
        )
        help_figure = Figure("dockyard --help, a whole process", "s", 0.15)
        for _ in range(bench.runs):
            help_figure.runs.append(
                p50([timed(lambda: run(DOCKYARD, "--help")) for _ in range(samples)])
            )
        return [exec_figure, ls_figure, help_figure]
    finally:
        fleet.sweep(dy.ctx.installation)
        dy.close()
        shutil.rmtree(data, ignore_errors=True)
