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

from dockyard.settings.loading import ENV_CONFIG, ENV_PREFIX, default_config_file, load_settings
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
