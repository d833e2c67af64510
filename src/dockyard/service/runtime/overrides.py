"""Settings changed at run time (the API's policy update), kept in the store.

Only the fields set over the API are stored, and they win over the settings file for
every front (CLI, API, reconciler); every other field follows the file, edits included.
A reset drops them all. A stored field that no longer validates (renamed by an upgrade,
or at odds with an edited file) is left out with a warning (once per process), alone,
and dropped from the store by the next change. (Whole sections stored by releases
before schema 0006 are converted by that migration.) The loop's on/off switch is
stored too, so a restarted ``serve`` keeps it.

Reading them writes nothing: opening a context is reads only. Processes read the stored
fields when they start; a change takes effect at once in the process that made it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from dockyard.core.errors import InvalidValue, describe_validation
from dockyard.settings import PolicySettings, ReconcilerSettings, Settings
from dockyard.store import Store

log = logging.getLogger("dockyard.settings")

POLICY_KEY = "policy_fields"
RECONCILER_KEY = "reconciler_fields"
ENABLED_KEY = "reconciler_enabled"
_SECTIONS: dict[str, type[BaseModel]] = {
    POLICY_KEY: PolicySettings,
    RECONCILER_KEY: ReconcilerSettings,
}
_changing = threading.Lock()  # a change is read, merged, stored and put in force at once
_warned: set[str] = set()  # what was said about stale stored fields, once per process


def configured_sections(configured: Settings) -> dict[str, dict[str, Any]]:
    """The sections that can be set at run time, as configured (for migration 0006)."""
    return {
        "policy": _configured(configured, POLICY_KEY),
        "reconciler": _configured(configured, RECONCILER_KEY),
    }


def in_force(store: Store, configured: Settings) -> Settings:
    """The settings as configured, with the fields set at run time applied over them."""
    return _apply(
        configured,
        _fitting(store, POLICY_KEY, configured),
        _fitting(store, RECONCILER_KEY, configured),
    )


def change(
    store: Store,
    configured: Settings,
    *,
    policy: Mapping[str, Any] | None,
    reconciler: Mapping[str, Any] | None,
    apply: Callable[[Settings], None],
) -> None:
    """Validate partial changes of the policy and the reconciler's settings, store them
    with the fields set earlier and ``apply`` the result. Nothing changes unless all are
    valid."""
    with _changing:
        new_policy = {**_fitting(store, POLICY_KEY, configured), **(policy or {})}
        new_reconciler = {**_fitting(store, RECONCILER_KEY, configured), **(reconciler or {})}
        settings = _apply(configured, new_policy, new_reconciler)
        # a field set to what the file says follows the file again (a GET -> PUT round
        # trip overrides nothing)
        new_policy = _differing(new_policy, settings.policy, configured.policy)
        new_reconciler = _differing(new_reconciler, settings.reconciler, configured.reconciler)
        # both sections, as fitted: stale fields go with any change
        _write(store, POLICY_KEY, settings.policy, new_policy)
        _write(store, RECONCILER_KEY, settings.reconciler, new_reconciler)
        apply(settings)


def reset(store: Store, *, apply: Callable[[], None]) -> None:
    """Forget every field set at run time, then ``apply`` (put the configured settings
    in force)."""
    with _changing:
        for key in (POLICY_KEY, RECONCILER_KEY):
            store.meta.delete(key)
        apply()


def overridden(store: Store, configured: Settings) -> list[str]:
    """The names of the fields set at run time that are in force (``reconciler.``
    before the loop's)."""
    policy = _fitting(store, POLICY_KEY, configured)
    reconciler = _fitting(store, RECONCILER_KEY, configured)
    return sorted([*policy, *(f"reconciler.{name}" for name in reconciler)])


def reconciler_enabled(store: Store) -> bool:
    return store.meta.get(ENABLED_KEY) != "false"


def set_reconciler_enabled(store: Store, enabled: bool) -> None:
    store.meta.set(ENABLED_KEY, "true" if enabled else "false")


def _saved(store: Store, key: str) -> dict[str, Any]:
    raw = store.meta.get(key)
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        log.warning("ignoring the settings stored under %s: not JSON", key)
        return {}
    return value if isinstance(value, dict) else {}


def _configured(configured: Settings, key: str) -> dict[str, Any]:
    section = configured.policy if key == POLICY_KEY else configured.reconciler
    return section.model_dump(mode="json")


def _fitting(store: Store, key: str, configured: Settings) -> dict[str, Any]:
    """The stored fields of a section that validate over its configured values; any
    other is left out, with a warning."""
    base = _configured(configured, key)
    fields = _saved(store, key)
    while fields:
        try:
            _SECTIONS[key].model_validate({**base, **fields})
            break
        except ValidationError as exc:
            errors = exc.errors()
            bad = {str(e["loc"][0]) for e in errors if e["loc"] and str(e["loc"][0]) in fields}
            message = describe_validation(errors)
            if message not in _warned:
                _warned.add(message)
                log.warning("ignoring a setting set over the API: %s", message)
            for name in bad or set(fields):
                del fields[name]
    return fields


def _apply(
    configured: Settings, policy: Mapping[str, Any], reconciler: Mapping[str, Any]
) -> Settings:
    if not policy and not reconciler:
        return configured
    try:
        new_policy = PolicySettings.model_validate(
            {**_configured(configured, POLICY_KEY), **policy}
        )
        new_reconciler = ReconcilerSettings.model_validate(
            {**_configured(configured, RECONCILER_KEY), **reconciler}
        )
    except ValidationError as exc:
        raise InvalidValue(f"invalid policy: {describe_validation(exc.errors())}") from None
    return configured.model_copy(update={"policy": new_policy, "reconciler": new_reconciler})


def _differing(
    fields: Mapping[str, Any], in_force: BaseModel, configured: BaseModel
) -> dict[str, Any]:
    """The fields whose value in force differs from the configured one."""
    return {
        name: v
        for name, v in fields.items()
        if getattr(in_force, name) != getattr(configured, name)
    }


def _write(store: Store, key: str, in_force: BaseModel, fields: Mapping[str, Any]) -> None:
    """The fields set at run time, as validated (``"2h"`` is kept as ``"2h00m"``)."""
    dumped = in_force.model_dump(mode="json")
    values = {name: dumped[name] for name in fields}
    if values:
        store.meta.set(key, json.dumps(values))
    else:
        store.meta.delete(key)
