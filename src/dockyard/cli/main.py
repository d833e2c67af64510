"""The ``dockyard`` command: global options, lazy wiring, and one-line errors.

Commands live one per module in ``cli.commands``; each parses its arguments, calls the
service, and renders through ``Terminal``. Nothing is opened until a command needs it,
so ``dockyard --help`` and argument errors never touch the engine or the database.

Exit codes: 0 ok; 1 an operation failed; 2 bad input or usage; 3 not found;
4 conflict or refused (in use, needs --force); 5 quota; 6 engine or store unavailable;
70 internal error (a bug: rerun with -v for the traceback); 130 interrupted.
``exec`` exits with the command's own exit code.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from dockyard import __version__
from dockyard.cli.commands import COMMANDS
from dockyard.cli.lazy import LazyGroup
from dockyard.core.errors import DockyardError

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    package="dockyard.cli.commands",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="dockyard")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file (default: $DOCKYARD_CONFIG or ~/.config/dockyard/config.toml).",
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory."
)
@click.option("--database-url", help="Database URL (default: SQLite in the data directory).")
@click.option("--engine-url", help="Engine endpoint, e.g. unix:///var/run/docker.sock.")
@click.option(
    "--url",
    envvar="DOCKYARD_URL",
    help="Talk to this `dockyard serve` (e.g. http://host:8420) instead of the local store "
    "and engine; the token comes from $DOCKYARD_TOKEN. [env: DOCKYARD_URL]",
)
@click.option("-v", "--verbose", count=True, help="Log more (-vv for debug).")
@click.pass_context
def cli(
    ctx: click.Context,
    *,
    config_file: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    engine_url: str | None,
    url: str | None,
    verbose: int,
) -> None:
    """Persistent, self-cleaning container workspaces for AI agents and their users."""
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from dockyard.cli.app import App  # noqa: PLC0415 - not for --help, nor a usage error

    flags = {"data_dir": data_dir, "database_url": database_url, "engine_url": engine_url}
    app = App(flags=flags, config_file=config_file, verbose=verbose, url=url or None)
    ctx.obj = app
    ctx.call_on_close(app.close)


class _ErrorLine:
    """The terminal, made when there is an error to say (rich loads only then)."""

    def error(self, message: str) -> None:
        from dockyard.cli.output import Terminal  # noqa: PLC0415

        Terminal().error(message)


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one exit per kind
    """Run the CLI; returns the exit code instead of raising."""
    term = _ErrorLine()
    verbose = any(a in {"-v", "-vv", "--verbose"} for a in (argv or sys.argv[1:]))
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="dockyard",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:  # one line, as every error: where to look next
        command = exc.ctx.command_path if exc.ctx is not None else "dockyard"
        term.error(f"{exc.format_message()} (see '{command} --help')")
        return exc.exit_code
    except click.ClickException as exc:
        term.error(exc.format_message())
        return exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        term.error("interrupted")
        return EXIT_INTERRUPTED
    except DockyardError as exc:
        term.error(exc.message)
        return exc.exit_code
    except BrokenPipeError:
        return 0  # the reader went away (dockyard ls | head); nothing left to say
    except Exception as exc:  # a bug: say so in one line, the traceback on request
        if verbose:
            logging.getLogger("dockyard").exception("internal error")
        term.error(f"internal error: {type(exc).__name__}: {exc} (rerun with -v for details)")
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0
