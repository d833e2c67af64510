"""Use cases: what dockyard does, independent of how it was asked (CLI, HTTP, library).

``Dockyard`` is the one entry point; each method is one use case, which the CLI and the
API call the same way::

    from dockyard.service import Dockyard, AcquireRequest
    with Dockyard.open() as dy:
        result = dy.acquire(AcquireRequest(key="user:42", owner="42"))
        code = dy.exec("user:42", ["git", "status"])

The rooms below it, top to bottom (import-linter forbids upward imports):

    reconcile/   the loop, its passes, the executor, gc, stats
    live/        the processes of live sessions: command shells, terminals, closing
    workspaces/  acquire, lifecycle, activity, sessions, execs, quota, views
    snapshots/   one Strategy per way of saving (volume, git, image), checkpoints
    observe      what the engine and the store say, for the planner
    probes       running execs, busyness, CPU and memory readings
    runtime/     context, leases, identity, run-time settings, records, engine objects

Fronts import this package only: the names below are its whole public surface.
"""

from __future__ import annotations

from dockyard.core.archives import Listing, PathStat, Uploaded
from dockyard.engine.base import STDERR, STDOUT
from dockyard.engine.models import ContainerInfo
from dockyard.service.doctor import Check, run_checks
from dockyard.service.engines import DrainReport, EngineView
from dockyard.service.facade import Dockyard
from dockyard.service.live.commands import CommandResult
from dockyard.service.live.terminals import Attachment
from dockyard.service.probes import LiveUse, ResourceUse
from dockyard.service.reconcile.execute import Result, Verdict
from dockyard.service.reconcile.gc import GcOutcome, ItemResult
from dockyard.service.reconcile.loop import Reconciler
from dockyard.service.reconcile.passes import PassReport
from dockyard.service.reconcile.wake import notify
from dockyard.service.runtime.context import Clock, Context, Progress, no_progress, system_clock
from dockyard.service.tokens import Principal, TokenInfo, admin_principal, hash_token
from dockyard.service.workspaces.activity import Extension
from dockyard.service.workspaces.lifecycle import Change
from dockyard.service.workspaces.requests import AcquireRequest, AcquireResult
from dockyard.service.workspaces.sessions import Usage
from dockyard.service.workspaces.views import Pending, WorkspaceView

__all__ = [
    "STDERR",
    "STDOUT",
    "AcquireRequest",
    "AcquireResult",
    "Attachment",
    "Change",
    "Check",
    "Clock",
    "CommandResult",
    "ContainerInfo",
    "Context",
    "Dockyard",
    "DrainReport",
    "EngineView",
    "Extension",
    "GcOutcome",
    "ItemResult",
    "Listing",
    "LiveUse",
    "PassReport",
    "PathStat",
    "Pending",
    "Principal",
    "Progress",
    "Reconciler",
    "ResourceUse",
    "Result",
    "TokenInfo",
    "Uploaded",
    "Usage",
    "Verdict",
    "WorkspaceView",
    "admin_principal",
    "hash_token",
    "no_progress",
    "notify",
    "run_checks",
    "system_clock",
]
