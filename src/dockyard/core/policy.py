"""Lifecycle policy: timeouts and limits, per-owner/per-repo rules, and deadline arithmetic.

Pure: the clock is always an argument. The effective policy of a workspace is the base
policy, then every matching rule in order (later rules win), then the workspace's own
overrides. Rules match ``owner`` and ``repo`` with shell-style globs (``*@example.com``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta

from dockyard.core.model import PolicyOverrides, SaveStrategy, Workspace


@dataclass(frozen=True, slots=True)
class Rule:
    """Overrides applied to workspaces whose owner and repo match the globs."""

    overrides: PolicyOverrides
    owner: str | None = None
    repo: str | None = None
    strategy: SaveStrategy | None = None  # how new matching workspaces save their work

    def matches(self, *, owner: str, repo: str | None) -> bool:
        if self.owner is not None and not fnmatch.fnmatchcase(owner, self.owner):
            return False
        return self.repo is None or (repo is not None and fnmatch.fnmatchcase(repo, self.repo))


@dataclass(frozen=True, slots=True)
class Policy:
    """Timeouts and limits in force. Defaults are DESIGN.md section 4."""

    idle_timeout: timedelta = timedelta(minutes=45)
    warn_before: timedelta = timedelta(minutes=5)
    max_lifetime: timedelta = timedelta(hours=24)
    stopped_retention: timedelta = timedelta(hours=1)
    orphan_grace: timedelta = timedelta(minutes=10)
    checkpoint_retention: timedelta = timedelta(days=7)
    max_workspaces_per_owner: int = 5
    max_sessions_per_workspace: int = 5
    quota_idle_after: timedelta = timedelta(minutes=5)
    leftover_grace: timedelta = timedelta(minutes=1)
    interrupted_after: timedelta = timedelta(minutes=2)
    busy_cpu_percent: float = 5.0
    busy_processes: tuple[str, ...] = ()
    save_retry_min: timedelta = timedelta(minutes=1)
    save_retry_max: timedelta = timedelta(hours=1)
    rules: Sequence[Rule] = ()

    def apply(self, overrides: PolicyOverrides) -> Policy:
        changes = {
            f.name: getattr(overrides, f.name)
            for f in fields(overrides)
            if getattr(overrides, f.name) is not None
        }
        return replace(self, **changes) if changes else self

    def for_workspace(self, *, owner: str, repo: str | None, overrides: PolicyOverrides) -> Policy:
        """The policy in force for one workspace: base, matching rules, then its overrides."""
        effective = self
        for rule in self.rules:
            if rule.matches(owner=owner, repo=repo):
                effective = effective.apply(rule.overrides)
        return effective.apply(overrides)

    def strategy_for(self, *, owner: str, repo: str | None) -> SaveStrategy | None:
        """The save strategy the last matching rule names, if any."""
        chosen = None
        for rule in self.rules:
            if rule.strategy is not None and rule.matches(owner=owner, repo=repo):
                chosen = rule.strategy
        return chosen


def save_retry_at(ws: Workspace, policy: Policy) -> datetime:
    """When a failed save is tried again: doubling from ``save_retry_min`` per failed
    attempt, capped at ``save_retry_max``, counted from the last failure."""
    attempts = max(ws.save_attempts, 1)
    delay = policy.save_retry_min * (1 << min(attempts - 1, 30))
    return ws.state_changed_at + min(delay, policy.save_retry_max)


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
