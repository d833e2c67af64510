"""``[policy]`` and ``[[policy.rules]]``: derived from ``core.policy.Policy``, never
written out here. Every knob is a field of ``PolicySettings``; every per-workspace knob
is an optional field of ``RuleSettings`` (and of a workspace's own overrides)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, create_model, field_validator

from dockyard.core.policy import PER_WORKSPACE, Policy, PolicyOverrides, Rule, SaveStrategy, knobs
from dockyard.settings.types import Section, Size, disk_field, knob_fields


class RuleBase(Section):
    """Overrides for workspaces whose owner and repo match the globs."""

    owner: str | None = Field(None, description="glob on the owner, e.g. *@example.com")
    repo: str | None = Field(None, description="glob on the repo, e.g. */infra")
    strategy: SaveStrategy | None = Field(
        None, description="save strategy of new workspaces matching the rule"
    )
    disk: Size | None = Field(
        None, description="disk cap of new workspaces matching the rule (workspace.disk)"
    )

    @field_validator("disk")
    @classmethod
    def _disk_is_makeable(cls, disk: int | None) -> int | None:
        return disk_field(disk)

    def to_rule(self) -> Rule:
        values = {name: getattr(self, name) for name in PER_WORKSPACE}
        return Rule(
            owner=self.owner,
            repo=self.repo,
            strategy=self.strategy,
            disk=self.disk,
            overrides=PolicyOverrides(**values),
        )

    if TYPE_CHECKING:  # the knobs are generated below, typed through to_rule()

        def __getattr__(self, name: str) -> Any: ...


if TYPE_CHECKING:
    RuleSettings = RuleBase
else:
    RuleSettings = create_model(
        "RuleSettings",
        __base__=RuleBase,
        __module__=__name__,
        __doc__=RuleBase.__doc__,
        **knob_fields(names=PER_WORKSPACE, optional=True),
    )


class PolicyBase(Section):
    """Lifecycle timeouts and limits (DESIGN.md section 4)."""

    def to_policy(self) -> Policy:
        values = {f.name: getattr(self, f.name) for f, _knob in knobs()}
        return Policy(**values, rules=tuple(rule.to_rule() for rule in self.rules))

    if TYPE_CHECKING:  # the knobs are generated below, typed through to_policy()

        def __getattr__(self, name: str) -> Any: ...


if TYPE_CHECKING:
    PolicySettings = PolicyBase
else:
    PolicySettings = create_model(
        "PolicySettings",
        __base__=PolicyBase,
        __module__=__name__,
        __doc__=PolicyBase.__doc__,
        **knob_fields(),
        rules=(tuple[RuleSettings, ...], Field((), description="later matching rules win")),
    )
