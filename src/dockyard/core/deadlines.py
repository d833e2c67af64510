"""Deadline arithmetic of one workspace under its policy: when it becomes idle, how far an
extension may push that, when a failed save is tried again. Pure: ``now`` is an argument.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dockyard.core.model import Workspace
from dockyard.core.policy import Policy


def save_retry_at(ws: Workspace, policy: Policy) -> datetime:
    """When a failed save is tried again: doubling from ``save_retry_min`` per failed
    attempt, capped at ``save_retry_max``, counted from the last failure."""
    attempts = max(ws.save_attempts, 1)
    delay = policy.save_retry_min * (1 << min(attempts - 1, 30))
    return ws.state_changed_at + min(delay, policy.save_retry_max)


def warn_lead(policy: Policy) -> timedelta:
    """How long before the idle deadline the warning comes: ``warn_before``, but never
    more than half the idle timeout (a longer one would warn at once, after every use)."""
    return min(policy.warn_before, policy.idle_timeout / 2)


def idle_deadline(ws: Workspace, policy: Policy) -> datetime:
    """When ``ws`` becomes idle: last activity plus the idle timeout, or a later extension."""
    deadline = ws.last_activity_at + policy.idle_timeout
    if ws.extended_until is not None and ws.extended_until > deadline:
        return ws.extended_until
    return deadline


def lifetime_cap(ws: Workspace, policy: Policy) -> datetime:
    """The latest deadline an extension may reach: this run's start plus ``max_lifetime``."""
    return (ws.started_at or ws.created_at) + policy.max_lifetime


def extended_deadline(ws: Workspace, policy: Policy, *, by: timedelta, now: datetime) -> datetime:
    """The idle deadline after extending ``ws`` by ``by`` at ``now``.

    Extending pushes the deadline forward from whichever is later, the current deadline
    or now; it never shortens the deadline and never passes the lifetime cap (unless the
    deadline is already past the cap through activity, which is left as it is).
    """
    current = idle_deadline(ws, policy)
    wanted = max(current, now) + by
    return max(current, min(wanted, lifetime_cap(ws, policy)))
