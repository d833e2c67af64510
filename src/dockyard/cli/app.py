"""The object every command receives: global flags, the terminal, and lazy wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dockyard.cli.output import Terminal
from dockyard.service import Dockyard
from dockyard.settings import Settings, load_settings


class App:
    """What every command gets: settings and the service, opened on first use."""

    def __init__(self, *, flags: dict[str, Any], config_file: Path | None, verbose: int) -> None:
        self.flags = flags
        self.config_file = config_file
        self.verbose = verbose
        self.term = Terminal()
        self._settings: Settings | None = None
        self._dockyard: Dockyard | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(config_file=self.config_file, flags=self.flags)
        return self._settings

    def dockyard(self) -> Dockyard:
        if self._dockyard is None:
            self._dockyard = Dockyard.open(self.settings())
        return self._dockyard

    def close(self) -> None:
        if self._dockyard is not None:
            self._dockyard.close()


pass_app = click.make_pass_decorator(App)
