from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import platformdirs
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from dockyard.core.errors import InvalidInput, SettingsError
from dockyard.service import Context, Dockyard
from dockyard.service.runtime import overrides
from dockyard.settings import Settings, load_settings
from dockyard.settings.layers import user_dir
from dockyard.store.migrate import _MIGRATIONS

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


def test_a_clients_server_and_token_are_no_settings() -> None:
    """DOCKYARD_URL and DOCKYARD_TOKEN are for ``--url`` and the client: a local command
    or ``serve`` run in the same shell is not refused for them."""
    env = {"DOCKYARD_URL": "http://far:8420", "DOCKYARD_TOKEN": "dy_x", "DOCKYARD_API__PORT": "1"}
    assert load_settings(env=env).api.port == 1


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
        s.policy.idle_timeout = timedelta(0)  # type: ignore[attr-defined]


def test_fields_set_at_run_time_win_and_the_rest_follow_the_file(fake_dy: Dockyard) -> None:
    ctx = fake_dy.ctx
    fake_dy.change_policy(policy={"idle_timeout": "2h"})
    fake_dy.change_policy(reconciler={"max_interval": "30s"})
    assert ctx.settings.policy.idle_timeout == timedelta(hours=2)  # in force at once
    assert fake_dy.overridden() == ["idle_timeout", "reconciler.max_interval"]
    edited = _with_policy(ctx.configured, warn_before=MINUTE)
    in_force = overrides.in_force(ctx.store, edited)  # the file changed since
    assert in_force.policy.idle_timeout == timedelta(hours=2)
    assert in_force.policy.warn_before == MINUTE
    assert in_force.reconciler.max_interval == timedelta(seconds=30)
    with pytest.raises(InvalidInput, match="idle_timeout"):
        fake_dy.change_policy(policy={"idle_timeout": "soon"})
    assert ctx.settings.policy.idle_timeout == timedelta(hours=2)  # nothing changed
    fake_dy.reset_policy()
    assert ctx.settings is ctx.configured
    assert fake_dy.overridden() == []
    assert overrides.in_force(ctx.store, edited) == edited


def test_a_stored_field_that_no_longer_fits_is_dropped_alone(fake_dy: Dockyard) -> None:
    ctx = fake_dy.ctx
    ctx.store.meta.set(overrides.POLICY_KEY, '{"idle_timeot": "2h", "warn_before": "1m"}')
    assert overrides.in_force(ctx.store, ctx.configured).policy.warn_before == MINUTE
    assert fake_dy.overridden() == ["warn_before"]
    fake_dy.change_policy(policy={"idle_timeout": "2h"})  # not blocked by the renamed one
    assert fake_dy.overridden() == ["idle_timeout", "warn_before"]
    assert "idle_timeot" not in (ctx.store.meta.get(overrides.POLICY_KEY) or "")  # dropped


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # SQLite's data_version
def test_opening_a_context_writes_nothing(fake_dy: Dockyard, settings: Settings) -> None:
    fake_dy.ctx.store.meta.set(overrides.POLICY_KEY, '{"idle_timeot": "2h", "warn_before": "1m"}')
    watcher = sqlite3.connect(settings.store_url.removeprefix("sqlite:///"))
    try:
        # data_version moves when any other connection commits a change to the database
        before = watcher.execute("PRAGMA data_version").fetchone()
        opened = Context.open(settings)
        opened.close()
        assert watcher.execute("PRAGMA data_version").fetchone() == before
    finally:
        watcher.close()
    assert opened.settings.policy.warn_before == MINUTE  # what was stored is in force


def test_a_whole_stored_section_keeps_only_what_differs_from_the_file(
    tmp_path: Path,
) -> None:
    """Before 0006 the whole section was stored; the migration, run by the first open
    after the upgrade, keeps what differs from the settings file as the fields set."""
    configured = load_settings(
        env={}, flags={"data_dir": tmp_path, "reconciler.busy_sample": "250ms"}
    )
    engine = sa.create_engine(configured.store_url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        whole = _with_policy(configured, idle_timeout=timedelta(hours=2)).policy
        for key, section in (("policy", whole), ("reconciler", configured.reconciler)):
            conn.execute(
                sa.text("INSERT INTO meta (key, value) VALUES (:k, :v)"),
                # as stored before: the whole section, durations to the minute, no ms
                {"k": key, "v": section.model_dump_json().replace('"250ms"', '"0s"')},
            )
    engine.dispose()
    ctx = Context.open(configured)  # migrates, with the file in force
    store = ctx.store
    try:
        in_force = overrides.in_force(store, configured)
        assert in_force.policy.idle_timeout == timedelta(hours=2)
        assert in_force.reconciler.busy_sample == timedelta(milliseconds=250)
        assert overrides.overridden(store, configured) == ["idle_timeout"]
        assert store.meta.get("policy") is None
        edited = _with_policy(configured, warn_before=MINUTE)
        assert overrides.in_force(store, edited).policy.warn_before == MINUTE
    finally:
        ctx.close()


def _with_policy(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"policy": settings.policy.model_copy(update=changes)})


@pytest.mark.parametrize(
    "environ",
    [{}, {"XDG_CONFIG_HOME": "/etc/xdg-c", "XDG_DATA_HOME": "/srv/xdg-d"}, {"XDG_DATA_HOME": " "}],
)
def test_user_dirs_are_platformdirs_own(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> None:
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert user_dir("config") == platformdirs.user_config_path("dockyard")
    assert user_dir("data") == platformdirs.user_data_path("dockyard")
