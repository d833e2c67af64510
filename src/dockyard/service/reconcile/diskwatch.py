"""The warning before a capped volume is full: ``workspace.disk_warning``, once per
crossing of ``policy.disk_warning_percent``.

The reconciler measures its running capped workspaces (``probes.disk_sweep``: a capped
volume's own file system answers at once) at most every ``CHECK_EVERY_S``. Whether a
measurement warns is ``core.disks.disk_crossing``; what was last seen (``disk_warned``) is
in the store, so a restarted manager or another replica does not warn again for the same
crossing. The record is written only when that changes, by one compare-and-set: of two
replicas that look at once, one warns.
"""

from __future__ import annotations

import logging

from dockyard.core.disks import Crossing, disk_crossing
from dockyard.core.errors import DockyardError
from dockyard.core.events import EventType
from dockyard.core.model import ACTIVE_STATES, Workspace
from dockyard.engine.models import DiskUse
from dockyard.service.probes import disk_sweep, volume_percent
from dockyard.service.runtime.context import Context

log = logging.getLogger("dockyard.reconciler")

#: The loop measures capped volumes at most this often (seconds).
CHECK_EVERY_S = 30.0


def watch_disks(ctx: Context) -> int:
    """Measure every running capped workspace; emit the warnings due. Returns how many
    were sent. Best effort: a workspace that cannot be measured or written now is left
    for the next look."""
    capped = {
        ws.key: ws
        for ws in ctx.store.workspaces.list(states=ACTIVE_STATES)
        if ws.resources.disk_bytes is not None
    }
    sent = 0
    for key, use in disk_sweep(ctx, list(capped.values())).items():
        ws = capped[key]
        if use is None or _crossing(ctx, ws, use).warned == ws.disk_warned:
            continue  # nothing measured, or nothing changed: no write
        try:
            sent += _record(ctx, ws, use)
        except DockyardError as exc:
            log.debug("disk warning of %s left for later: %s", key, exc)
    return sent


def _crossing(ctx: Context, ws: Workspace, use: DiskUse) -> Crossing:
    threshold = ctx.policy_for(ws).disk_warning_percent / 100
    limit = use.volume_capacity or ws.resources.disk_bytes
    return disk_crossing(
        used=use.volume_bytes, limit=limit, threshold=threshold, warned=ws.disk_warned
    )


def _record(ctx: Context, ws: Workspace, use: DiskUse) -> int:
    crossing = _crossing(ctx, ws, use)
    if not ctx.store.workspaces.mark_disk_warned(ws.key, warned=crossing.warned):
        return 0  # another look recorded it first (or the workspace is no longer live)
    if not crossing.warn:
        return 0
    ctx.emit(
        EventType.WORKSPACE_DISK_WARNING,
        ws,
        used_bytes=use.volume_bytes,
        size_bytes=use.volume_capacity or ws.resources.disk_bytes,
        percent=volume_percent(use),
        threshold_percent=ctx.policy_for(ws).disk_warning_percent,
    )
    return 1
