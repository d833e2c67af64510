"""Observe: what the engine and the store say now, in the planner's terms.

One label-filtered list call finds this installation's containers; only containers that
are not running are inspected (for exit code, OOM and finish time). Live sessions give
each workspace its latest session use. Busyness is probed only for candidates, the
running workspaces within their warning window, because it costs engine calls:

- a running exec process (the engine's exec list for the container) is busy;
- a process whose name is in ``policy.busy_processes`` is busy;
- CPU use at or above ``policy.busy_cpu_percent`` over ``reconciler.busy_sample`` is busy
  (all candidates are sampled together, so the window is paid once per pass).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

from dockyard.core.errors import NotFound
from dockyard.core.model import Checkpoint, SessionStatus, Workspace
from dockyard.core.naming import (
    LABEL_INSTALLATION,
    LABEL_KEEP,
    LABEL_MANAGED,
    LABEL_WORKSPACE,
    is_truthy_label,
)
from dockyard.core.planner import Activity, ObservedContainer, Plan, idle_candidates, plan
from dockyard.core.policy import Policy
from dockyard.engine.base import Engine
from dockyard.engine.models import ContainerSummary
from dockyard.service.context import Context


@dataclass(frozen=True, slots=True)
class Observation:
    now: datetime
    workspaces: list[Workspace]
    containers: list[ObservedContainer]
    activity: dict[str, Activity]
    checkpoints: list[Checkpoint]

    def plan(self, policy: Policy, *, at: datetime | None = None) -> Plan:
        """The plan for now, or for the moment ``at`` if nothing changes until then."""
        return plan(
            now=self.now if at is None else at,
            policy=policy,
            workspaces=self.workspaces,
            containers=self.containers,
            activity=self.activity,
            checkpoints=self.checkpoints,
        )


def installation_labels(ctx: Context) -> dict[str, str | None]:
    return {LABEL_MANAGED: "true", LABEL_INSTALLATION: ctx.installation}


LAST_REPLAY = "last_event_replay_at"
#: The engine keeps only its last 256 events; older activity is gone, so look back at most this.
REPLAY_HORIZON = timedelta(hours=1)


def replay_exec_events(ctx: Context) -> int:
    """Count ``docker exec`` activity since the previous pass (by anyone, not only dockyard).

    A running loop watches the event stream live; this covers one-shot passes (``clean``,
    the background pass) and gaps while no loop ran. Returns how many activities landed.
    """
    now = ctx.now()
    # The engine's event log runs on the engine's wall clock, not on the policy clock (which
    # tests move forward); asking for events "until" a future moment would block until then.
    until = datetime.fromtimestamp(time.time(), UTC)
    seen = ctx.store.meta.get(LAST_REPLAY)
    since = until - REPLAY_HORIZON
    if seen:
        since = min(max(datetime.fromisoformat(seen), since), until)
    landed = 0
    with ctx.engine.events(since=since, until=until, labels=installation_labels(ctx)) as stream:
        for event in stream:
            key = event.attributes.get(LABEL_WORKSPACE)
            if key and event.action.startswith("exec_") and event.time is not None:
                landed += ctx.store.workspaces.touch(key, at=min(event.time, now))
    ctx.store.meta.set(LAST_REPLAY, until.isoformat())
    return landed


def observe(
    ctx: Context,
    *,
    probe: bool,
    horizon: datetime | None = None,
    working_set: bool = False,
    busy_elsewhere: Collection[str] = (),
) -> Observation:
    """Read the engine first, then the store: a container created in between already has
    its record; a record created in between has no container yet, which is harmless.
    ``probe`` for busyness the workspaces due a warning or a park by ``horizon`` (now),
    except those in ``busy_elsewhere`` (an action on them is under way already).

    With ``working_set``, only the records and checkpoints a pass can have work for by
    ``horizon`` (what the reconciler needs, at the cost of what is live); otherwise all
    of them (what the views show). A checkpoint expiring later is not in the plan's
    ``next_wakeup`` then: it is seen by a pass within ``reconciler.max_interval``."""
    listing = ctx.engine.list_containers(labels=installation_labels(ctx))
    containers = [observed_container(ctx.engine, summary) for summary in listing]
    now = ctx.now()
    if working_set:
        checkpoints = ctx.store.checkpoints.due(by=max(now, horizon or now))
        keys = {c.key for c in containers if c.key} | {cp.workspace_key for cp in checkpoints}
        workspaces = ctx.store.workspaces.working_set(keys=keys, names={c.name for c in containers})
    else:
        checkpoints = ctx.store.checkpoints.list()
        workspaces = ctx.store.workspaces.list()
    last_use: dict[str, datetime] = {}
    for session in ctx.store.sessions.list(statuses=[SessionStatus.ACTIVE]):
        seen = last_use.get(session.workspace_key)
        if seen is None or session.last_used > seen:
            last_use[session.workspace_key] = session.last_used
    busy: dict[str, str] = {}
    if probe:
        running = {c.key for c in containers if c.running}
        candidates = [
            ws
            for ws in idle_candidates(
                now=max(now, horizon or now), policy=ctx.policy, workspaces=workspaces
            )
            if ws.key in running and ws.container_id and ws.key not in busy_elsewhere
        ]
        busy = probe_busy(ctx, candidates)
    activity = {
        key: Activity(last_session_use=last_use.get(key), busy=busy.get(key))
        for key in set(last_use) | set(busy)
    }
    return Observation(now, workspaces, containers, activity, checkpoints)


def observed_container(engine: Engine, summary: ContainerSummary) -> ObservedContainer:
    base = ObservedContainer(
        id=summary.id,
        name=summary.name,
        key=summary.labels.get(LABEL_WORKSPACE),
        status=summary.status,
        created_at=summary.created_at,
        keep=is_truthy_label(summary.labels.get(LABEL_KEEP)),
    )
    if summary.running:
        return base
    try:
        info = engine.inspect_container(ref=summary.id)
    except NotFound:
        return base  # removed since the listing: the next pass will not see it
    return ObservedContainer(
        id=base.id,
        name=base.name,
        key=base.key,
        status=info.status,
        created_at=base.created_at,
        exit_code=info.exit_code,
        oom_killed=info.oom_killed,
        finished_at=info.finished_at,
        keep=base.keep,
    )


def running_execs(engine: Engine, container_id: str) -> int:
    try:
        info = engine.inspect_container(ref=container_id)
    except NotFound:
        return 0
    count = 0
    for exec_id in info.exec_ids:
        try:
            if engine.exec_inspect(exec_id=exec_id).running:
                count += 1
        except NotFound:
            continue
    return count


#: Candidates probed at once (each probe is a few engine round trips).
PROBE_WORKERS = 8


def probe_busy(ctx: Context, candidates: Sequence[Workspace]) -> dict[str, str]:
    """Why each busy candidate is busy; candidates not in the result are idle."""
    if not candidates:
        return {}
    policy = ctx.policy
    engine = ctx.engine
    reasons: dict[str, str] = {}
    samples: dict[str, tuple[str, CpuReading]] = {}
    with ThreadPoolExecutor(min(PROBE_WORKERS, max(len(candidates), 1))) as pool:
        probes = pool.map(lambda ws: _probe_one(ctx, ws), candidates)
        for ws, (reason, reading) in zip(candidates, probes, strict=True):
            if reason is not None:
                reasons[ws.key] = reason
            elif reading is not None:
                samples[ws.key] = (ws.container_id or ws.name, reading)
    if samples and policy.busy_cpu_percent > 0:
        time.sleep(ctx.settings.reconciler.busy_sample.total_seconds())
        for key, (container_id, before) in samples.items():
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
