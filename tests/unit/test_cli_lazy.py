"""The CLI loads a command only to run it: ``--help`` lists them all from their source,
with the help click would show, and imports nothing heavy."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import subprocess
import sys

import click
import pytest

from dockyard.cli.commands import COMMANDS
from dockyard.cli.lazy import docstring
from dockyard.cli.main import cli, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_help_read_from_source_is_the_commands_own(name: str) -> None:
    module, attribute = COMMANDS[name]
    command = getattr(importlib.import_module(f"dockyard.cli.commands.{module}"), attribute)
    assert isinstance(command, click.Command) and command.name == name
    assert docstring(f"dockyard.cli.commands.{module}", attribute) == inspect.cleandoc(
        command.help or ""
    )


def test_every_command_is_listed_and_answers_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out.split("Commands:", 1)[1]
    assert [line.split()[0] for line in listed.strip().splitlines()] == sorted(COMMANDS)
    for name in COMMANDS:
        assert main([name, "--help"]) == 0, name
        assert capsys.readouterr().out.startswith(f"Usage: dockyard {name}")


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    assert "No such command 'nope'" in capsys.readouterr().err
    assert cli.get_command(click.Context(cli), "nope") is None


def test_help_imports_no_service_store_or_rich() -> None:
    script = (
        "import sys, json; from dockyard.cli.main import main; main(['--help']); "
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(json.loads(run.stderr.strip().splitlines()[-1]))
    heavy = {"dockyard.service", "dockyard.settings", "sqlalchemy", "pydantic", "rich", "httpx"}
    assert not heavy & loaded, heavy & loaded


def test_mcp_without_its_sdk_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mcp" else real(name, *a)
    )
    assert main(["mcp"]) == 6
    assert "pip install 'dockyard[mcp]'" in capsys.readouterr().err
