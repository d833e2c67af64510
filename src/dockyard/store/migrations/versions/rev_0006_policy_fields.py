"""Settings set over the API are stored field by field; older releases stored whole sections.

Releases before 0006 stored the whole policy (``meta.policy``) and the whole reconciler
section (``meta.reconciler``) on every change, so edits of the settings file were hidden
behind them. This keeps, of each whole section, the fields that differ from the
settings in force when the upgrade runs (those were set over the API) as the fields set
at run time, and drops the whole-section records. The opener hands the configured
sections over (``configured_sections``); without them (a store opened by a tool that
has no settings), the defaults of the releases that wrote whole sections stand in.
Data only: no schema change.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from dockyard.core.units import format_duration, parse_duration

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The sections' defaults as releases before 0006 shipped them (as stored: JSON).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "policy": {
        "idle_timeout": "45m",
        "warn_before": "5m",
        "max_lifetime": "1d",
        "stopped_retention": "1h00m",
        "orphan_grace": "10m",
        "checkpoint_retention": "7d",
        "max_workspaces_per_owner": 5,
        "max_sessions_per_workspace": 5,
        "quota_idle_after": "5m",
        "leftover_grace": "1m",
        "interrupted_after": "2m",
        "busy_cpu_percent": 5.0,
        "busy_processes": [],
        "save_retry_min": "1m",
        "save_retry_max": "1h00m",
        "rules": [],
    },
    "reconciler": {
        "max_interval": "1m",
        "workers": 8,
        "busy_sample": "0s",
        "background_interval": "1h00m",
    },
}
_FIELDS_KEY = {"policy": "policy_fields", "reconciler": "reconciler_fields"}

meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    conn = op.get_bind()
    configured = context.config.attributes.get("configured_sections")
    bases: dict[str, dict[str, Any]] = configured() if callable(configured) else _DEFAULTS
    for legacy, fields_key in _FIELDS_KEY.items():
        whole = _load(conn, legacy)
        if whole is None:
            continue
        base = bases.get(legacy, _DEFAULTS[legacy])
        fields = {name: v for name, v in whole.items() if _differs(base, name, v)}
        fields |= _load(conn, fields_key) or {}  # fields set field by field win
        conn.execute(meta.delete().where(meta.c.key.in_([legacy, fields_key])))
        if fields:
            conn.execute(meta.insert().values(key=fields_key, value=json.dumps(fields)))


def downgrade() -> None:
    """Field-by-field records are readable as they are; nothing to undo."""


def _differs(base: dict[str, Any], name: str, value: Any) -> bool:
    return name not in base or _as_written_then(base[name]) != _as_written_then(value)


def _as_written_then(value: Any) -> Any:
    """A duration as those releases wrote it (to the minute above ten minutes, no
    milliseconds): the whole section was written that way, the file is read exactly."""
    if not isinstance(value, str):
        return value
    try:
        return format_duration(parse_duration(value))
    except ValueError:
        return value


def _load(conn: sa.Connection, key: str) -> dict[str, Any] | None:
    raw = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
