"""Settings changed at run time (the API's policy update), kept in the store.

The policy and the reconciler's settings set over the API are stored as JSON and win
over the settings file for every front (CLI, API, reconciler) until changed again; the
loop's on/off switch is stored too, so a restarted ``serve`` keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from dockyard.core.errors import InvalidInput, describe_validation
from dockyard.settings import PolicySettings, ReconcilerSettings, Settings
from dockyard.store import Store

POLICY_KEY = "policy"
RECONCILER_KEY = "reconciler"
ENABLED_KEY = "reconciler_enabled"


def with_saved(store: Store, settings: Settings) -> Settings:
    """``settings`` with what was set at run time applied over it."""
    update: dict[str, Any] = {}
    policy = store.get_meta(POLICY_KEY)
    if policy is not None:
        update["policy"] = PolicySettings.model_validate_json(policy)
    reconciler = store.get_meta(RECONCILER_KEY)
    if reconciler is not None:
        update["reconciler"] = ReconcilerSettings.model_validate_json(reconciler)
    return settings.model_copy(update=update) if update else settings


def changed(
    store: Store,
    settings: Settings,
    *,
    policy: Mapping[str, Any] | None = None,
    reconciler: Mapping[str, Any] | None = None,
) -> Settings:
    """Validate partial changes of the policy and the reconciler's settings, store them,
    and return the settings in force after them. Nothing is stored unless all are valid."""
    try:
        new_policy = PolicySettings.model_validate(
            {**settings.policy.model_dump(mode="json"), **(policy or {})}
        )
        new_reconciler = ReconcilerSettings.model_validate(
            {**settings.reconciler.model_dump(mode="json"), **(reconciler or {})}
        )
    except ValidationError as exc:
        raise InvalidInput(f"invalid policy: {describe_validation(exc.errors())}") from None
    if policy:
        store.set_meta(POLICY_KEY, new_policy.model_dump_json())
    if reconciler:
        store.set_meta(RECONCILER_KEY, new_reconciler.model_dump_json())
    return settings.model_copy(update={"policy": new_policy, "reconciler": new_reconciler})


def reconciler_enabled(store: Store) -> bool:
    return store.get_meta(ENABLED_KEY) != "false"


def set_reconciler_enabled(store: Store, enabled: bool) -> None:
    store.set_meta(ENABLED_KEY, "true" if enabled else "false")
