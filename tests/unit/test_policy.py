from __future__ import annotations

from datetime import timedelta

import pytest

from dockyard.api import schemas
from dockyard.core.deadlines import extended_deadline, idle_deadline, lifetime_cap
from dockyard.core.errors import SettingsError
from dockyard.core.model import PolicyOverrides
from dockyard.core.policy import Policy, Rule, knobs
from dockyard.settings import PolicySettings, RuleSettings, load_settings
from tests.helpers import T0, workspace

M = timedelta(minutes=1)
H = timedelta(hours=1)


def test_defaults_are_the_designs() -> None:
    p = Policy()
    assert (p.idle_timeout, p.warn_before, p.stopped_retention) == (45 * M, 5 * M, H)
    assert (p.max_workspaces_per_owner, p.max_sessions_per_workspace) == (5, 5)
    assert p.checkpoint_retention == timedelta(days=7)


@pytest.mark.parametrize(
    ("last_activity", "extended_until", "deadline"),
    [
        (T0, None, T0 + 45 * M),
        (T0 + 10 * M, None, T0 + 55 * M),
        (T0, T0 + 2 * H, T0 + 2 * H),  # an extension later than the idle deadline wins
        (T0 + 3 * H, T0 + 2 * H, T0 + 3 * H + 45 * M),  # later activity beats an old extension
    ],
)
def test_idle_deadline(last_activity, extended_until, deadline) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(last_activity_at=last_activity, extended_until=extended_until)
    assert idle_deadline(ws, Policy()) == deadline


@pytest.mark.parametrize(
    ("now", "by", "expected"),
    [
        (T0, 30 * M, T0 + 75 * M),  # from the current deadline, not from now
        (T0 + 2 * H, 30 * M, T0 + 150 * M),  # deadline already past: from now
        (T0, 30 * H, T0 + 24 * H),  # capped by max_lifetime from the start
    ],
)
def test_extend_pushes_forward_and_caps(now, by, expected) -> None:  # type: ignore[no-untyped-def]
    ws = workspace()
    assert extended_deadline(ws, Policy(), by=by, now=now) == expected


def test_extend_never_shortens() -> None:
    # activity already pushed the deadline beyond the lifetime cap: extending keeps it
    ws = workspace(last_activity_at=T0 + 24 * H)
    current = idle_deadline(ws, Policy())
    assert current > lifetime_cap(ws, Policy())
    assert extended_deadline(ws, Policy(), by=M, now=T0 + 24 * H) == current


def test_rules_apply_in_order_then_workspace_overrides() -> None:
    policy = Policy(
        rules=(
            Rule(owner="*@example.com", overrides=PolicyOverrides(idle_timeout=2 * H)),
            Rule(owner="bot-*", overrides=PolicyOverrides(idle_timeout=5 * M)),
            Rule(repo="*/infra", overrides=PolicyOverrides(idle_timeout=3 * H)),
        )
    )
    none = PolicyOverrides()
    assert (
        policy.for_workspace(owner="a@example.com", repo=None, overrides=none).idle_timeout == 2 * H
    )
    assert policy.for_workspace(owner="bot-1", repo=None, overrides=none).idle_timeout == 5 * M
    assert policy.for_workspace(owner="zed", repo=None, overrides=none).idle_timeout == 45 * M
    # a later matching rule wins
    assert (
        policy.for_workspace(owner="a@example.com", repo="acme/infra", overrides=none).idle_timeout
        == 3 * H
    )
    # the workspace's own override wins over every rule
    mine = PolicyOverrides(idle_timeout=M)
    assert policy.for_workspace(owner="a@example.com", repo=None, overrides=mine).idle_timeout == M


def test_rule_with_repo_glob_does_not_match_a_workspace_without_repo() -> None:
    rule = Rule(repo="*", overrides=PolicyOverrides(idle_timeout=M))
    assert not rule.matches(owner="a", repo=None)
    assert rule.matches(owner="a", repo="x")


def test_overrides_round_trip_through_seconds() -> None:
    overrides = PolicyOverrides(idle_timeout=90 * M, warn_before=M)
    assert PolicyOverrides.from_seconds(overrides.as_seconds()) == overrides
    assert PolicyOverrides().is_empty()
    assert PolicyOverrides.from_seconds({"unknown": 1.0}).is_empty()


def test_the_policy_is_defined_once_and_every_form_covers_it() -> None:
    """Settings, rules, a workspace's overrides and the API's acquire body derive from
    ``core.policy.Policy``: each has exactly the knobs it should, with the same defaults."""
    every = {f.name for f, _knob in knobs()}
    per_workspace = {f.name for f, knob in knobs() if knob.per_workspace}
    assert set(PolicySettings.model_fields) == every | {"rules"}
    assert set(RuleSettings.model_fields) == per_workspace | {"owner", "repo", "strategy", "disk"}
    assert set(PolicyOverrides.FIELDS) == per_workspace
    on_acquire = {f.name for f, knob in knobs() if knob.on_acquire}
    assert set(schemas.Policy.model_fields) == on_acquire == {"idle_timeout"}
    assert on_acquire <= per_workspace
    assert PolicySettings().to_policy() == Policy()
    assert all(isinstance(f.default, timedelta) for f, k in knobs() if k.per_workspace)
    for name in per_workspace:  # a rule's value of each reaches the workspace's policy
        rule = RuleSettings.model_validate({"owner": "a*", name: "7m"}).to_rule()
        policy = Policy(rules=(rule,))
        effective = policy.for_workspace(owner="alice", repo=None, overrides=PolicyOverrides())
        assert getattr(effective, name) == 7 * M, name


def test_knob_bounds_are_enforced_with_the_key_path() -> None:
    expected = r"policy.max_sessions_per_workspace: Input should be greater than or equal to 1"
    with pytest.raises(SettingsError, match=expected + r" \(from DOCKYARD_"):
        load_settings(env={"DOCKYARD_POLICY__MAX_SESSIONS_PER_WORKSPACE": "0"})
    with pytest.raises(SettingsError, match=r"policy\.busy_cpu_percent: Input should be a finite"):
        load_settings(env={"DOCKYARD_POLICY__BUSY_CPU_PERCENT": "nan"})
    schema = PolicySettings.model_json_schema()["properties"]
    assert schema["max_workspaces_per_owner"]["minimum"] == 1


def test_a_rules_disk_caps_new_matching_workspaces_the_last_match_winning() -> None:
    rules = (
        RuleSettings.model_validate({"owner": "*@example.com", "disk": "1g"}).to_rule(),
        RuleSettings.model_validate({"repo": "*/big", "disk": "20g"}).to_rule(),
    )
    policy = Policy(rules=rules)
    assert policy.disk_for(owner="a@example.com", repo=None) == 1024**3
    assert policy.disk_for(owner="a@example.com", repo="o/big") == 20 * 1024**3
    assert policy.disk_for(owner="bob", repo=None) is None
    with pytest.raises(ValueError, match="disk must be between"):
        RuleSettings.model_validate({"owner": "x", "disk": "1m"})
