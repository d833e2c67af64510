"""Each figure of the suite: what dockyard does, and the engine's floor for the same work.

Samples of dockyard and of its floor are interleaved (A, B, A, B, ...) so that both see
the same noise; a run's figure is the ratio of their medians.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench import fleet
from bench.stats import Figure, p50, percentile, timed
from dockyard.core.events import EventType
from dockyard.core.model import PolicyOverrides, SaveStrategy, State
from dockyard.engine.base import Engine, ExecSpec
from dockyard.engine.models import VolumeMount
from dockyard.engine.process import run
from dockyard.service import AcquireRequest, Dockyard, Reconciler
from dockyard.service.observe import observe
from dockyard.service.reconcile.passes import run_pass
from dockyard.service.reconcile.replicas import Membership
from dockyard.service.snapshots.gitops import GIT_ENV
from dockyard.service.workspaces.containers import container_spec
from dockyard.service.workspaces.networks import network_for

ADMIN = "dy_bench-admin-token"


@dataclass
class Bench:
    dy: Dockyard
    data: Path
    runs: int
    quick: bool

    @property
    def engine(self) -> Engine:
        return self.dy.ctx.engine


def interleaved(
    ours: Callable[[], object], floor: Callable[[], object], samples: int
) -> tuple[float, float]:
    a, b = [], []
    for _ in range(samples):
        a.append(timed(ours))
        b.append(timed(floor))
    return p50(a), p50(b)


def ws_workdir(bench: Bench) -> str:
    return bench.dy.ctx.settings.workspace.workdir


def ratio_figure(
    name: str,
    target: float,
    bench: Bench,
    one_run: Callable[[], tuple[float, float]],
    note: str = "",
) -> Figure:
    figure = Figure(name, "x floor", target, note=note)
    for _ in range(bench.runs):
        ours, floor = one_run()
        figure.value_s.append(ours)
        figure.floor_s.append(floor)
        figure.runs.append(ours / floor)
    return figure


# -- acquire ----------------------------------------------------------------------------------


def warm_acquire(bench: Bench) -> Figure:
    dy = bench.dy
    ws = dy.acquire(AcquireRequest(key="bench-warm")).workspace
    samples = 50 if bench.quick else 300

    def floor() -> None:
        bench.engine.inspect_container(ref=ws.container_id or ws.name)
        dy.ctx.store.workspaces.get(ws.key)

    return ratio_figure(
        "warm acquire, in-process, p50",
        3.0,
        bench,
        lambda: interleaved(lambda: dy.acquire(AcquireRequest(key=ws.key)), floor, samples),
        note="floor: one inspect round trip + one store read",
    )


@dataclass(frozen=True)
class Served:
    url: str
    pid: int


@contextmanager
def served(bench: Bench, *, config_lines: str = "") -> Iterator[Served]:
    """A ``dockyard serve`` on the bench's data directory (API only)."""
    config = bench.data / "serve.toml"
    config.write_text(f'data_dir = "{bench.data}"\n{config_lines}[api]\nadmin_token = "{ADMIN}"\n')
    port = free_port()
    env = {**os.environ, "DOCKYARD_CONFIG": str(config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve", "--port", str(port), "--no-reconciler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield Served(url, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def warm_acquire_http(bench: Bench, url: str) -> Figure:
    dy = bench.dy
    ws = dy.acquire(AcquireRequest(key="bench-warm")).workspace
    samples = 50 if bench.quick else 300
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"})

    def ours() -> None:
        response = client.post("/api/v1/workspaces", json={"key": ws.key})
        response.raise_for_status()

    def floor() -> None:
        bench.engine.inspect_container(ref=ws.container_id or ws.name)
        dy.ctx.store.workspaces.get(ws.key)

    try:
        return ratio_figure(
            "warm acquire over HTTP, p50",
            6.0,
            bench,
            lambda: interleaved(ours, floor, samples),
            note="same floor; one keep-alive client",
        )
    finally:
        client.close()


def cold_acquire(bench: Bench) -> Figure:
    dy = bench.dy
    samples = 3 if bench.quick else 8
    counter = iter(range(10**6))

    def one_run() -> tuple[float, float]:
        ours, floors = [], []
        for _ in range(samples):
            key = f"bench-cold-{next(counter)}"
            ours.append(timed(lambda: dy.acquire(AcquireRequest(key=key))))
            ws = dy.get(key)
            dy.remove(key, purge=True, force=True)
            raw_volume = VolumeMount(volume=ws.volume + "-raw", target=ws_workdir(bench))
            spec = replace(
                container_spec(dy.ctx, ws, network=network_for(dy.ctx, ws.owner)),
                name=ws.name + "-raw",
                mounts=[raw_volume],
            )

            def raw() -> None:
                bench.engine.create_volume(name=ws.volume + "-raw", labels=dict(spec.labels))
                cid = bench.engine.create_container(spec=spec)
                bench.engine.start_container(ref=cid)

            floors.append(timed(raw))
            bench.engine.remove_container(ref=spec.name)
            bench.engine.remove_volume(name=ws.volume + "-raw")
        return p50(ours), p50(floors)

    return ratio_figure(
        "cold acquire (new workspace)",
        1.15,
        bench,
        one_run,
        note="floor: raw volume create + container create + start, same image and spec",
    )


# -- exec and park ----------------------------------------------------------------------------


def exec_trivial(bench: Bench) -> Figure:
    dy = bench.dy
    ws = dy.acquire(AcquireRequest(key="bench-exec")).workspace
    samples = 30 if bench.quick else 150

    def ours() -> None:
        dy.exec(ws.key, ["true"], on_output=lambda _s, _d: None)

    def floor() -> None:
        run(bench.engine, ref=ws.container_id or ws.name, spec=ExecSpec(argv=["true"]))

    return ratio_figure(
        "exec of a trivial command",
        1.10,
        bench,
        lambda: interleaved(ours, floor, samples),
        note="floor: raw exec create + start + inspect",
    )


SMALL_REPO = (
    "cd /workspace && git init -q && for i in $(seq 1 30); do echo line $i > f$i.txt; done"
    " && git add -A && git commit -qm init"
)


def park_git(bench: Bench) -> Figure:
    dy = bench.dy
    samples = 2 if bench.quick else 5
    counter = iter(range(10**6))
    workdir = dy.ctx.settings.workspace.workdir

    def git(container: str, script: str) -> None:
        result = run(
            bench.engine,
            ref=container,
            spec=ExecSpec(argv=["sh", "-c", script], env=dict(GIT_ENV), workdir=workdir),
        )
        assert result.ok, result.stderr

    def one_run() -> tuple[float, float]:
        ours, floors = [], []
        for _ in range(samples):
            key = f"bench-park-{next(counter)}"
            ws = dy.acquire(AcquireRequest(key=key, strategy=SaveStrategy.GIT)).workspace
            git(ws.name, SMALL_REPO + " && echo change >> f1.txt && echo new > new.txt")
            ours.append(timed(lambda: dy.park(key, force=True)))
            dy.remove(key, purge=True, force=True)
            # the same work by hand on a twin container
            network = network_for(dy.ctx, ws.owner)
            spec = replace(
                container_spec(dy.ctx, ws, network=network), name=ws.name + "-raw", mounts=[]
            )
            cid = bench.engine.create_container(spec=spec)
            bench.engine.start_container(ref=cid)
            git(cid, SMALL_REPO + " && echo change >> f1.txt && echo new > new.txt")
            target = bench.data / f"{key}.bundle.tar"

            def raw() -> None:
                git(
                    cid,
                    "git add -A && git commit -qm checkpoint --no-verify"
                    " && git bundle create -q /tmp/b.bundle --all",
                )
                with bench.engine.get_archive(ref=cid, path="/tmp/b.bundle") as chunks:
                    target.write_bytes(b"".join(chunks))
                bench.engine.stop_container(ref=cid, timeout_s=5)
                bench.engine.remove_container(ref=cid)

            floors.append(timed(raw))
            target.unlink(missing_ok=True)
        return p50(ours), p50(floors)

    return ratio_figure(
        "park (git strategy, small repo)",
        1.5,
        bench,
        one_run,
        note="floor: the same commit, bundle, copy out, stop and remove by raw API calls",
    )


# -- fleets -----------------------------------------------------------------------------------


def noop_reconcile(bench: Bench, n: int, *, history: int = 0) -> Figure:
    dy = bench.dy
    samples = 5 if bench.quick else 15

    def ours() -> None:
        report = run_pass(dy.ctx)
        assert not report.results, [r.action for r in report.results]

    def floor() -> None:
        bench.engine.list_containers(labels={"dockyard.installation": dy.ctx.installation})
        dy.ctx.store.workspaces.working_set()

    with_history = f" and {history:,} parked records" if history else ""
    return ratio_figure(
        f"no-op reconcile pass, N = {n}{with_history}",
        2.0,
        bench,
        lambda: interleaved(ours, floor, samples),
        note="floor: one label-filtered list call + one store query of the live records",
    )


def shared_pass(bench: Bench, n: int, replicas: int = 3) -> Figure:
    """One replica's pass over ``n`` workspaces all due a warning (each probed for
    busyness first, the costly part) when ``replicas`` loops share them, against the same
    pass of a loop alone. The other members are leases in the same store, as other
    replicas' would be; nothing is executed (the plan is the same every time)."""
    dy = bench.dy
    later = timedelta(minutes=41)  # every fleet workspace is inside its warning window

    def clock() -> datetime:
        return datetime.now(UTC) + later

    contexts = [
        replace(dy.ctx, clock=clock, holder=f"bench-replica-{i}:{os.getpid()}:p{i:016x}")
        for i in range(replicas)
    ]
    members = [Membership(ctx, on_change=lambda: None) for ctx in contexts]
    for member in members:
        member.join(watch=False)
    mine = members[0]
    mine.refresh()
    alone = replace(dy.ctx, clock=clock)
    samples = 3 if bench.quick else 7
    planned: list[int] = []

    def ours() -> None:
        share = mine.share
        seen = observe(contexts[0], probe=True, working_set=True, mine=share.mine)
        planned.append(len(share.of(seen.plan(contexts[0].policy)).actions))

    def floor() -> None:
        observe(alone, probe=True, working_set=True).plan(alone.policy)

    try:
        figure = ratio_figure(
            f"reconcile pass, N = {n} due, one of {replicas} replicas",
            0.45,
            bench,
            lambda: interleaved(ours, floor, samples),
        )
        figure.note = (
            f"floor: the same pass of one loop alone (its share: {min(planned)}-"
            f"{max(planned)} of {n} warnings)"
        )
    finally:
        for member in members:
            member.leave()
    return figure


def status_usage(bench: Bench, n: int, names: list[str]) -> Figure:
    samples = 2 if bench.quick else 3
    cli = [
        sys.executable,
        "-m",
        "dockyard",
        "--data-dir",
        str(bench.data),
        "ls",
        "--json",
        "--usage",
    ]
    stats = ["docker", "stats", "--no-stream", "--format", "{{json .}}", *names]

    def ours() -> None:
        out = subprocess.run(cli, capture_output=True, check=True, timeout=600).stdout
        assert len(json.loads(out)) >= n

    def floor() -> None:
        subprocess.run(stats, capture_output=True, check=True, timeout=600)

    return ratio_figure(
        f"status --json with CPU/memory, N = {n}",
        0.25,
        bench,
        lambda: interleaved(ours, floor, samples),
        note="dockyard ls --json --usage (a CLI process) vs docker stats --no-stream",
    )


def touches(bench: Bench, url: str | None) -> list[Figure]:
    """Touches of one workspace, as an agent sends them; and, for the note, the rate of
    touches that each reach the store (no coalescing, round-robin over many workspaces)."""
    dy = bench.dy
    ws = dy.acquire(AcquireRequest(key="bench-touch")).workspace
    window = 1.0 if bench.quick else 2.0
    inproc = Figure("touches per second, in-process", "/s", 20_000, higher_is_better=True)
    http = Figure("touches per second, over HTTP", "/s", 2_000, higher_is_better=True)
    records = fleet.add_records(dy, 1_000, prefix="bench-touches", state=State.RUNNING)
    spread = itertools.cycle(records)

    def write_touch(key: str) -> None:  # the store write a touch makes when not coalesced
        assert dy.ctx.store.workspaces.record_activity(key, at=dy.ctx.now(), coalesce=timedelta(0))

    written: list[float] = []
    floors: list[float] = []

    def over_http(base: str, path: str) -> float:
        """Touches over a connection of their own (an idle one is closed after 5 s)."""
        client = KeepAliveClient(base)
        try:
            return rate(lambda: client.post(path), window)
        finally:
            client.close()

    try:
        with raw_server() as raw_url:
            for _ in range(bench.runs):
                inproc.runs.append(rate(lambda: dy.touch(ws.key), window))
                written.append(rate(lambda: write_touch(next(spread)), window))
                if url is not None:
                    http.runs.append(over_http(url, f"/api/v1/workspaces/{ws.key}/touch"))
                    floors.append(over_http(raw_url, "/touch"))
    finally:
        fleet.delete_records(dy, records)
    inproc.note = (
        "one workspace: touches within a second are written once; "
        f"touches that each write (no coalescing, 1,000 workspaces round-robin): "
        f"{p50(written):,.0f}/s"
    )
    http.note = (
        "one keep-alive connection (http.client), sequential requests; a do-nothing ASGI "
        f"app on the same uvicorn and client: {p50(floors):,.0f}/s"
        if floors
        else "one keep-alive connection (http.client), sequential requests"
    )
    return [inproc, http] if url is not None else [inproc]


@contextmanager
def raw_server() -> Iterator[str]:
    """``bench.raw_asgi`` under uvicorn, as ``serve`` runs (httptools, uvloop)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.raw_asgi:app",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).parent.parent,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


class KeepAliveClient:
    """The leanest Python HTTP client (stdlib, one connection): what is measured is the
    server, not the client library."""

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        self._conn = http.client.HTTPConnection(parsed.host, parsed.port)
        self._headers = {"Authorization": f"Bearer {ADMIN}"}

    def post(self, path: str) -> None:
        self._conn.request("POST", path, headers=self._headers)
        response = self._conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: HTTP {response.status}")

    def close(self) -> None:
        self._conn.close()


def rate(action: Callable[[], object], window: float) -> float:
    count = 0
    began = time.perf_counter()
    while time.perf_counter() - began < window:
        action()
        count += 1
    return count / (time.perf_counter() - began)


def deadline_precision(bench: Bench, n: int) -> Figure:
    """``n`` workspaces whose deadlines fall over about a minute; how late each parks."""
    dy = bench.dy
    spread = 20.0 if bench.quick else 60.0
    figure = Figure(
        f"deadline precision, {n} staggered deadlines, p99 late",
        "s",
        1.0,
        note="parked event time minus the deadline; p50 and max in runs' note",
    )
    workspaces = fleet.bring_up(dy, n, prefix="bench-deadline", volumes=True)
    now = dy.ctx.now()
    deadlines = {}
    for i, ws in enumerate(workspaces):
        timeout = timedelta(seconds=10 + spread * i / n)
        overrides = PolicyOverrides(idle_timeout=timeout, warn_before=timedelta(seconds=1))
        updated = replace(ws, overrides=overrides, last_activity_at=now)
        dy.ctx.store.workspaces.save(updated, expect_state=State.RUNNING)
        deadlines[ws.key] = now + timeout
    loop = Reconciler(dy.ctx)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        end = time.monotonic() + spread + 120
        while time.monotonic() < end:
            states = {ws.key: ws.state for ws in dy.ctx.store.workspaces.list()}
            if all(states.get(k) is State.PARKED for k in deadlines):
                break
            time.sleep(0.5)
    finally:
        loop.stop()
        thread.join()
    parked_type = EventType.WORKSPACE_PARKED.value
    lateness = {
        event["workspace_key"]: (event["at"] - deadlines[event["workspace_key"]]).total_seconds()
        for event in dy.ctx.store.events.list(limit=10**6)
        if event["type"] == parked_type and event["workspace_key"] in deadlines
    }
    late = list(lateness.values())
    if late:
        figure.runs.append(percentile(late, 99))
        latest = sorted(lateness, key=lateness.__getitem__, reverse=True)[:3]
        figure.note += (
            f"; {len(late)}/{n} parked, p50 {p50(late):.3f}s, max {max(late):.3f}s; "
            f"latest: {', '.join(f'{key} {lateness[key]:.1f}s' for key in latest)}"
        )
    return figure


def networked_park_sweep(bench: Bench, n: int) -> Figure:
    """``n`` idle workspaces with a network endpoint (the bridge) parked in one pass of
    ``reconciler.workers`` threads: all must park and the engine must still answer
    (Debian's dockerd 20.10.24 deadlocked on this before teardowns were limited)."""
    dy = bench.dy
    figure = Figure(
        f"networked park sweep, {n} in one pass, parked",
        "fraction",
        1.0,
        higher_is_better=True,
        note="all parked and the engine answering after; the pass's duration in the note",
    )
    workspaces = fleet.bring_up(dy, n, prefix="bench-net", volumes=True, networked=True)
    idle_since = dy.ctx.now() - timedelta(days=1)
    for ws in workspaces:
        dy.ctx.store.workspaces.save(
            replace(ws, last_activity_at=idle_since), expect_state=State.RUNNING
        )
    began = time.monotonic()
    report = run_pass(dy.ctx)
    took = time.monotonic() - began
    keys = {ws.key for ws in workspaces}
    parked = sum(
        1 for ws in dy.ctx.store.workspaces.list() if ws.key in keys and ws.state is State.PARKED
    )
    answered = timed(lambda: dy.ctx.engine.list_containers(labels={}))  # raises if wedged
    figure.runs.append(parked / n)
    figure.note += (
        f"; {parked}/{n} parked in {took:.1f}s ({len(report.results)} actions), "
        f"engine listed all containers in {answered * 1000:.0f} ms after"
    )
    fleet.delete_records(dy, keys)
    return figure


def manager_memory(bench: Bench) -> Figure:
    """RSS of a serve process (reconciler on) over the bench's store and fleet."""
    config = bench.data / "serve-mem.toml"
    config.write_text(f'data_dir = "{bench.data}"\n[api]\nadmin_token = "{ADMIN}"\n')
    port = free_port()
    env = {**os.environ, "DOCKYARD_CONFIG": str(config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    records = len(bench.dy.ctx.store.workspaces.list())
    running = len(
        bench.engine.list_containers(labels={"dockyard.installation": bench.dy.ctx.installation})
    )
    figure = Figure(f"manager memory, {records:,} records and {running:,} containers", "MB", 150.0)
    try:
        time.sleep(8.0)  # start-up and a few reconcile passes
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=120,
        ) as client:
            client.get("/api/v1/workspaces").raise_for_status()
            client.get("/api/v1/stats").raise_for_status()
        status = Path(f"/proc/{process.pid}/status").read_text()
        rss_kb = int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        )
        figure.runs.append(rss_kb / 1024)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return figure
