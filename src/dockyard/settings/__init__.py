"""Typed, validated, frozen settings: defaults < TOML file < ``DOCKYARD_*`` env < flags.

Every layer is a plain nested mapping; they are deep-merged in that order and validated
once by pydantic. An invalid value fails with its key path *and* where it came from:

    policy.rules[1].idle_timeout: expected a duration like 90s, 45m, 1h30m or 7d,
    got 'soon' (from /etc/dockyard.toml)

Environment variables map to key paths with ``__`` between levels:
``DOCKYARD_POLICY__IDLE_TIMEOUT=2h`` sets ``policy.idle_timeout``; a value starting
with ``[`` or ``{`` is read as JSON (``DOCKYARD_POLICY__RULES='[{"owner": "bot-*"}]'``).
``DOCKYARD_CONFIG`` names the TOML file (else ``~/.config/dockyard/config.toml`` if it
exists). Unknown keys are errors, so a typo never silently does nothing.

We merge the layers ourselves instead of using pydantic-settings because the merge is
a dozen lines and knowing each value's source is what makes the error message useful.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.settings.layers import ENV_CONFIG, ENV_PREFIX, default_config_file
    from dockyard.settings.loading import load_settings
    from dockyard.settings.policy import PolicySettings, RuleSettings
    from dockyard.settings.sections import (
        DEFAULT_IMAGE,
        ApiSettings,
        GcSettings,
        ReconcilerSettings,
        Settings,
        WebhookSettings,
        WorkspaceSettings,
    )
    from dockyard.settings.types import Duration, Size, knob_fields

#: Where each name lives: the package loads pydantic only when a name of it is used
#: (``settings.layers`` alone is the standard library's).
_HOMES = {
    "DEFAULT_IMAGE": "sections",
    "ENV_CONFIG": "layers",
    "ENV_PREFIX": "layers",
    "ApiSettings": "sections",
    "Duration": "types",
    "GcSettings": "sections",
    "PolicySettings": "policy",
    "ReconcilerSettings": "sections",
    "RuleSettings": "policy",
    "Settings": "sections",
    "Size": "types",
    "WebhookSettings": "sections",
    "WorkspaceSettings": "sections",
    "default_config_file": "layers",
    "knob_fields": "types",
    "load_settings": "loading",
}

__all__ = [
    "DEFAULT_IMAGE",
    "ENV_CONFIG",
    "ENV_PREFIX",
    "ApiSettings",
    "Duration",
    "GcSettings",
    "PolicySettings",
    "ReconcilerSettings",
    "RuleSettings",
    "Settings",
    "Size",
    "WebhookSettings",
    "WorkspaceSettings",
    "default_config_file",
    "knob_fields",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
