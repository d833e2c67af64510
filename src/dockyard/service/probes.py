"""Probes: what a workspace's container is doing right now, at the cost of a few engine
calls (never a store write; looking is not using).

- a running exec process (the engine's exec list for the container) is busy, except the
  processes of live sessions (``core.framing``): a shell waiting for input is not work;
- a process whose name is in ``policy.busy_processes`` is busy;
- CPU use at or above ``policy.busy_cpu_percent`` over ``reconciler.busy_sample`` is busy
  (all candidates are sampled together, so the window is paid once, not per container).

The CPU sampler (``CpuReading``) is shared by the busy probe and the usage shown to
people (``ls --usage``, the dashboard).

Disk use (the workspace's volume and its container's writable layer) is measured in the
same sweep, during the CPU window, each container within ``DISK_BUDGET_S``: on a local
engine dockyard walks just that container's directories on the host and stops at the
budget (a cut-short figure is a lower bound, ``disk_complete: false``); a size-capped
volume is answered by its own file system at once. Nothing runs inside the container
(an exec would be activity, and would keep an idle workspace alive).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath

from dockyard.core.errors import DockyardError, NotFound
from dockyard.core.framing import is_session_process
from dockyard.core.model import ACTIVE_STATES, Workspace
from dockyard.engine.base import Engine
from dockyard.engine.models import DiskUse
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.records import require_running


def running_execs(engine: Engine, container_id: str) -> int:
    try:
        info = engine.inspect_container(ref=container_id)
    except NotFound:
        return 0
    count = 0
    for exec_id in info.exec_ids:
        try:
            found = engine.exec_inspect(exec_id=exec_id)
        except NotFound:
            continue
        if found.running and not is_session_process(found.argv):
            count += 1
    return count


#: Candidates probed at once (each probe is a few engine round trips).
PROBE_WORKERS = 8


def probe_busy(ctx: Context, candidates: Sequence[Workspace]) -> dict[str, str]:
    """Why each busy candidate is busy; candidates not in the result are idle."""
    if not candidates:
        return {}
    policy = ctx.policy
    reasons: dict[str, str] = {}
    samples: dict[str, tuple[Engine, str, CpuReading]] = {}
    with ThreadPoolExecutor(min(PROBE_WORKERS, max(len(candidates), 1))) as pool:
        probes = pool.map(lambda ws: _probe_one(ctx, ws), candidates)
        for ws, (reason, reading) in zip(candidates, probes, strict=True):
            if reason is not None:
                reasons[ws.key] = reason
            elif reading is not None:
                samples[ws.key] = (ctx.at(ws).engine, ws.container_id or ws.name, reading)
    if samples and policy.busy_cpu_percent > 0:
        time.sleep(ctx.settings.reconciler.busy_sample.total_seconds())
        for key, (engine, container_id, before) in samples.items():
            after = read_cpu(engine, container_id)
            if after is None:
                continue
            percent = after.percent_since(before)
            if percent >= policy.busy_cpu_percent:
                reasons[key] = f"cpu {percent:.0f}%"
    return reasons


@dataclass(frozen=True, slots=True)
class CpuReading:
    """A container's cumulative CPU time, and when it was read."""

    ns: int
    at: float  # monotonic seconds, the middle of the read (the engine's stats call is slow)

    def percent_since(self, before: CpuReading) -> float:
        """CPU use between two readings, in percent of one CPU. The window is this
        container's own: the reads of a sweep do not all happen at the same moment."""
        elapsed = max(self.at - before.at, 1e-6)
        return max(self.ns - before.ns, 0) / (elapsed * 1e9) * 100


def read_cpu(engine: Engine, container_id: str) -> CpuReading | None:
    began = time.monotonic()
    ns = engine.cpu_usage_ns(container_id=container_id)
    return None if ns is None else CpuReading(ns, (began + time.monotonic()) / 2)


def _probe_one(ctx: Context, ws: Workspace) -> tuple[str | None, CpuReading | None]:
    """Why ``ws`` is busy, or else its CPU counter now (for the sample over the window)."""
    container_id = ws.container_id or ws.name
    ctx = ctx.at(ws)
    execs = running_execs(ctx.engine, container_id)
    if execs:
        return f"{execs} running exec process{'es' if execs != 1 else ''}", None
    if ctx.policy.busy_processes:
        found = _named_process(ctx.engine, container_id, ctx.policy.busy_processes)
        if found:
            return f"process {found} is running", None
    return None, read_cpu(ctx.engine, container_id)


def _named_process(engine: Engine, container_id: str, names: Sequence[str]) -> str | None:
    try:
        commands = engine.processes(ref=container_id)
    except NotFound:
        return None
    wanted = set(names)
    for command in commands:
        for token in command.split():
            name = PurePosixPath(token).name
            if name in wanted:
                return name
    return None


#: Each container's disk measurement stops after this long (seconds); measured here, a
#: workspace of 2,000 files and 30 MB walks in about 10 ms.
DISK_BUDGET_S = 0.5


@dataclass(frozen=True, slots=True)
class ResourceUse:
    cpu_percent: float | None
    memory_bytes: int | None
    memory_limit: int
    disk: DiskUse | None = None
    disk_limit: int | None = None

    def disk_json(self) -> dict[str, float | int | bool | None]:
        return disk_json(self.disk, limit=self.disk_limit)


def disk_json(disk: DiskUse | None, *, limit: int | None) -> dict[str, float | int | bool | None]:
    """The disk figures as the fronts show them (flat, next to ``memory_bytes``):
    ``disk_volume_percent`` is how full a capped volume's own file system is."""
    found: dict[str, float | int | bool | None] = dict.fromkeys(DISK_FIELDS)
    found["disk_limit_bytes"] = limit
    if disk is None:
        return found
    return {
        **found,
        "disk_bytes": disk.total_bytes,
        "disk_volume_bytes": disk.volume_bytes,
        "disk_layer_bytes": disk.layer_bytes,
        "disk_complete": disk.complete,
        "disk_volume_percent": volume_percent(disk),
    }


def volume_percent(disk: DiskUse) -> float | None:
    if disk.volume_bytes is None or not disk.volume_capacity:
        return None
    return round(disk.volume_bytes / disk.volume_capacity * 100, 1)


DISK_FIELDS = (
    "disk_bytes",
    "disk_volume_bytes",
    "disk_layer_bytes",
    "disk_complete",
    "disk_limit_bytes",
    "disk_volume_percent",
)


def read_disk(engine: Engine, ws: Workspace, *, budget_s: float = DISK_BUDGET_S) -> DiskUse | None:
    """Best effort: None when the engine could not tell (it failed, or it is gone)."""
    try:
        return engine.disk_use(
            container_id=ws.container_id or ws.name, volume=ws.volume, budget_s=budget_s
        )
    except DockyardError:
        return None


def resource_use(
    ctx: Context, key: str, *, owner: str | None = None, window_s: float = 0.2
) -> ResourceUse:
    """CPU (percent of one CPU, sampled over ``window_s``) and memory of a running
    workspace; None where the engine cannot tell. Not activity: looking is not using."""
    ws = require_running(ctx, key, owner=owner)
    return resource_sweep(ctx, [ws], window_s=window_s)[ws.key]


def resource_sweep(
    ctx: Context, workspaces: Sequence[Workspace], *, window_s: float = 0.2
) -> dict[str, ResourceUse]:
    """:func:`resource_use` of many running workspaces, sampled in one shared window
    (a fleet costs one window, not one per container)."""
    running = [ws for ws in workspaces if ws.state in ACTIVE_STATES]
    if not running:
        return {}
    refs = {ws.key: ws.container_id or ws.name for ws in running}
    engines = {ws.key: ctx.at(ws).engine for ws in running}
    before = {key: read_cpu(engines[key], ref) for key, ref in refs.items()}
    began = time.monotonic()
    disks = disk_sweep(ctx, running)  # measured while the CPU window passes
    time.sleep(max(0.0, window_s - (time.monotonic() - began)))
    result = {}
    for ws in running:
        ref, engine = refs[ws.key], engines[ws.key]
        first, after = before[ws.key], read_cpu(engine, ref)
        cpu = None
        if first is not None and after is not None:
            cpu = round(after.percent_since(first), 1)
        memory = engine.memory_bytes(container_id=ref)
        result[ws.key] = ResourceUse(
            cpu, memory, ws.resources.memory_bytes, disks[ws.key], ws.resources.disk_bytes
        )
    return result


def disk_sweep(ctx: Context, workspaces: Sequence[Workspace]) -> dict[str, DiskUse | None]:
    """Disk use of each running workspace, measured in parallel, each within
    ``DISK_BUDGET_S`` (None where the engine could not tell)."""
    running = [ws for ws in workspaces if ws.state in ACTIVE_STATES]
    if not running:
        return {}
    with ThreadPoolExecutor(min(PROBE_WORKERS, len(running))) as pool:
        found = pool.map(lambda ws: read_disk(ctx.at(ws).engine, ws), running)
        return {ws.key: use for ws, use in zip(running, found, strict=True)}


@dataclass(frozen=True, slots=True)
class LiveUse:
    """A running workspace's container now: up how long, CPU (percent of one CPU) and
    memory in use; None where it is not running or the engine could not tell."""

    uptime_s: float | None
    cpu_percent: float | None
    memory_bytes: int | None
    disk: DiskUse | None = None
    disk_limit: int | None = None

    def to_json(self) -> dict[str, float | int | bool | None]:
        uptime = None if self.uptime_s is None else round(self.uptime_s, 3)
        return {
            "uptime_s": uptime,
            "cpu_percent": self.cpu_percent,
            "memory_bytes": self.memory_bytes,
            **disk_json(self.disk, limit=self.disk_limit),
        }


NOT_LIVE = LiveUse(None, None, None)


def live_use(ctx: Context, ws: Workspace, *, window_s: float = 0.2) -> LiveUse:
    """Best effort, in about ``window_s`` and three engine calls (each bounded by the
    engine's timeouts): an engine that fails answers Nones, never an error."""
    if ws.state not in ACTIVE_STATES:
        return NOT_LIVE
    try:
        info = ctx.at(ws).engine.inspect_container(ref=ws.container_id or ws.name)
        if not info.running:
            return NOT_LIVE
        use = resource_sweep(ctx, [ws], window_s=window_s)[ws.key]
    except DockyardError:
        return NOT_LIVE
    uptime = None
    if info.started_at is not None:
        uptime = max(0.0, (ctx.now() - info.started_at).total_seconds())
    return LiveUse(uptime, use.cpu_percent, use.memory_bytes, use.disk, use.disk_limit)
