"""Twenty `up` calls for one key at the same moment end with exactly one container."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from dockyard.core.model import Outcome
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_WORKSPACE
from dockyard.engine.docker import DockerEngine
from dockyard.service import AcquireRequest, Dockyard
from dockyard.store import Store

CALLERS = 20


def test_twenty_threads_each_with_its_own_manager(
    engine_settings: Any, installed: list[str], docker: DockerEngine
) -> None:
    services = [Dockyard.open(engine_settings) for _ in range(CALLERS)]
    installation = services[0].ctx.installation
    installed.append(installation)
    barrier = threading.Barrier(CALLERS)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def call(service: Dockyard) -> None:
        barrier.wait()
        try:
            outcomes.append(service.acquire(AcquireRequest(key="race")).outcome)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for service in services:
        service.close()
    assert errors == []
    assert Counter(outcomes) == {Outcome.CREATED: 1, Outcome.REUSED: CALLERS - 1}
    containers = docker.list_containers(
        labels={LABEL_INSTALLATION: installation, LABEL_WORKSPACE: "race"}
    )
    assert len(containers) == 1 and containers[0].running


def test_twenty_processes(tmp_path: Path, installed: list[str], docker: DockerEngine) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_DATA_DIR"] = str(data)
    env["DOCKYARD_WORKSPACE__MEMORY"] = "256m"
    (tmp_path / "empty.toml").write_text("")
    env["DOCKYARD_CONFIG"] = str(tmp_path / "empty.toml")
    # Start them all before waiting for any: they race on a database that does not exist
    # yet, so migration, installation id and the workspace lease are all contended.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dockyard", "up", "proc-race"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(CALLERS)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    store = Store.open(f"sqlite:///{data / 'dockyard.db'}")
    installation = store.installation_id
    store.close()
    installed.append(installation)
    assert [r for r in results if r[0] != 0] == []
    outcomes = Counter(out.split()[0] for _, out, _ in results)
    assert outcomes == {"created": 1, "reused": CALLERS - 1}
    assert len({out.split()[1] for _, out, _ in results}) == 1  # everyone got the same name
    containers = docker.list_containers(labels={LABEL_INSTALLATION: installation})
    assert len(containers) == 1 and containers[0].running
