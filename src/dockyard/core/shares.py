"""Splitting reconcile work between manager replicas: who looks after which workspace.

Every replica running a reconcile loop is a member; each workspace (or orphan container)
belongs to exactly one member, chosen by rendezvous hashing: the member whose hash with
the item is highest. Every member computes the same answer from the same member list, no
coordination beyond that list is needed, and when a member joins or leaves only the
items it gains or loses move (about 1/N of them).

Members can disagree for a moment (one has seen a new member, another not yet): an item
then has two owners or none for a pass. Neither is harmful: an action still needs its
workspace's lease and the revision it planned on, so two owners do it once, and an item
without one is picked up at the next pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

from dockyard.core.actions import AnyAction
from dockyard.core.planner import Plan


def _weight(member: str, item: str) -> bytes:
    return hashlib.blake2b(f"{member}\0{item}".encode(), digest_size=8).digest()


def owner_of(item: str, members: Iterable[str]) -> str | None:
    """The member ``item`` belongs to (None without members)."""
    return max(members, key=lambda member: _weight(member, item), default=None)


def work_item(action: AnyAction) -> str:
    """What an action works on, for sharing: its workspace, else its target."""
    return action.key or action.target


@dataclass(frozen=True, slots=True)
class Share:
    """One member's view: itself and every member it knows (itself included)."""

    me: str
    members: frozenset[str]

    @classmethod
    def alone(cls, me: str) -> Share:
        return cls(me, frozenset({me}))

    def mine(self, item: str) -> bool:
        return owner_of(item, self.members | {self.me}) == self.me

    def of(self, plan: Plan) -> Plan:
        """The part of ``plan`` this member carries out. (A scheduled collection is not
        split: the member that claims a run adds all of it to its share.)"""
        actions = tuple(a for a in plan.actions if self.mine(work_item(a)))
        upcoming = {key: u for key, u in plan.upcoming.items() if self.mine(key)}
        # the next look: its own deadlines, and the plan's other moments (an orphan's
        # grace, a checkpoint's expiry) unless that moment is only another's deadline
        others = {u.at for key, u in plan.upcoming.items() if key not in upcoming}
        moments = [u.at for u in upcoming.values()]
        if plan.next_wakeup is not None and plan.next_wakeup not in others:
            moments.append(plan.next_wakeup)
        return replace(
            plan, actions=actions, upcoming=upcoming, next_wakeup=min(moments, default=None)
        )
