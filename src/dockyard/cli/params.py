"""Click parameter types and shared options: durations, sizes, labels, ``--json``,
a workspace process's environment and directory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from dockyard.core.units import format_duration, format_size, parse_duration, parse_size

F = TypeVar("F", bound=Callable[..., Any])


class DurationType(click.ParamType[timedelta, Any]):
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class SizeType(click.ParamType[int, Any]):
    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class LabelType(click.ParamType[tuple[str, str], Any]):
    name = "key=value"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        key, sep, label_value = str(value).partition("=")
        if not sep or not key:
            self.fail(f"expected key=value, got {value!r}", param, ctx)
        return key, label_value


DURATION = DurationType()
SIZE = SizeType()
LABEL = LabelType()


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(function)


def process_options(function: F) -> F:
    """``-e KEY=VALUE`` and ``-w DIR`` of a process run in a workspace (exec, shell)."""
    function = click.option(
        "-w", "--workdir", help="Working directory (default: the workspace directory)."
    )(function)
    return click.option(
        "-e", "--env", "env", type=LABEL, multiple=True, help="Environment KEY=VALUE."
    )(function)


def command_argv(command: tuple[str, ...]) -> list[str]:
    """The command after KEY, without the ``--`` that may separate its own options."""
    argv = list(command)
    return argv[1:] if argv and argv[0] == "--" else argv


def relative(moment: datetime | None, *, now: datetime) -> str:
    """``in 12m`` / ``3m ago`` / ``-``."""
    if moment is None:
        return "-"
    delta = (moment - now).total_seconds()
    return f"in {format_duration(delta)}" if delta >= 0 else f"{format_duration(-delta)} ago"


def clock_time(moment: datetime | None) -> str:
    """A moment in UTC, to the second: ``2026-11-22 14:32:10 UTC``."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds_text(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def pending_text(pending: Mapping[str, Any] | None) -> str:
    """``park in 12m (idle)``, ``park now (crashed: exited 137)``, or ``-``, from a
    workspace's ``pending`` (its JSON form: local, or as a server sent it)."""
    if pending is None:
        return "-"
    wait = float(pending.get("in_s") or 0)
    when = f"in {format_duration(wait)}" if wait > 0 else "now"
    why = str(pending["reason"]) + (f": {pending['detail']}" if pending.get("detail") else "")
    return f"{pending['action']} {when} ({why})"


def disk_text(total: int | None, *, complete: bool | None) -> str:
    """Disk use for people: ``-`` when unknown, ``>`` before a lower bound (a measurement
    cut short by its time budget)."""
    if total is None:
        return "-"
    return f"{'' if complete is not False else '>'}{format_size(total)}"
