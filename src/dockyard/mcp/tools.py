"""What an agent may do in its workspaces, one method per MCP tool, each a use case of
the service facade. Nothing here knows the MCP SDK (``mcp.server`` wires these up);
every answer is a small JSON object an agent can read.

An ``Agent`` acts for one owner when it is given one (``dockyard mcp --owner``, or an
owner's token inside ``serve``): other owners' workspaces do not exist for it, and what
it creates is that owner's. Commands run in one command session per workspace, opened
on first use and kept, so ``cd`` and exported variables carry over from one call to the
next, as in a terminal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dockyard.core.errors import Conflict, InvalidValue, NotFound
from dockyard.core.model import SessionKind
from dockyard.service import AcquireRequest, Dockyard

#: An answer's text is cut to this much (an agent's context is precious); the rest is
#: said to exist (``truncated``), and the command's tail, where errors are, is kept.
OUTPUT_MAX = 64 * 1024
#: The longest a command may run before it is interrupted (the session stays usable).
COMMAND_TIMEOUT_MAX_S = 3600.0


@dataclass
class Agent:
    dy: Dockyard
    owner: str | None = None  # None: any owner (an admin's server)
    default_owner: str = "agent"
    _sessions: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _visible(self, key: str) -> None:
        self.dy.get(key, owner=self.owner)

    def acquire(
        self, key: str, repo: str | None = None, branch: str | None = None
    ) -> dict[str, Any]:
        try:
            existing = self.dy.get(key)
        except NotFound:
            existing = None
        if existing is not None and self.owner is not None and existing.owner != self.owner:
            raise NotFound(f"no workspace {key!r}")
        result = self.dy.acquire(
            AcquireRequest(
                key=key,
                owner=self.owner,
                default_owner=self.owner or self.default_owner,
                repo=repo,
                branch=branch,
            )
        )
        view = self.dy.status(key)
        return {
            "outcome": result.outcome.value,
            "note": result.note,
            "workspace": _summary(view.to_json()),
        }

    def status(self, key: str) -> dict[str, Any]:
        return _summary(self.dy.status(key, owner=self.owner).to_json())

    def run_command(self, key: str, command: str, timeout_s: float = 120.0) -> dict[str, Any]:
        if not 0 < timeout_s <= COMMAND_TIMEOUT_MAX_S:
            raise InvalidValue(f"timeout_s must be above 0 and at most {COMMAND_TIMEOUT_MAX_S:g}")
        for attempt in (0, 1):
            session = self._session(key, fresh=attempt > 0)
            try:
                result = self.dy.run_command(
                    session, command, timeout_s=timeout_s, owner=self.owner
                )
            except (NotFound, Conflict):
                if attempt == 0 and self._was_closed(session):
                    continue  # closed while idle, or the workspace came back: a new shell
                raise
            output, cut = _tail(result.output)
            return {
                "exit_code": result.exit_code,
                "output": output,
                "truncated": cut or result.truncated,
                "cwd": result.cwd,
                "timed_out": result.timed_out,
                "session_ended": result.session_ended,
            }
        raise AssertionError("unreachable")  # pragma: no cover

    def _session(self, key: str, *, fresh: bool) -> str:
        with self._lock:
            found = None if fresh else self._sessions.get(key)
        if found is not None:
            return found
        opened = self.dy.open_session(
            key, kind=SessionKind.COMMAND, description="mcp", owner=self.owner
        ).id
        with self._lock:
            self._sessions[key] = opened
        return opened

    def _was_closed(self, session: str) -> bool:
        try:
            return not self.dy.session(session, owner=self.owner).live
        except NotFound:
            return True

    def read_file(self, key: str, path: str) -> dict[str, Any]:
        data = self.dy.read_file(key, path, owner=self.owner)
        text, cut = _head(data)
        return {"path": path, "content": text, "size": len(data), "truncated": cut}

    def write_file(
        self, key: str, path: str, content: str, make_dirs: bool = True
    ) -> dict[str, Any]:
        written = self.dy.write_file(
            key, path, content.encode(), parents=make_dirs, owner=self.owner
        )
        return {"path": written.path, "size": written.size}

    def list_dir(self, key: str, path: str) -> dict[str, Any]:
        return self.dy.list_dir(key, path, owner=self.owner).to_json()

    def extend(self, key: str, minutes: float) -> dict[str, Any]:
        if not 0 < minutes <= 24 * 60:
            raise InvalidValue("minutes must be above 0 and at most a day (1440)")
        self._visible(key)
        extension = self.dy.extend(key, by=timedelta(minutes=minutes))
        return {"key": key, "deadline": extension.deadline.isoformat(), "capped": extension.capped}

    def park(self, key: str) -> dict[str, Any]:
        self._visible(key)
        change = self.dy.park(key)
        with self._lock:
            self._sessions.pop(key, None)
        return {"key": key, "state": change.workspace.state.value, "detail": change.detail}


def _summary(view: dict[str, Any]) -> dict[str, Any]:
    """What an agent needs of a workspace, not the whole record."""
    names = ("key", "state", "owner", "image", "idle_for_s", "time_left_s", "deadline")
    return {name: view.get(name) for name in names}


def _tail(data: bytes) -> tuple[str, bool]:
    if len(data) <= OUTPUT_MAX:
        return data.decode(errors="replace"), False
    return "…" + data[-OUTPUT_MAX:].decode(errors="replace"), True


def _head(data: bytes) -> tuple[str, bool]:
    if len(data) <= OUTPUT_MAX:
        return data.decode(errors="replace"), False
    return data[:OUTPUT_MAX].decode(errors="replace") + "…", True
