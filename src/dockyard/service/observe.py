"""Observe: what the engines and the store say now, in the planner's terms.

One label-filtered list call per engine finds this installation's containers (the
engines of a fleet are listed in parallel, each after checking that its daemon is the
one on record); only containers that are not running are inspected (for exit code, OOM
and finish time). An engine that fails to answer, or answers as another daemon, is
``unreachable`` for this pass: its workspaces are unknown and nothing is planned for
them. If no engine answers, the pass fails (the loop backs off). Live sessions give
each workspace its latest session use. Busyness is probed (``probes``) only for the
candidates, the running workspaces due a warning or a park, because it costs engine
calls. The engine's recent ``exec`` events are replayed as activity by one-shot passes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from dockyard.core.errors import DockyardError, EngineUnavailable, NotFound
from dockyard.core.fleet import DEFAULT_ENGINE
from dockyard.core.model import (
    ACTIVE_STATES,
    TRANSIENT_STATES,
    Checkpoint,
    Session,
    SessionStatus,
    Workspace,
)
from dockyard.core.naming import (
    LABEL_INSTALLATION,
    LABEL_KEEP,
    LABEL_MANAGED,
    LABEL_ROLE,
    LABEL_WORKSPACE,
    is_truthy_label,
)
from dockyard.core.planner import Activity, ObservedContainer, Plan, idle_candidates, plan
from dockyard.core.policy import Policy
from dockyard.core.pool import ROLE_POOL
from dockyard.engine.base import Engine
from dockyard.engine.models import ContainerSummary
from dockyard.service.probes import probe_busy
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.objects import NO_HOLDERS, Holders, holder_of, holders

log = logging.getLogger("dockyard.observe")


@dataclass(frozen=True, slots=True)
class Observation:
    now: datetime
    workspaces: list[Workspace]
    containers: list[ObservedContainer]
    activity: dict[str, Activity]
    checkpoints: list[Checkpoint]
    #: engines not listed in this pass, and why: their workspaces are unknown
    unreachable: Mapping[str, str] = field(default_factory=dict)
    #: live sessions (active or detached)
    sessions: list[Session] = field(default_factory=list)

    def plan(self, policy: Policy, *, at: datetime | None = None) -> Plan:
        """The plan for now, or for the moment ``at`` if nothing changes until then."""
        return plan(
            now=self.now if at is None else at,
            policy=policy,
            workspaces=self.workspaces,
            containers=self.containers,
            activity=self.activity,
            checkpoints=self.checkpoints,
            unreachable=self.unreachable.keys(),
            sessions=self.sessions,
        )


def installation_labels(ctx: Context) -> dict[str, str | None]:
    return {LABEL_MANAGED: "true", LABEL_INSTALLATION: ctx.installation}


def is_exec_event(action: str) -> bool:
    """An exec in a container: dockerd logs ``exec_create``, ``exec_start``, ``exec_die``;
    Podman ``exec`` and ``exec_died``."""
    return action == "exec" or action.startswith("exec_")


LAST_REPLAY = "last_event_replay_at"
#: The engine keeps only its last 256 events; older activity is gone, so look back at most this.
REPLAY_HORIZON = timedelta(hours=1)


def replay_exec_events(ctx: Context) -> int:
    """Count ``docker exec`` activity since the previous pass (by anyone, not only dockyard).

    A running loop watches the event stream live; this covers one-shot passes (``clean``,
    the background pass) and gaps while no loop ran. Returns how many activities landed.
    """
    names = ctx.engines.names
    if len(names) == 1:
        return _replay_one(ctx)
    landed = 0
    for name in names:  # the engines that do not answer now are caught up with later
        try:
            landed += _replay_one(ctx.on(name))
        except EngineUnavailable as exc:
            log.debug("no exec events of engine %s now: %s", name, exc)
    return landed


def _replay_one(ctx: Context) -> int:
    now = ctx.now()
    # The engine's event log runs on the engine's wall clock, not on the policy clock (which
    # tests move forward); asking for events "until" a future moment would block until then.
    until = datetime.fromtimestamp(time.time(), UTC)
    cursor = (
        LAST_REPLAY if ctx.engine_name == DEFAULT_ENGINE else f"{LAST_REPLAY}:{ctx.engine_name}"
    )
    seen = ctx.store.meta.get(cursor)
    since = until - REPLAY_HORIZON
    if seen:
        since = min(max(datetime.fromisoformat(seen), since), until)
    landed = 0
    with ctx.engine.events(since=since, until=until, labels=installation_labels(ctx)) as stream:
        for event in stream:
            if not is_exec_event(event.action) or event.time is None:
                continue
            key = holder_of(ctx, event.actor_id, event.attributes)
            if key:
                landed += ctx.store.workspaces.touch(key, at=min(event.time, now))
    ctx.store.meta.set(cursor, until.isoformat())
    return landed


def observe(
    ctx: Context,
    *,
    probe: bool,
    horizon: datetime | None = None,
    working_set: bool = False,
    busy_elsewhere: Collection[str] = (),
    died: Collection[str] = (),
    mine: Callable[[str], bool] | None = None,
) -> Observation:
    """Read the engine first, then the store: a container created in between already has
    its record; a record created in between has no container yet, which is harmless, and
    a record that got its container in between is looked up again before it is marked
    vanished (``execute``).
    ``probe`` for busyness the workspaces due a warning or a park by ``horizon`` (now),
    except those in ``busy_elsewhere`` (an action on them is under way already).
    Containers in ``died`` (ids the engine's event stream reported dying) are inspected
    even when the listing still calls them running: its view lags the event. Only the
    workspaces that are ``mine`` (this replica's share; default: all) are probed, and
    checked for an operation cut off (``Activity.abandoned``: a transient state whose
    lease nobody live holds).

    With ``working_set``, only the records and checkpoints a pass can have work for by
    ``horizon`` (what the reconciler needs, at the cost of what is live); otherwise all
    of them (what the views show). A checkpoint expiring later is not in the plan's
    ``next_wakeup`` then: it is seen by a pass within ``reconciler.max_interval``."""
    containers, unreachable = list_fleet(ctx, died=died)
    now = ctx.now()
    if working_set:
        checkpoints = ctx.store.checkpoints.due(by=max(now, horizon or now))
        keys = {c.key for c in containers if c.key} | {cp.workspace_key for cp in checkpoints}
        workspaces = ctx.store.workspaces.working_set(keys=keys, names={c.name for c in containers})
    else:
        checkpoints = ctx.store.checkpoints.list()
        workspaces = ctx.store.workspaces.list()
    for ws in workspaces:
        if ws.engine not in ctx.engines.engines:
            unreachable.setdefault(ws.engine, "not configured on this manager")
    containers = with_stop_requests(ctx, containers, workspaces)
    last_use: dict[str, datetime] = {}
    busy: dict[str, str] = {}
    live = ctx.store.sessions.list(statuses=[SessionStatus.ACTIVE, SessionStatus.DETACHED])
    for session in live:
        if session.status is not SessionStatus.ACTIVE:
            continue
        seen = last_use.get(session.workspace_key)
        if seen is None or session.last_used > seen:
            last_use[session.workspace_key] = session.last_used
        if session.running_since is not None:
            busy[session.workspace_key] = f"a command running in session {session.id}"
    if probe:
        running = {(c.engine, c.key) for c in containers if c.running}
        candidates = [
            ws
            for ws in idle_candidates(
                now=max(now, horizon or now), policy=ctx.policy, workspaces=workspaces
            )
            if (ws.engine, ws.key) in running
            and ws.container_id
            and ws.key not in busy_elsewhere
            and (mine is None or mine(ws.key))
        ]
        busy = probe_busy(ctx, [ws for ws in candidates if ws.key not in busy]) | busy
    abandoned = cut_off(ctx, [ws for ws in workspaces if ws.key not in busy_elsewhere], mine=mine)
    activity = {
        key: Activity(
            last_session_use=last_use.get(key), busy=busy.get(key), abandoned=key in abandoned
        )
        for key in set(last_use) | set(busy) | abandoned
    }
    return Observation(now, workspaces, containers, activity, checkpoints, unreachable, live)


def list_fleet(
    ctx: Context, *, died: Collection[str] = ()
) -> tuple[list[ObservedContainer], dict[str, str]]:
    """This installation's containers on every engine that answers as the daemon on
    record, and the engines that did not (with why). A lone engine's failure, or every
    engine's, is the pass's: ``EngineUnavailable``."""
    names = ctx.engines.names

    def listed(name: str) -> list[ObservedContainer]:
        on = ctx.on(name)
        on.verify_engine()  # a recent yes is trusted; every action asks again (execute)
        listing = on.engine.list_containers(labels=installation_labels(ctx))
        held = holders(on, listing)
        return [
            replace(
                observed_container(on.engine, s, recheck=s.id in died, holders=held), engine=name
            )
            for s in listing
        ]

    if len(names) == 1:
        return listed(names[0]), {}
    containers: list[ObservedContainer] = []
    unreachable: dict[str, str] = {}
    with ThreadPoolExecutor(len(names), thread_name_prefix="dockyard-list") as pool:
        futures = {name: pool.submit(listed, name) for name in names}
        for name, future in futures.items():
            try:
                containers += future.result()
            except EngineUnavailable as exc:
                ctx.engines.distrust(name)
                unreachable[name] = exc.message
                log.warning("engine %s left alone in this pass: %s", name, exc.message)
    if len(unreachable) == len(names):
        raise EngineUnavailable(
            "no engine answers: " + "; ".join(f"{k}: {v}" for k, v in unreachable.items())
        )
    return containers, unreachable


def cut_off(
    ctx: Context, workspaces: Sequence[Workspace], *, mine: Callable[[str], bool] | None = None
) -> set[str]:
    """The keys of ``workspaces`` (those that are ``mine``) whose operation was cut off:
    creating, restoring or parking, and nobody live holds the workspace's lease."""
    return {
        ws.key
        for ws in workspaces
        if ws.state in TRANSIENT_STATES and (mine is None or mine(ws.key)) and ctx.abandoned(ws.key)
    }


def observed_container(
    engine: Engine,
    summary: ContainerSummary,
    *,
    recheck: bool = False,
    holders: Holders = NO_HOLDERS,
) -> ObservedContainer:
    """A listed container in the planner's terms; one that is not running (or that the
    caller knows to have just died: ``recheck``) is inspected for its exit. ``holders``
    says whose the pool's containers of the listing are."""
    base = ObservedContainer(
        id=summary.id,
        name=summary.name,
        key=holders.key_of(summary.id, summary.labels),
        status=summary.status,
        created_at=summary.created_at,
        keep=is_truthy_label(summary.labels.get(LABEL_KEEP)),
        pooled=summary.id in holders.pooled,
        from_pool=summary.labels.get(LABEL_ROLE) == ROLE_POOL,
    )
    if summary.running and not recheck:
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
        started_at=info.started_at,
        finished_at=info.finished_at,
        keep=base.keep,
        pooled=base.pooled,
        from_pool=base.from_pool,
    )


#: Engine actions that mean someone asked for the stop (the API's stop and kill).
STOP_ACTIONS = frozenset({"stop", "kill"})


def with_stop_requests(
    ctx: Context, containers: Sequence[ObservedContainer], workspaces: Sequence[Workspace]
) -> list[ObservedContainer]:
    """The containers, those of running records that exited non-zero looked up in the
    engine's event log: a stop or kill someone asked for makes the exit a stop."""
    active = {(ws.engine, ws.key) for ws in workspaces if ws.state in ACTIVE_STATES}
    return [
        replace(c, stop_requested=_stop_requested(ctx.on(c.engine), c))
        if (c.engine, c.key) in active and not c.running and not c.oom_killed and c.exit_code
        else c
        for c in containers
    ]


def _stop_requested(ctx: Context, container: ObservedContainer) -> bool:
    if container.finished_at is None or container.key is None:
        return False
    # the events are on the engine's clock; asking "until" a future moment would wait
    until = min(container.finished_at + timedelta(seconds=1), datetime.now(UTC))
    since = container.started_at or container.created_at or (until - REPLAY_HORIZON)
    mark = (LABEL_ROLE, ROLE_POOL) if container.from_pool else (LABEL_WORKSPACE, container.key)
    labels = {**installation_labels(ctx), mark[0]: mark[1]}
    try:
        with ctx.engine.events(since=since, until=until, labels=labels) as events:
            return any(e.actor_id == container.id and e.action in STOP_ACTIONS for e in events)
    except DockyardError as exc:  # an unanswered question is a crash: parking saves the work
        log.debug("no events of container %s: %s", container.name, exc)
        return False
