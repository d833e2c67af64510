"""``Dockyard``: every use case, one method each, for every front (CLI, API, library).

The fronts reach the store and the engine only through this class (import-linter keeps
it so); each method validates nothing a use case does not validate itself and renders
nothing: it calls the room that does the work. ``owner``, where a method takes it,
scopes the call to that owner's workspaces: to anyone else they do not exist.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from dockyard.core.archives import Listing, PathStat, Uploaded
from dockyard.core.deadlines import idle_deadline
from dockyard.core.errors import DockyardError
from dockyard.core.events import Event
from dockyard.core.gc import GcPlan, GcRequest
from dockyard.core.model import (
    ACTIVE_STATES,
    Checkpoint,
    Session,
    SessionKind,
    SessionStatus,
    State,
    Workspace,
)
from dockyard.core.policy import Policy
from dockyard.engine.models import ContainerInfo, EngineInfo
from dockyard.engine.process import OutputSink
from dockyard.service import engines, tokens
from dockyard.service.engines import DrainReport, EngineView
from dockyard.service.live import closing, commands, terminals
from dockyard.service.live.commands import CommandResult
from dockyard.service.live.terminals import Attachment, Listener
from dockyard.service.probes import (
    LiveUse,
    ResourceUse,
    disk_json,
    disk_sweep,
    live_use,
    resource_sweep,
    resource_use,
)
from dockyard.service.reconcile import gc, passes, stats, wake
from dockyard.service.reconcile.gc import ItemResult
from dockyard.service.reconcile.loop import Reconciler
from dockyard.service.reconcile.passes import PassReport
from dockyard.service.runtime import overrides
from dockyard.service.runtime.context import Clock, Context, Progress, no_progress, system_clock
from dockyard.service.runtime.records import get_workspace
from dockyard.service.tokens import Principal, TokenInfo
from dockyard.service.webhooks import WebhookDeliverer
from dockyard.service.workspaces import activity, execs, files, lifecycle, pool, sessions, views
from dockyard.service.workspaces.acquire import acquire
from dockyard.service.workspaces.activity import Extension
from dockyard.service.workspaces.lifecycle import Change
from dockyard.service.workspaces.requests import AcquireRequest, AcquireResult
from dockyard.service.workspaces.sessions import Usage
from dockyard.service.workspaces.views import WorkspaceView
from dockyard.settings import Settings, load_settings


class Dockyard:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @classmethod
    def open(cls, settings: Settings | None = None, *, clock: Clock = system_clock) -> Dockyard:
        return cls(Context.open(settings or load_settings(), clock=clock))

    def close(self) -> None:
        commands.close_channels()
        terminals.close_terminals()
        self.ctx.close()

    def __enter__(self) -> Dockyard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the installation ---------------------------------------------------------------

    @property
    def installation(self) -> str:
        return self.ctx.installation

    @property
    def settings(self) -> Settings:
        """The settings in force (the configured ones with the fields set at run time)."""
        return self.ctx.settings

    @property
    def policy(self) -> Policy:
        return self.ctx.policy

    @property
    def store_url(self) -> str:
        return self.ctx.store.url

    @property
    def engine_url(self) -> str:
        return self.ctx.engine.url

    def now(self) -> datetime:
        return self.ctx.now()

    def engine_info(self) -> EngineInfo:
        """What the engine says it is; ``EngineUnavailable`` if it does not answer."""
        return self.ctx.engine.ping()

    def health(self) -> dict[str, str]:
        """``ok`` or the reason, for the store and the engine (each engine of a fleet,
        as ``engine:NAME``)."""
        names = self.ctx.engines.names
        probes: list[tuple[str, Callable[[], object]]] = [("store", self.ctx.store.ping)]
        probes += [
            ("engine" if len(names) == 1 else f"engine:{name}", self.ctx.engines.engine(name).ping)
            for name in names
        ]
        checks: dict[str, str] = {}
        for name, probe in probes:
            try:
                probe()
                checks[name] = "ok"
            except DockyardError as exc:
                checks[name] = exc.message
        return checks

    # -- the engines ----------------------------------------------------------------------

    def engines(self, *, ask: bool = True) -> builtins.list[EngineView]:
        """Each engine: health (``ask``: checked now, else as last known), daemon
        identity, draining, load."""
        return engines.list_engines(self.ctx, ask=ask)

    def confirm_engine(self, name: str) -> str:
        """The daemon now answering at engine ``name`` replaces the recorded one."""
        return engines.confirm(self.ctx, name)

    def drain_engine(self, name: str, *, progress: Progress = no_progress) -> DrainReport:
        """No new workspaces on ``name``; its live ones parked (restored elsewhere when
        their work can move)."""
        return engines.drain(self.ctx, name, progress=progress)

    def undrain_engine(self, name: str) -> None:
        engines.undrain(self.ctx, name)

    # -- workspaces -----------------------------------------------------------------------

    def acquire(
        self, request: AcquireRequest, *, progress: Progress = no_progress
    ) -> AcquireResult:
        """Create, reuse, start or restore the workspace for ``request.key``."""
        return acquire(self.ctx, request, progress=progress)

    def get(self, key: str, *, owner: str | None = None) -> Workspace:
        return get_workspace(self.ctx, key, owner=owner)

    def status(
        self, key: str, *, owner: str | None = None, seen: ContainerInfo | None = None
    ) -> WorkspaceView:
        """One workspace's view (``seen``: its container as just seen running)."""
        return views.status(self.ctx, key, owner=owner, seen=seen)

    def list(
        self, *, include_removed: bool = False, owner: str | None = None
    ) -> tuple[builtins.list[WorkspaceView], bool]:
        """Every workspace's view (``owner``'s only, if given), and whether the engine
        answered (if not, container statuses are ``unknown``)."""
        return views.list_views(self.ctx, include_removed=include_removed, owner=owner)

    def keys(self, *, states: Iterable[State]) -> builtins.list[str]:
        """The keys of the workspaces in ``states``."""
        return [ws.key for ws in self.ctx.store.workspaces.list(states=states)]

    def count_sessions(self) -> dict[tuple[SessionKind, SessionStatus], int]:
        """Live sessions by kind and status."""
        live = [SessionStatus.ACTIVE, SessionStatus.DETACHED]
        counts: dict[tuple[SessionKind, SessionStatus], int] = {}
        for session in self.ctx.store.sessions.list(statuses=live):
            counts[session.kind, session.status] = counts.get((session.kind, session.status), 0) + 1
        return counts

    def count_by_state(self) -> dict[State, int]:
        counts = dict.fromkeys(State, 0)
        for ws in self.ctx.store.workspaces.list():
            counts[ws.state] += 1
        return counts

    def deadline(self, ws: Workspace) -> datetime:
        """When ``ws`` becomes idle under its policy, as recorded."""
        return idle_deadline(ws, self.ctx.policy_for(ws))

    def touch(self, key: str, *, owner: str | None = None) -> Workspace:
        """Record activity now (of ``owner``'s workspace only, if given)."""
        return activity.touch(self.ctx, key, owner=owner)

    def touched_recently(self, key: str, *, owner: str | None = None) -> Workspace | None:
        """What ``touch`` would answer if it has nothing to write (no I/O), else None."""
        return activity.touched_recently(self.ctx, key, owner=owner)

    def extend(self, key: str, *, by: timedelta) -> Extension:
        return activity.extend(self.ctx, key, by=by)

    def usage(self, key: str) -> Usage:
        """What is using the workspace now: live sessions and running exec processes."""
        return sessions.usage(self.ctx, get_workspace(self.ctx, key))

    def resources(self, key: str, *, owner: str | None = None) -> ResourceUse:
        """CPU and memory of a running workspace now (None where the engine cannot tell)."""
        return resource_use(self.ctx, key, owner=owner)

    def live_use(self, key: str, *, owner: str | None = None) -> LiveUse:
        """Uptime, CPU and memory of the workspace's container now, best effort (Nones
        when it is not running or the engine does not answer)."""
        return live_use(self.ctx, get_workspace(self.ctx, key, owner=owner))

    def resource_sweep(
        self, *, owner: str | None = None, window_s: float = 0.2
    ) -> dict[str, ResourceUse]:
        """:meth:`resources` of every running workspace (``owner``'s), in one window."""
        running = self.ctx.store.workspaces.list(owner=owner, states=ACTIVE_STATES)
        return resource_sweep(self.ctx, running, window_s=window_s)

    def disk_sweep(
        self, *, owner: str | None = None
    ) -> dict[str, dict[str, float | int | bool | None]]:
        """Disk use of every running workspace (``owner``'s), each measured within a
        bounded time: the flat figures the fronts show (``disk_bytes``, ...)."""
        running = self.ctx.store.workspaces.list(owner=owner, states=ACTIVE_STATES)
        limits = {ws.key: ws.resources.disk_bytes for ws in running}
        found = disk_sweep(self.ctx, running)
        return {key: disk_json(use, limit=limits[key]) for key, use in found.items()}

    def stop(self, key: str, *, force: bool = False) -> Change:
        return lifecycle.stop(self.ctx, key, force=force)

    def park(self, key: str, *, force: bool = False, progress: Progress = no_progress) -> Change:
        return lifecycle.park(self.ctx, key, force=force, progress=progress)

    def remove(self, key: str, *, purge: bool = False, force: bool = False) -> Change:
        return lifecycle.remove(self.ctx, key, purge=purge, force=force)

    def keep(self, key: str, *, keep: bool = True) -> Change:
        return lifecycle.set_keep(self.ctx, key, keep=keep)

    def checkpoints(self, key: str, *, owner: str | None = None) -> builtins.list[Checkpoint]:
        """The workspace's checkpoints, newest first."""
        ws = get_workspace(self.ctx, key, owner=owner)
        return self.ctx.store.checkpoints.list(workspace_key=ws.key)

    def exec(
        self,
        key: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
        tty: bool = False,
        stdin: Iterable[bytes] | None = None,
        on_output: OutputSink | None = None,
        kind: SessionKind = SessionKind.EXEC,
        session: str | None = None,
        on_started: Callable[[str], None] | None = None,
        owner: str | None = None,
    ) -> int:
        """Run a command in a running workspace; returns its exit code. It holds a session
        of its own while it runs, or uses ``session`` (an open session of the workspace).
        ``on_started`` gets the exec id before any input is sent."""
        return execs.exec_in(
            self.ctx,
            key,
            argv,
            env=env,
            workdir=workdir,
            tty=tty,
            stdin=stdin,
            on_output=on_output,
            kind=kind,
            session=session,
            on_started=on_started,
            owner=owner,
        )

    # -- files --------------------------------------------------------------------------

    def stat_path(
        self, key: str, path: str, *, follow: bool = False, owner: str | None = None
    ) -> PathStat | None:
        """What ``path`` is in the running workspace ``key`` (``follow``: what its links
        lead to), or None if nothing is there."""
        return files.stat(self.ctx, key, path, follow=follow, owner=owner)

    def list_dir(self, key: str, path: str, *, owner: str | None = None) -> Listing:
        return files.list_dir(self.ctx, key, path, owner=owner)

    def download(
        self, key: str, path: str, *, owner: str | None = None
    ) -> AbstractContextManager[Iterator[bytes]]:
        """A tar stream of ``path`` (a file or a directory), named by its last component."""
        return files.download(self.ctx, key, path, owner=owner)

    def read_file(self, key: str, path: str, *, owner: str | None = None) -> bytes:
        return files.read_file(self.ctx, key, path, owner=owner)

    def upload(
        self, key: str, directory: str, chunks: Iterable[bytes], *, owner: str | None = None
    ) -> Uploaded:
        """Extract a tar archive into an existing directory of the workspace."""
        return files.upload(self.ctx, key, directory, chunks, owner=owner)

    def write_file(
        self,
        key: str,
        path: str,
        data: bytes,
        *,
        mode: int = 0o644,
        parents: bool = False,
        owner: str | None = None,
    ) -> Uploaded:
        return files.write_file(self.ctx, key, path, data, mode=mode, parents=parents, owner=owner)

    def resize_exec(self, key: str, exec_id: str, *, rows: int, cols: int) -> None:
        """Set the terminal size of a running tty exec in workspace ``key``."""
        execs.resize_exec(self.ctx, key, exec_id, rows=rows, cols=cols)

    # -- sessions -------------------------------------------------------------------------

    def open_session(
        self, key: str, *, kind: SessionKind, description: str = "", owner: str | None = None
    ) -> Session:
        """Open a session (activity); ``QuotaExceeded`` at the workspace's session limit.
        A ``command`` session's shell starts now; a ``shell`` session's at its first
        attach (``attach_terminal``)."""
        if kind is SessionKind.COMMAND:
            return commands.open_command_session(
                self.ctx, key, description=description, owner=owner
            )
        return sessions.open_for(self.ctx, key, kind=kind, description=description, owner=owner)

    def run_command(
        self,
        session_id: str,
        command: str,
        *,
        timeout_s: float | None = None,
        on_output: Callable[[bytes], None] | None = None,
        owner: str | None = None,
    ) -> CommandResult:
        """Run ``command`` in a ``command`` session: its output, exit code and working
        directory after it (``on_output``: the output as it comes instead)."""
        return commands.run_command(
            self.ctx, session_id, command, timeout_s=timeout_s, on_output=on_output, owner=owner
        )

    def command_session(self, session_id: str, *, owner: str | None = None) -> Session:
        """The live ``command`` session ``session_id`` of a running workspace; the same
        errors a command in it would meet first (a front checks before it streams)."""
        return sessions.live_session(self.ctx, session_id, SessionKind.COMMAND, owner=owner)[0]

    def interrupt_command(self, session_id: str, *, owner: str | None = None) -> bool:
        """Interrupt the command running in a ``command`` session (as its timeout
        would); whether one was running."""
        return commands.interrupt_command(self.ctx, session_id, owner=owner)

    def attach_terminal(
        self,
        session_id: str,
        listener: Listener,
        *,
        size: tuple[int, int] = (24, 80),
        owner: str | None = None,
    ) -> Attachment:
        """Attach ``listener`` to a ``shell`` session's terminal, starting its shell if
        this process holds none (a first attach, or one after a restart): the recent
        output to repaint with comes back with it."""
        return terminals.attach_terminal(self.ctx, session_id, listener, size=size, owner=owner)

    def terminal_input(self, attachment: Attachment, data: bytes) -> None:
        terminals.terminal_input(attachment, data)

    def resize_terminal(self, attachment: Attachment, *, rows: int, cols: int) -> None:
        terminals.resize_terminal(attachment, rows, cols)

    def detach_terminal(self, attachment: Attachment, listener: Listener) -> None:
        terminals.detach_terminal(attachment, listener)

    def sessions(self, key: str, *, owner: str | None = None) -> builtins.list[Session]:
        ws = get_workspace(self.ctx, key, owner=owner)
        return self.ctx.store.sessions.list(workspace_key=ws.key)

    def session(self, session_id: str, *, owner: str | None = None) -> Session:
        return sessions.find_session(self.ctx, session_id, owner=owner)

    def use_session(self, session_id: str, *, owner: str | None = None) -> Session:
        """Record a use (activity); a detached session is attached again."""
        found = sessions.find_session(self.ctx, session_id, owner=owner)
        ws = get_workspace(self.ctx, found.workspace_key)
        sessions.use_session(self.ctx, ws, found.id)
        return self.ctx.store.sessions.get(found.id) or found

    def close_session(self, session_id: str, *, owner: str | None = None) -> Session:
        found = sessions.find_session(self.ctx, session_id, owner=owner)
        return closing.close_session(self.ctx, found)

    # -- cleanup --------------------------------------------------------------------------

    def clean(self, *, dry_run: bool = False) -> PassReport:
        """One reconcile pass now; with ``dry_run`` only the plan."""
        return passes.run_pass(self.ctx, dry_run=dry_run)

    def wake_reconcilers(self) -> None:
        """Something changed: wake the reconcile loops on this data directory and, on
        PostgreSQL, those of every replica (best effort)."""
        wake.notify(self.ctx.settings.data_dir, self.ctx.store, sender=self.ctx.holder)

    def reconciler(self, *, on_pass: Callable[[PassReport], None] | None = None) -> Reconciler:
        """A reconcile loop on this service's context; ``run()`` it in a thread."""
        return Reconciler(self.ctx, on_pass=on_pass)

    def gc_plan(self, request: GcRequest) -> GcPlan:
        """What ``gc`` would remove now, and why (changes nothing)."""
        return gc.plan(self.ctx, request)

    def gc_apply(
        self, plan: GcPlan, *, progress: Progress = no_progress
    ) -> builtins.list[ItemResult]:
        """Remove exactly ``plan``'s items, each re-checked first."""
        return gc.apply(self.ctx, plan, progress=progress)

    def pool(self) -> dict[str, Any]:
        """The warm pool: what is wanted of each image, and the ready members."""
        return pool.summary(self.ctx)

    def stats(self) -> dict[str, Any]:
        """Configuration, counts, sessions and what is pending cleanup, with reasons."""
        return stats.stats(self.ctx)

    # -- policy set at run time -----------------------------------------------------------

    def change_policy(
        self,
        *,
        policy: Mapping[str, Any] | None = None,
        reconciler: Mapping[str, Any] | None = None,
    ) -> None:
        """Validate, store and put in force partial changes (all or nothing)."""
        self.ctx.change_settings(policy=policy, reconciler=reconciler)

    def reset_policy(self) -> None:
        """Forget the fields set at run time: the settings file is in force again."""
        self.ctx.reset_settings()

    def overridden(self) -> builtins.list[str]:
        """The fields set at run time (``reconciler.`` before the loop's)."""
        return overrides.overridden(self.ctx.store, self.ctx.configured)

    def reconciler_enabled(self) -> bool:
        return overrides.reconciler_enabled(self.ctx.store)

    def set_reconciler_enabled(self, enabled: bool) -> None:
        overrides.set_reconciler_enabled(self.ctx.store, enabled)

    # -- tokens ---------------------------------------------------------------------------

    def create_token(self, *, owner: str | None, description: str = "") -> tuple[str, str]:
        """Make a token for ``owner`` (None: admin); ``(id, token)``, the token shown once."""
        return tokens.create_token(
            self.ctx.store, owner=owner, description=description, at=self.ctx.now()
        )

    def tokens(self) -> builtins.list[TokenInfo]:
        return tokens.list_tokens(self.ctx.store)

    def revoke_token(self, token_id: str) -> None:
        tokens.revoke(self.ctx.store, token_id)

    def principal(self, digest: str, *, admin_hash: str | None) -> Principal:
        """Who the token with this hash acts for; ``Unauthorized`` if nobody."""
        found = tokens.admin_principal(digest, admin_hash=admin_hash)
        return found or tokens.stored_principal(self.ctx.store, digest)

    # -- events ---------------------------------------------------------------------------

    def events(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        workspace: str | None = None,
        owner: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Event rows after the id ``after``, oldest first."""
        return self.ctx.store.events.list(
            after_id=after, limit=limit, workspace_key=workspace, owner=owner
        )

    def last_events(
        self, count: int, *, workspace: str | None = None, owner: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The newest ``count`` event rows, oldest first."""
        return self.ctx.store.events.last(count, workspace_key=workspace, owner=owner)

    def latest_event_id(self) -> int:
        return self.ctx.store.events.latest_id()

    def subscribe(self, sink: Callable[[Event], None]) -> Callable[[], None]:
        """Hear every event this process publishes; returns the unsubscribe."""
        return self.ctx.bus.subscribe(sink)

    def webhooks(self) -> WebhookDeliverer:
        """The deliverer of the configured webhooks (``start()`` it)."""
        return WebhookDeliverer(self.ctx, self.ctx.settings.api.webhooks)
