"""Putting a repository into a new workspace: copy a local one, or clone a URL inside.

Local repositories are streamed into the container as a tar archive (no network, no
git on the host: a repository's hooks and config can run code, so git only ever runs
inside the container). Files arrive owned by root, as the container's user expects.
URLs are cloned by git inside the container; the URL travels in an environment
variable, not the command line, because the engine's event stream publishes command
lines and a URL may carry a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dockyard.archives import tar_stream
from dockyard.core.errors import InvalidInput, ProvisionFailed
from dockyard.core.repos import RepoKind, RepoSpec
from dockyard.engine.base import Engine, ExecSpec
from dockyard.engine.process import run
from dockyard.service.runtime.context import Progress

GIT_SAFE = ("-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false")


@dataclass(frozen=True, slots=True)
class Source:
    """A validated repo argument: a local repository directory, or a URL."""

    spec: RepoSpec
    path: Path | None = None


def check_source(spec: RepoSpec, *, cwd: Path | None = None) -> Source:
    """Validate a repo argument before anything is created; local paths must be git repos."""
    if spec.kind is RepoKind.URL:
        return Source(spec)
    path = Path(spec.value).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    path = path.resolve()
    if not path.exists():
        raise InvalidInput(f"--repo {spec.value}: no such directory")
    if not path.is_dir():
        raise InvalidInput(f"--repo {spec.value}: not a directory")
    git = path / ".git"
    if git.is_file():
        raise InvalidInput(
            f"--repo {spec.value}: is a git worktree or submodule (.git is a file); "
            "pass the main repository instead"
        )
    if not git.is_dir():
        raise InvalidInput(f"--repo {spec.value}: not a git repository (no .git directory)")
    return Source(spec, path)


def provision(
    engine: Engine,
    *,
    container: str,
    workdir: str,
    source: Source,
    branch: str | None,
    progress: Progress,
) -> None:
    """Fill ``workdir`` of a running container from ``source`` and check out ``branch``."""
    if source.path is not None:
        progress(f"copying {source.spec.display} into the workspace")
        engine.put_archive(ref=container, path=workdir, data=tar_stream(source.path, progress))
        if branch:
            progress(f"checking out {branch}")
            _git(engine, container, workdir, ["checkout", "--quiet", branch], what="checkout")
        return
    progress(f"cloning {source.spec.display}")
    argv = ["git", *GIT_SAFE, "clone", "--quiet"]
    if branch:
        argv += ["--branch", branch]
    script = " ".join(_quote(a) for a in argv) + ' -- "$DOCKYARD_REPO_URL" .'
    result = run(
        engine,
        ref=container,
        spec=ExecSpec(
            argv=["sh", "-c", script],
            env={"DOCKYARD_REPO_URL": source.spec.value, "GIT_TERMINAL_PROMPT": "0"},
            workdir=workdir,
        ),
    )
    if not result.ok:
        detail = result.last_error_line().replace(source.spec.value, source.spec.display)
        raise ProvisionFailed(f"clone of {source.spec.display} failed: {detail}")


def _git(engine: Engine, container: str, workdir: str, args: list[str], *, what: str) -> None:
    result = run(
        engine,
        ref=container,
        spec=ExecSpec(argv=["git", *GIT_SAFE, *args], workdir=workdir),
    )
    if not result.ok:
        raise ProvisionFailed(f"git {what} in the workspace failed: {result.last_error_line()}")


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\"'\"'") + "'"
