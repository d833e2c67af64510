"""All terminal output goes through ``Terminal``: results to stdout, everything else to stderr.

- Results (names, tables, JSON) go to stdout so scripts can pipe them.
- Progress, notes, warnings and errors go to stderr; progress only when stderr is a
  terminal, so logs and CI output stay clean.
- ``--json`` output is one JSON document, nothing else on stdout.
- Colour only on a terminal and never when ``NO_COLOR`` is set (Rich handles both).
- Text is shown as it is: no emoji codes (a key ``:one:`` stays ``:one:``), no markup,
  and columns are measured in terminal cells (wide characters take two).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import IO, Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

STATE_STYLES = {
    "running": "green",
    "warned": "yellow",
    "stopped": "blue",
    "parked": "cyan",
    "parking": "cyan",
    "creating": "magenta",
    "restoring": "magenta",
    "failed": "bold red",
    "save_failed": "bold red",
    "expired": "dim",
    "removed": "dim",
}


class Terminal:
    def __init__(self, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        self._stdout = stdout or sys.stdout
        self._stderr = stderr or sys.stderr
        self.console = Console(file=self._stdout, highlight=False, soft_wrap=True, emoji=False)
        self.err_console = Console(file=self._stderr, highlight=False, soft_wrap=True, emoji=False)

    @property
    def interactive(self) -> bool:
        """Is a person at the keyboard (stdin and stderr are terminals)?"""
        return sys.stdin.isatty() and self._stderr.isatty()

    def out(self, text: str) -> None:
        self.console.print(text, markup=False)

    def out_styled(self, text: Text) -> None:
        self.console.print(text)

    def json(self, data: Any) -> None:
        self._stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        self._stdout.flush()

    def note(self, text: str) -> None:
        self.err_console.print(text, markup=False, style="dim")

    def warn(self, text: str) -> None:
        self.err_console.print(f"warning: {text}", markup=False, style="yellow")

    def error(self, text: str) -> None:
        self.err_console.print(f"dockyard: error: {text}", markup=False, style="red")

    def progress(self, text: str) -> None:
        if self._stderr.isatty():
            self.err_console.print(f"… {text}", markup=False, style="dim")

    def confirm(self, question: str) -> bool:
        """Ask yes/no on the terminal; the caller checks ``interactive`` first."""
        self._stderr.write(f"{question} [y/N] ")
        self._stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        return answer in {"y", "yes"}

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str | Text]]) -> None:
        """Aligned columns, never wrapped (pipes and ``grep`` see one row per line)."""
        cells = [[Text(c) if isinstance(c, str) else c for c in row] for row in rows]
        header = [Text(c, style="bold") for c in columns]
        widths = [
            max(cell_len(line[i].plain) for line in [header, *cells]) for i in range(len(columns))
        ]
        for line in [header, *cells]:
            text = Text()
            for i, cell in enumerate(line):
                text.append_text(cell)
                if i < len(line) - 1:
                    text.append(" " * (widths[i] - cell_len(cell.plain) + 2))
            self.console.print(text, no_wrap=True, overflow="ignore", crop=False)

    def write_bytes(self, stream: int, data: bytes) -> None:
        """Raw process output, unbuffered, to stdout (1) or stderr (2)."""
        target = self._stderr if stream == 2 else self._stdout
        buffer = getattr(target, "buffer", None)
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
        else:
            target.write(data.decode(errors="replace"))
            target.flush()


def styled_state(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))
