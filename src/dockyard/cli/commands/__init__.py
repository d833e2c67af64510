"""One module per command. ``COMMANDS`` names each command's module and function: a
command is imported when it runs, so ``dockyard --help`` and ``dockyard ls`` do not
load what ``dockyard serve`` needs (``cli.lazy``)."""

from __future__ import annotations

#: name -> (module in this package, the click command in it), in the order of --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("up", "up"),
    "exec": ("exec", "exec_"),
    "run": ("sessions", "run"),
    "sessions": ("sessions", "sessions"),
    "shell": ("shell", "shell"),
    "cp": ("cp", "cp"),
    "files": ("cp", "files"),
    "ls": ("ls", "ls"),
    "status": ("status", "status"),
    "touch": ("touch", "touch"),
    "extend": ("extend", "extend"),
    "stop": ("stop", "stop"),
    "park": ("park", "park"),
    "checkpoints": ("checkpoints", "checkpoints"),
    "rm": ("rm", "rm"),
    "keep": ("keep", "keep"),
    "unkeep": ("keep", "unkeep"),
    "clean": ("clean", "clean"),
    "gc": ("gc", "gc"),
    "reconcile": ("reconcile", "reconcile"),
    "doctor": ("doctor", "doctor"),
    "engine": ("engine", "engine"),
    "serve": ("serve", "serve"),
    "mcp": ("mcp", "mcp"),
    "token": ("token", "token"),
    "events": ("events", "events"),
}
