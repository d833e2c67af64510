from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.core.errors import InvalidInput, SettingsError
from dockyard.service import Dockyard, overrides
from dockyard.settings import Settings, load_settings

MINUTE = timedelta(minutes=1)


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(env={}, flags={"data_dir": tmp_path})
    assert s.policy.idle_timeout == timedelta(minutes=45)
    assert s.workspace.memory == 2 * 1024**3
    assert s.store_url == f"sqlite:///{tmp_path / 'dockyard.db'}"


def test_layers_file_then_env_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[policy]\nidle_timeout = "1h"\nwarn_before = "2m"\n'
        '[workspace]\nimage = "from-file"\nmemory = "1g"\n'
    )
    env = {"DOCKYARD_POLICY__IDLE_TIMEOUT": "2h", "DOCKYARD_WORKSPACE__IMAGE": "from-env"}
    s = load_settings(config_file=config, env=env, flags={"workspace.image": "from-flag"})
    assert s.policy.idle_timeout == timedelta(hours=2)  # env beats file
    assert s.policy.warn_before == timedelta(minutes=2)  # file beats default
    assert s.workspace.image == "from-flag"  # flag beats env
    assert s.workspace.memory == 1024**3


def test_config_file_from_env(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[policy]\nmax_workspaces_per_owner = 9\n")
    s = load_settings(env={"DOCKYARD_CONFIG": str(config)})
    assert s.policy.max_workspaces_per_owner == 9


def test_errors_name_key_path_and_source(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[[policy.rules]]\nowner = "a"\n[[policy.rules]]\nidle_timeout = "soon"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config_file=config, env={})
    message = str(caught.value)
    assert message.startswith("policy.rules[1].idle_timeout: expected a duration")
    assert f"(from {config})" in message


def test_env_error_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"workspace.cpus: .*\(from DOCKYARD_WORKSPACE__CPUS\)"):
        load_settings(env={"DOCKYARD_WORKSPACE__CPUS": "-1"})


def test_unknown_keys_are_errors_not_silence() -> None:
    with pytest.raises(SettingsError, match=r"polcy: unknown setting \(from DOCKYARD_POLCY__X\)"):
        load_settings(env={"DOCKYARD_POLCY__X": "1"})


def test_rules_from_json_env() -> None:
    s = load_settings(env={"DOCKYARD_POLICY__RULES": '[{"owner": "bot-*", "idle_timeout": "5m"}]'})
    policy = s.policy.to_policy()
    assert policy.for_workspace(
        owner="bot-7", repo=None, overrides=policy.rules[0].overrides
    ).idle_timeout == timedelta(minutes=5)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config_file=bad, env={})
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml", env={})


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings(env={}, flags={"data_dir": tmp_path})
    with pytest.raises(ValueError, match="frozen"):
        s.policy.idle_timeout = timedelta(0)  # type: ignore[misc]


def test_fields_set_at_run_time_win_and_the_rest_follow_the_file(fake_dy: Dockyard) -> None:
    ctx = fake_dy.ctx
    overrides.changed(ctx, policy={"idle_timeout": "2h"})
    overrides.changed(ctx, reconciler={"max_interval": "30s"})
    assert ctx.settings.policy.idle_timeout == timedelta(hours=2)  # in force at once
    assert overrides.overridden(ctx.store) == ["idle_timeout", "reconciler.max_interval"]
    edited = _with_policy(ctx.configured, warn_before=MINUTE)
    in_force = overrides.with_saved(ctx.store, edited)  # the file changed since
    assert in_force.policy.idle_timeout == timedelta(hours=2)
    assert in_force.policy.warn_before == MINUTE
    assert in_force.reconciler.max_interval == timedelta(seconds=30)
    with pytest.raises(InvalidInput, match="idle_timeout"):
        overrides.changed(ctx, policy={"idle_timeout": "soon"})
    assert ctx.settings.policy.idle_timeout == timedelta(hours=2)  # nothing changed
    overrides.reset(ctx)
    assert ctx.settings is ctx.configured
    assert overrides.overridden(ctx.store) == []
    assert overrides.with_saved(ctx.store, edited) == edited


def test_a_stored_field_that_no_longer_fits_is_dropped_alone(fake_dy: Dockyard) -> None:
    ctx = fake_dy.ctx
    ctx.store.meta.set(overrides.POLICY_KEY, '{"idle_timeot": "2h", "warn_before": "1m"}')
    assert overrides.with_saved(ctx.store, ctx.configured).policy.warn_before == MINUTE
    assert overrides.overridden(ctx.store) == ["warn_before"]
    overrides.changed(ctx, policy={"idle_timeout": "2h"})  # not blocked by the renamed one
    assert overrides.overridden(ctx.store) == ["idle_timeout", "warn_before"]


def test_a_whole_stored_section_keeps_only_what_differs_from_the_file(
    fake_dy: Dockyard,
) -> None:
    ctx = fake_dy.ctx
    whole = _with_policy(ctx.configured, idle_timeout=timedelta(hours=2)).policy
    ctx.store.meta.set("policy", whole.model_dump_json())  # as stored before
    in_force = overrides.with_saved(ctx.store, ctx.configured)
    assert in_force.policy.idle_timeout == timedelta(hours=2)
    assert overrides.overridden(ctx.store) == ["idle_timeout"]
    assert ctx.store.meta.get("policy") is None
    edited = _with_policy(ctx.configured, warn_before=MINUTE)
    assert overrides.with_saved(ctx.store, edited).policy.warn_before == MINUTE


def _with_policy(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"policy": settings.policy.model_copy(update=changes)})
