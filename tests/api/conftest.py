"""A real ``dockyard serve`` process on loopback, on the real engine, with known tokens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from dockyard.engine.docker import DockerEngine
from dockyard.service.tokens import create_token
from dockyard.store import Store
from tests.engine_fixtures import remove_installation
from tests.helpers import free_port

ADMIN = "dy_test-admin-token-0123456789abcdef"


@dataclass
class Server:
    url: str
    data: Path
    process: subprocess.Popen[bytes]
    log: Path
    store_url: str

    def client(self, token: str | None = ADMIN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def token(self, owner: str) -> str:
        store = Store.open(self.store_url)
        try:
            return create_token(store, owner=owner, description="test", at=datetime.now(UTC))[1]
        finally:
            store.close()

    @property
    def installation(self) -> str:
        store = Store.open(self.store_url)
        try:
            return store.installation_id
        finally:
            store.close()


def start_server(
    tmp_path: Path,
    *,
    extra_config: str = "",
    database_url: str | None = None,
    policy: str = "",
    workspace: str = "",
) -> Server:
    """``serve`` with its data dir under ``tmp_path``, on SQLite there or on
    ``database_url`` (replicas share one); ``policy``, ``workspace``: more lines of its
    [policy] and [workspace]."""
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    store_url = database_url or f"sqlite:///{data / 'dockyard.db'}"
    config.write_text(
        f'data_dir = "{data}"\ndatabase_url = "{store_url}"\n'
        f'[workspace]\nmemory = "256m"\nstop_timeout = "2s"\n{workspace}'
        f"[policy]\nmax_sessions_per_workspace = 2\n{policy}"
        f'[api]\nadmin_token = "{ADMIN}"\n' + extra_config
    )
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "DOCKYARD_CONFIG": str(config)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", data, process, log, store_url)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"dockyard serve did not come up:\n{log.read_text()}")
        time.sleep(0.05)


def stop_server(server: Server) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


@pytest.fixture
def server(tmp_path: Path, docker: DockerEngine) -> Iterator[Server]:
    running = start_server(tmp_path)
    yield running
    stop_server(running)
    remove_installation(docker, running.installation)
