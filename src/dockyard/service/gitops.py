"""Git inside a workspace's container: the only place dockyard ever runs git on its work.

A repository's hooks and config can run code, so git never runs on the host against a
workspace; inside the container it can do no more than the workspace's owner could.
Every invocation disables hooks, signing and fsmonitor, trusts the directory, and
commits as dockyard; settings go through ``GIT_CONFIG_*`` variables, not the command
line, so they override the repository's own config and need no quoting.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.core.errors import DockyardError
from dockyard.engine.base import Engine, ExecSpec
from dockyard.engine.process import ExecResult, run

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
