"""A click group whose commands are imported when they run.

``--help`` lists every command with its one-line help without importing any: the help
is the first paragraph of the command function's docstring, read from its source with
``ast`` (what click would show, to the letter; a test holds them equal).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import click


class LazyGroup(click.Group):
    def __init__(
        self, *args: object, lazy: Mapping[str, tuple[str, str]], package: str, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = dict(lazy)
        self.package = package

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = self.lazy.get(cmd_name)
        if spec is None:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(f"{self.package}.{spec[0]}")
        command: click.Command = getattr(module, spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        # a stand-in command with the same help: click's own shortening, to the letter
        rows = [
            (name, click.Command(name, help=self._help(name)).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _help(self, name: str) -> str:
        spec = self.lazy.get(name)
        if spec is None:
            command = super().get_command(click.get_current_context(), name)
            return command.help or "" if command is not None else ""
        return docstring(f"{self.package}.{spec[0]}", spec[1])


@cache
def docstring(module: str, function: str) -> str:
    """The docstring of ``function`` in ``module``, read from its source (not imported)."""
    found = importlib.util.find_spec(module)
    if found is None or found.origin is None:
        return ""
    tree = ast.parse(Path(found.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return ast.get_docstring(node) or ""
    return ""
