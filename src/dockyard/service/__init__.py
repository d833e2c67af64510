"""Use cases: what dockyard does, independent of how it was asked (CLI, HTTP, library).

``Dockyard`` is the library entry point; each method is one use case from the modules
of this package, which the CLI and the API call the same way::

    from dockyard.service import Dockyard, AcquireRequest
    with Dockyard.open() as dy:
        result = dy.acquire(AcquireRequest(key="user:42", owner="42"))
        code = dy.exec("user:42", ["git", "status"])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from types import TracebackType

from dockyard.core.gc import GcPlan, GcRequest
from dockyard.core.model import Checkpoint, SessionKind, Workspace
from dockyard.engine.process import OutputSink
from dockyard.service import activity, checkpoints, gc, lifecycle, reconciler, views
from dockyard.service.acquire import AcquireRequest, AcquireResult, acquire
from dockyard.service.activity import Extension, Usage
from dockyard.service.context import Clock, Context, Progress, no_progress, system_clock
from dockyard.service.gc import ItemResult
from dockyard.service.lifecycle import Change
from dockyard.service.reconciler import PassReport, Reconciler
from dockyard.service.views import WorkspaceView
from dockyard.settings import Settings, load_settings

__all__ = [
    "AcquireRequest",
    "AcquireResult",
    "Change",
    "Context",
    "Dockyard",
    "Extension",
    "PassReport",
    "Reconciler",
    "Usage",
    "WorkspaceView",
]


class Dockyard:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @classmethod
    def open(cls, settings: Settings | None = None, *, clock: Clock = system_clock) -> Dockyard:
        return cls(Context.open(settings or load_settings(), clock=clock))

    def close(self) -> None:
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

    def acquire(
        self, request: AcquireRequest, *, progress: Progress = no_progress
    ) -> AcquireResult:
        """Create, reuse, start or restore the workspace for ``request.key``."""
        return acquire(self.ctx, request, progress=progress)

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
    ) -> int:
        """Run a command in a running workspace; returns its exit code. It holds a session
        of its own while it runs, or uses ``session`` (an open session of the workspace).
        ``on_started`` gets the exec id before any input is sent."""
        return activity.exec_in(
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
        )

    def resize_exec(self, exec_id: str, *, rows: int, cols: int) -> None:
        """Set the terminal size of a running tty exec."""
        activity.resize_exec(self.ctx, exec_id, rows=rows, cols=cols)

    def touch(self, key: str, *, owner: str | None = None) -> Workspace:
        """Record activity now (of ``owner``'s workspace only, if given)."""
        return activity.touch(self.ctx, key, owner=owner)

    def extend(self, key: str, *, by: timedelta) -> Extension:
        return activity.extend(self.ctx, key, by=by)

    def usage(self, key: str) -> Usage:
        return activity.usage(self.ctx, activity.get_workspace(self.ctx, key))

    def stop(self, key: str, *, force: bool = False) -> Change:
        return lifecycle.stop(self.ctx, key, force=force)

    def park(self, key: str, *, force: bool = False, progress: Progress = no_progress) -> Change:
        return lifecycle.park(self.ctx, key, force=force, progress=progress)

    def checkpoints(self, key: str) -> list[Checkpoint]:
        """The workspace's checkpoints, newest first."""
        return checkpoints.list_checkpoints(self.ctx, activity.get_workspace(self.ctx, key).key)

    def gc_plan(self, request: GcRequest) -> GcPlan:
        """What ``gc`` would remove now, and why (changes nothing)."""
        return gc.plan(self.ctx, request)

    def gc_apply(self, plan: GcPlan, *, progress: Progress = no_progress) -> list[ItemResult]:
        """Remove exactly ``plan``'s items, each re-checked first."""
        return gc.apply(self.ctx, plan, progress=progress)

    def remove(self, key: str, *, purge: bool = False, force: bool = False) -> Change:
        return lifecycle.remove(self.ctx, key, purge=purge, force=force)

    def keep(self, key: str, *, keep: bool = True) -> Change:
        return lifecycle.set_keep(self.ctx, key, keep=keep)

    def clean(self, *, dry_run: bool = False) -> PassReport:
        """One reconcile pass now; with ``dry_run`` only the plan."""
        return reconciler.run_pass(self.ctx, dry_run=dry_run)

    def reconciler(self, *, on_pass: Callable[[PassReport], None] | None = None) -> Reconciler:
        """A reconcile loop on this service's context; ``run()`` it in a thread."""
        return Reconciler(self.ctx, on_pass=on_pass)

    def get(self, key: str) -> Workspace:
        return activity.get_workspace(self.ctx, key)

    def status(self, key: str) -> WorkspaceView:
        return views.status(self.ctx, key)

    def list(
        self, *, include_removed: bool = False, owner: str | None = None
    ) -> tuple[list[WorkspaceView], bool]:
        return views.list_views(self.ctx, include_removed=include_removed, owner=owner)
