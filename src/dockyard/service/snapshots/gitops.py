"""Git inside a workspace's container: the only place dockyard ever runs git on its work.

The scripts below, and the steps of saving and restoring built on them: stage and
describe (``prepare``), the checkpoint commit (with the bundle export in the same exec),
and bringing the work to a saved commit (``reset_to``).

A repository's hooks and config can run code, so git never runs on the host against a
workspace; inside the container it can do no more than the workspace's owner could.
Every invocation disables hooks, signing and fsmonitor, trusts the directory, and
commits as dockyard; settings go through ``GIT_CONFIG_*`` variables, not the command
line, so they override the repository's own config and need no quoting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.core.checkpoints import commit_message, is_sha, parse_fields
from dockyard.core.errors import DockyardError, RestoreFailed, SaveFailed
from dockyard.core.model import Checkpoint, Workspace
from dockyard.engine.base import Engine, ExecSpec
from dockyard.engine.process import ExecResult, run
from dockyard.service.runtime.context import Context, Progress

STEP_COMMIT = "saving: committing the changes"
STEP_COMMITTED = "saving: committed"

_CONFIG = {
    "core.hooksPath": "/dev/null",
    "safe.directory": "*",
    "commit.gpgSign": "false",
    "tag.gpgSign": "false",
    "core.fsmonitor": "false",
    "gc.auto": "0",
    "advice.detachedHead": "false",
}

GIT_ENV: Mapping[str, str] = {
    "GIT_CONFIG_COUNT": str(len(_CONFIG)),
    **{f"GIT_CONFIG_KEY_{i}": key for i, key in enumerate(_CONFIG)},
    **{f"GIT_CONFIG_VALUE_{i}": value for i, value in enumerate(_CONFIG.values())},
    "GIT_AUTHOR_NAME": "dockyard",
    "GIT_AUTHOR_EMAIL": "dockyard@localhost",
    "GIT_COMMITTER_NAME": "dockyard",
    "GIT_COMMITTER_EMAIL": "dockyard@localhost",
    "GIT_TERMINAL_PROMPT": "0",
}

#: Stage everything and describe the repository. Prints key=value lines.
PREPARE = r"""
set -e
cd "$DOCKYARD_WORKDIR"
if [ ! -d .git ]; then
  if [ "$DOCKYARD_INIT" != 1 ]; then echo repo=no; exit 0; fi
  git init -q
fi
echo repo=yes
git add -A
names=$(git diff --cached --name-only)
files=0
[ -z "$names" ] || files=$(printf '%s\n' "$names" | wc -l)
echo "files=$files"
echo "head=$(git rev-parse -q --verify HEAD || true)"
echo "branch=$(git symbolic-ref -q --short HEAD || true)"
"""

#: Commit what PREPARE staged; prints the new commit.
COMMIT = r"""
set -e
cd "$DOCKYARD_WORKDIR"
git commit -q --no-verify -m "$DOCKYARD_MESSAGE"
echo "head=$(git rev-parse HEAD)"
"""

#: Where save and restore put a bundle inside the container (its own /tmp, not the host's).
BUNDLE_DIR = "/tmp"  # noqa: S108

#: Bundle the whole history, check it, print its checksum.
EXPORT = r"""
set -e
cd "$DOCKYARD_WORKDIR"
git bundle create -q "$DOCKYARD_BUNDLE" --all
if ! git bundle verify -q "$DOCKYARD_BUNDLE" >/dev/null 2>&1; then
  echo "git bundle verify failed" >&2; exit 1
fi
echo "sha256=$(sha256sum "$DOCKYARD_BUNDLE" | cut -d' ' -f1)"
"""

#: Bring the work to a saved commit, importing a bundle first if one is given.
RESTORE = r"""
set -e
cd "$DOCKYARD_WORKDIR"
[ -d .git ] || git init -q
if [ -n "$DOCKYARD_BUNDLE" ]; then
  if ! git bundle verify -q "$DOCKYARD_BUNDLE" >/dev/null 2>&1; then
    echo "the git bundle is damaged" >&2; exit 1
  fi
  git fetch -q --update-head-ok "$DOCKYARD_BUNDLE" \
    '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' '+HEAD:refs/dockyard/restore'
fi
if [ -n "$DOCKYARD_BRANCH" ]; then
  git symbolic-ref HEAD "refs/heads/$DOCKYARD_BRANCH"
else
  git update-ref --no-deref HEAD "$DOCKYARD_COMMIT"
fi
git reset -q --hard "$DOCKYARD_COMMIT"
git update-ref -d refs/dockyard/restore 2>/dev/null || true
[ -z "$DOCKYARD_BUNDLE" ] || rm -f "$DOCKYARD_BUNDLE"
"""


def run_script(
    engine: Engine, container: str, script: str, *, workdir: str, env: Mapping[str, str]
) -> ExecResult:
    """Run one of the scripts above in ``container``; engine failures propagate."""
    return run(
        engine,
        ref=container,
        spec=ExecSpec(
            argv=["sh", "-c", script],
            env={**GIT_ENV, "DOCKYARD_WORKDIR": workdir, **env},
            workdir=workdir,
        ),
    )


def error_line(result: ExecResult) -> str:
    """Git's own reason (its first ``fatal:``/``error:`` line), else the last line."""
    for line in result.stderr.decode(errors="replace").splitlines():
        if line.startswith(("fatal: ", "error: ")):
            return line.split(": ", 1)[1].strip()[:300]
    return result.last_error_line()


def remove_file(engine: Engine, container: str, path: str) -> None:
    """Best effort: a temporary file left in a container that is about to go is harmless."""
    try:
        run(engine, ref=container, spec=ExecSpec(argv=["rm", "-f", path]))
    except DockyardError:
        return


# -- the steps of saving and restoring ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GitState:
    """What ``prepare`` found: a repository (or not), files staged, HEAD and branch."""

    is_repo: bool
    files: int = 0
    head: str | None = None
    branch: str | None = None


def step(
    ctx: Context, container: str, script: str, *, what: str, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Run a script of this module; the ``key=value`` lines it printed. ``SaveFailed``
    with git's own reason if it failed."""
    result = run_script(
        ctx.engine, container, script, workdir=ctx.settings.workspace.workdir, env=env or {}
    )
    if not result.ok:
        raise SaveFailed(f"{what} failed: {error_line(result)}")
    return parse_fields(result.stdout.decode(errors="replace"))


def prepare(ctx: Context, container: str, *, init: bool) -> GitState:
    """Stage everything (``init``: make a repository if there is none) and describe it."""
    fields = step(
        ctx, container, PREPARE, what="git add", env={"DOCKYARD_INIT": "1" if init else "0"}
    )
    if fields.get("repo") != "yes":
        return GitState(is_repo=False)
    head = fields.get("head") or None
    return GitState(
        is_repo=True,
        files=int(fields.get("files", "0") or 0),
        head=head if head and is_sha(head) else None,
        branch=fields.get("branch") or None,
    )


def checkpoint_commit(
    ctx: Context,
    ws: Workspace,
    container: str,
    state: GitState,
    progress: Progress,
    *,
    bundle: str | None = None,
) -> tuple[str | None, str | None]:
    """Commit what is staged, if anything (a clean tree makes no empty commit), and with
    ``bundle`` bundle the whole history there too, in the same exec. Returns the commit
    the work is at (None: an empty repository) and the bundle's checksum."""
    env: dict[str, str] = {}
    steps: dict[str, str] = {}  # what -> its script
    if state.files:
        progress(STEP_COMMIT)
        env["DOCKYARD_MESSAGE"] = commit_message(ws.key, at=ctx.now(), files_changed=state.files)
        steps["git commit"] = COMMIT
    if bundle is not None and (state.files or state.head):
        env["DOCKYARD_BUNDLE"] = bundle
        steps["git bundle"] = EXPORT
    if not steps:
        return state.head, None
    fields = step(ctx, container, "\n".join(steps.values()), what=" and ".join(steps), env=env)
    head = state.head
    if state.files:
        head = fields.get("head", "")
        if not is_sha(head):
            raise SaveFailed(f"git commit printed no commit id (got {head[:40]!r})")
        progress(STEP_COMMITTED)
    return head, fields.get("sha256")


def reset_to(ctx: Context, container: str, checkpoint: Checkpoint, *, bundle: str) -> None:
    """Bring the work to the checkpoint's commit (importing ``bundle`` first, if given);
    ``RestoreFailed`` with git's reason if it cannot."""
    result = run_script(
        ctx.engine,
        container,
        RESTORE,
        workdir=ctx.settings.workspace.workdir,
        env={
            "DOCKYARD_BUNDLE": bundle,
            "DOCKYARD_COMMIT": checkpoint.commit or "",
            "DOCKYARD_BRANCH": checkpoint.branch or "",
        },
    )
    if not result.ok:
        raise RestoreFailed(
            f"checkpoint {checkpoint.id}: git could not restore it: {error_line(result)}"
        )
