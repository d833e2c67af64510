"""Settings changed at run time (the API's policy update), kept in the store.

Only the fields set over the API are stored, and they win over the settings file for
every front (CLI, API, reconciler); every other field follows the file, edits included.
A reset drops them all. The loop's on/off switch is stored too, so a restarted
``serve`` keeps it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from dockyard.core.errors import InvalidInput, describe_validation
from dockyard.settings import PolicySettings, ReconcilerSettings, Settings
from dockyard.store import Store

log = logging.getLogger("dockyard.settings")

POLICY_KEY = "policy"
RECONCILER_KEY = "reconciler"
ENABLED_KEY = "reconciler_enabled"


def with_saved(store: Store, configured: Settings) -> Settings:
    """The settings as configured, with the fields set at run time applied over them.

    If those no longer fit the configured settings (a field renamed by an upgrade), the
    configured settings are in force and a warning says so."""
    try:
        return _apply(configured, _saved(store, POLICY_KEY), _saved(store, RECONCILER_KEY))
    except InvalidInput as exc:
        log.warning("ignoring the policy set over the API: %s", exc.message)
        return configured


def changed(
    store: Store,
    configured: Settings,
    *,
    policy: Mapping[str, Any] | None = None,
    reconciler: Mapping[str, Any] | None = None,
) -> Settings:
    """Validate partial changes of the policy and the reconciler's settings, store them
    with the fields set earlier, and return the settings in force after them. Nothing is
    stored unless all are valid."""
    new_policy = {**_saved(store, POLICY_KEY), **(policy or {})}
    new_reconciler = {**_saved(store, RECONCILER_KEY), **(reconciler or {})}
    settings = _apply(configured, new_policy, new_reconciler)
    if policy:
        _store(store, POLICY_KEY, settings.policy.model_dump(mode="json"), new_policy)
    if reconciler:
        _store(store, RECONCILER_KEY, settings.reconciler.model_dump(mode="json"), new_reconciler)
    return settings


def reset(store: Store, configured: Settings) -> Settings:
    """Forget every field set at run time: the configured settings are in force again."""
    store.delete_meta(POLICY_KEY)
    store.delete_meta(RECONCILER_KEY)
    return configured


def overridden(store: Store) -> list[str]:
    """The names of the fields set at run time (``reconciler.`` before the loop's)."""
    return sorted(
        [*_saved(store, POLICY_KEY), *(f"reconciler.{k}" for k in _saved(store, RECONCILER_KEY))]
    )


def reconciler_enabled(store: Store) -> bool:
    return store.get_meta(ENABLED_KEY) != "false"


def set_reconciler_enabled(store: Store, enabled: bool) -> None:
    store.set_meta(ENABLED_KEY, "true" if enabled else "false")


def _saved(store: Store, key: str) -> dict[str, Any]:
    raw = store.get_meta(key)
    if raw is None:
        return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def _apply(
    configured: Settings, policy: Mapping[str, Any], reconciler: Mapping[str, Any]
) -> Settings:
    try:
        new_policy = PolicySettings.model_validate(
            {**configured.policy.model_dump(mode="json"), **policy}
        )
        new_reconciler = ReconcilerSettings.model_validate(
            {**configured.reconciler.model_dump(mode="json"), **reconciler}
        )
    except ValidationError as exc:
        raise InvalidInput(f"invalid policy: {describe_validation(exc.errors())}") from None
    return configured.model_copy(update={"policy": new_policy, "reconciler": new_reconciler})


def _store(store: Store, key: str, in_force: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    """The fields set at run time, as validated (``"2h"`` is kept as ``"2h00m"``)."""
    store.set_meta(key, json.dumps({name: in_force[name] for name in fields}))
