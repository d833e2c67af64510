"""The per-owner quota: room for one more live workspace, or a clear refusal.

Called with the owner's lease held, right before the write that makes a workspace live
(its intent record). At the limit, the owner's workspace idle the longest is parked to
make room, if one has been idle for ``quota_idle_after`` (not in use, not busy, no
recent activity); otherwise the call fails with ``QuotaExceeded`` and says what to do.
"""

from __future__ import annotations

from dockyard.core.actions import Reason
from dockyard.core.errors import Busy, Conflict, QuotaExceeded, SaveFailed
from dockyard.core.model import SessionStatus
from dockyard.core.planner import Activity
from dockyard.core.quota import live_count, looks_idle, quota_victim
from dockyard.core.units import format_duration
from dockyard.service.probes import probe_busy
from dockyard.service.runtime.context import Context, Progress
from dockyard.service.runtime.locking import SHORT_WAIT
from dockyard.service.workspaces.parking import park_locked


def ensure_room(ctx: Context, *, owner: str, key: str, progress: Progress) -> None:
    policy = ctx.policy
    owned = ctx.store.workspaces.list(owner=owner)
    if live_count(owned, exclude=key) < policy.max_workspaces_per_owner:
        return
    now = ctx.now()
    activity: dict[str, Activity] = {}
    keys = {ws.key for ws in owned}
    for session in ctx.store.sessions.list(statuses=[SessionStatus.ACTIVE]):
        if session.workspace_key not in keys:
            continue
        seen = activity.get(session.workspace_key)
        if seen is None or (seen.last_session_use or now) < session.last_used:
            activity[session.workspace_key] = Activity(last_session_use=session.last_used)
    # Probe only those that look idle by their records: busyness costs engine calls.
    idle_looking = [
        ws
        for ws in owned
        if ws.key != key and looks_idle(ws, now=now, policy=policy, activity=activity.get(ws.key))
    ]
    for busy_key, why in probe_busy(ctx, idle_looking).items():
        activity[busy_key] = Activity(
            last_session_use=activity.get(busy_key, Activity()).last_session_use, busy=why
        )
    while True:
        victim = quota_victim(
            now=now, policy=policy, workspaces=owned, activity=activity, exclude=key
        )
        if victim is None:
            raise QuotaExceeded(
                f"owner {owner!r} has {live_count(owned, exclude=key)} live workspaces, the "
                f"limit is {policy.max_workspaces_per_owner}, and none has been idle for "
                f"{format_duration(policy.quota_idle_after)}; stop or park one first"
            )
        progress(f"parking {victim.key} (idle longest) to stay within the owner's quota")
        try:
            with ctx.lock(victim.key, wait=SHORT_WAIT):
                record = ctx.store.workspaces.get(victim.key)
                if record is not None and record.revision == victim.revision:
                    park_locked(
                        ctx,
                        record,
                        reason=Reason.QUOTA,
                        detail=f"made room for {key!r}",
                        expect_revision=record.revision,
                        progress=progress,
                    )
                    return
        except (Busy, Conflict, SaveFailed):
            pass  # in use, changed meanwhile or its work could not be saved: the next one
        owned = [ws for ws in owned if ws.key != victim.key]
