"""The object every command receives: global flags, the terminal, and lazy wiring."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dockyard.cli.output import Terminal
from dockyard.core.errors import InvalidInput

if TYPE_CHECKING:
    from dockyard.client import Client
    from dockyard.service import Dockyard
    from dockyard.settings import Settings


class App:
    """What every command gets: settings and the service, opened on first use; or, given
    ``url`` (``--url``, ``$DOCKYARD_URL``), a client of a remote ``dockyard serve``."""

    def __init__(
        self,
        *,
        flags: dict[str, Any],
        config_file: Path | None,
        verbose: int,
        url: str | None = None,
    ) -> None:
        self.flags = flags
        self.config_file = config_file
        self.verbose = verbose
        self.url = url
        self.term = Terminal()
        self._settings: Settings | None = None
        self._dockyard: Dockyard | None = None
        self._remote: Client | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from dockyard.settings import load_settings  # noqa: PLC0415 - pydantic, when needed

            self._settings = load_settings(config_file=self.config_file, flags=self.flags)
        return self._settings

    def dockyard(self) -> Dockyard:
        if self.url is not None:
            command = click.get_current_context().command_path
            raise InvalidInput(
                f"{command} works on this machine's store and engine, not through a server "
                "(drop --url, or unset DOCKYARD_URL)"
            )
        if self._dockyard is None:
            from dockyard.service import Dockyard  # noqa: PLC0415 - the whole service, when used

            self._dockyard = Dockyard.open(self.settings())
        return self._dockyard

    def remote(self) -> Client | None:
        """The client of the server this command talks to, or None to work locally."""
        if self.url is None:
            return None
        if self._remote is None:
            from dockyard.client import Client  # noqa: PLC0415 - only remote commands pay for it

            self._remote = Client(self.url)
        return self._remote

    def close(self) -> None:
        if self._dockyard is not None:
            self._dockyard.close()
        if self._remote is not None:
            self._remote.close()

    def global_args(self) -> list[str]:
        """The global options this command was given, for a child ``dockyard`` process."""
        args: list[str] = []
        if self.config_file is not None:
            args += ["--config", str(self.config_file)]
        for flag, value in self.flags.items():
            if value is not None:
                args += [f"--{flag.replace('_', '-')}", str(value)]
        return args

    def cleanup_in_background(self) -> None:
        """Start the throttled background cleanup, and show its last failure once (not
        for a remote server: its own reconciler cleans up)."""
        if self.url is not None:
            return
        from dockyard.cli import background  # noqa: PLC0415

        settings = self.settings()
        error = background.take_error(settings.data_dir)
        if error:
            self.term.warn(f"the last background cleanup failed: {error}")
        background.start(settings, self.global_args())

    def notify_reconciler(self) -> None:
        """Something changed: wake the reconcile loops (on this data directory, and on
        PostgreSQL every replica's). A remote server wakes its own."""
        if self.url is not None:
            return
        if self._dockyard is not None:
            self._dockyard.wake_reconcilers()
        else:
            from dockyard.service import notify  # noqa: PLC0415

            notify(self.settings().data_dir)


pass_app = click.make_pass_decorator(App)
