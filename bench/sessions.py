"""Live sessions: a command in an already running shell against the engine's exec floor,
the first byte of a streamed command, and one ``serve`` holding 100 sessions at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.figures import ADMIN, Bench, Served, interleaved, ratio_figure
from bench.stats import Figure, p50, percentile, timed
from dockyard.core.model import SessionKind
from dockyard.engine.base import ExecSpec
from dockyard.engine.process import run
from dockyard.service import AcquireRequest

#: 100 sessions: 20 workspaces (of 20 owners) with 5 sessions each.
SERVE_CONFIG = "[policy]\nmax_sessions_per_workspace = 5\n"
WORKSPACES = 20
PER_WORKSPACE = 5


def _exec_floor(bench: Bench, ref: str) -> None:
    run(bench.engine, ref=ref, spec=ExecSpec(argv=["true"]))


def command_in_session(bench: Bench) -> Figure:
    dy = bench.dy
    ws = dy.acquire(AcquireRequest(key="bench-session")).workspace
    session = dy.open_session(ws.key, kind=SessionKind.COMMAND)
    samples = 30 if bench.quick else 150
    ref = ws.container_id or ws.name
    try:
        return ratio_figure(
            "command in a live command session, in-process, p50",
            0.1,
            bench,
            lambda: interleaved(
                lambda: dy.run_command(session.id, "true"),
                lambda: _exec_floor(bench, ref),
                samples,
            ),
            note="floor: a raw exec of `true` (create + start + inspect); ours: a frame "
            "written to the session's shell and its end read back, plus two store writes",
        )
    finally:
        dy.close_session(session.id)


def commands_over_http(bench: Bench, server: Served) -> list[Figure]:
    """A command over HTTP (whole answer), and the first record of a streamed one."""
    dy = bench.dy
    client = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
    )
    ws = dy.acquire(AcquireRequest(key="bench-session-http")).workspace
    ref = ws.container_id or ws.name
    opened = client.post(f"/api/v1/workspaces/{ws.key}/sessions", json={"kind": "command"})
    opened.raise_for_status()
    commands = f"/api/v1/sessions/{opened.json()['id']}/commands"
    samples = 30 if bench.quick else 150

    def whole() -> None:
        client.post(commands, json={"command": "true"}).raise_for_status()

    def first_record_time() -> float:
        began = time.perf_counter()
        stream = {"command": "echo go; sleep 0.2"}
        headers = {"Accept": "application/x-ndjson"}
        with client.stream("POST", commands, json=stream, headers=headers) as response:
            lines = response.iter_lines()
            next(lines)  # timed to here: the rest is the command's own sleep
            at = time.perf_counter() - began
            for _ in lines:
                pass
        return at

    def streamed_run() -> tuple[float, float]:
        firsts, floors = [], []
        for _ in range(max(5, samples // 10)):
            firsts.append(first_record_time())
            floors.append(timed(lambda: _exec_floor(bench, ref)))
        return p50(firsts), p50(floors)

    try:
        return [
            ratio_figure(
                "command in a live command session over HTTP, p50",
                0.25,
                bench,
                lambda: interleaved(whole, lambda: _exec_floor(bench, ref), samples),
                note="one keep-alive client; floor: a raw exec of `true`",
            ),
            ratio_figure(
                "first output of a streamed command (NDJSON), p50",
                0.5,
                bench,
                streamed_run,
                note="from the request to the first output record; floor: a whole raw "
                "exec of `true`",
            ),
        ]
    finally:
        client.close()


def many_sessions(bench: Bench, server: Served) -> list[Figure]:
    """100 command sessions on one serve: its memory per session, and the p99 latency of
    a command while every session runs commands at once."""
    client = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120
    )
    rss_before = _rss_mb(server.pid)
    ids: list[str] = []
    for index in range(WORKSPACES):
        key = f"bench-many-{index}"
        client.post(
            "/api/v1/workspaces", json={"key": key, "owner": f"bench-owner-{index}"}
        ).raise_for_status()
        for _ in range(PER_WORKSPACE):
            opened = client.post(f"/api/v1/workspaces/{key}/sessions", json={"kind": "command"})
            opened.raise_for_status()
            ids.append(opened.json()["id"])
    rounds = 3 if bench.quick else 10
    latencies: list[float] = []
    lock = threading.Lock()

    def drive(session_id: str) -> None:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120
        ) as own:
            for _ in range(rounds):
                took = timed(
                    lambda: own.post(
                        f"/api/v1/sessions/{session_id}/commands", json={"command": "echo hi"}
                    ).raise_for_status()
                )
                with lock:
                    latencies.append(took)

    with ThreadPoolExecutor(len(ids)) as pool:
        list(pool.map(drive, ids))
    per_session = (_rss_mb(server.pid) - rss_before) / len(ids)
    memory = Figure("serve memory per live command session", "MB", 1.0)
    memory.runs.append(per_session)
    memory.note = f"RSS of serve before and after {len(ids)} sessions each ran {rounds} commands"
    p99 = Figure("p99 command latency, 100 sessions at once", "s", 0.5)
    p99.runs.append(percentile(latencies, 99))
    p99.note = (
        f"{len(latencies)} commands from {len(ids)} clients at once; p50 {p50(latencies):.4f} s"
    )
    try:
        return [memory, p99]
    finally:
        for session_id in ids:
            client.delete(f"/api/v1/sessions/{session_id}")
        client.close()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
