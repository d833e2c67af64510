"""What ``--repo`` and ``--branch`` mean, decided without touching disk or network.

A repo argument is a URL when git would treat it as one: it has a scheme
(``https://``, ``ssh://``, ``git://``, ``http://``), or it is scp-like
(``git@github.com:org/repo.git``: a colon before any slash, not starting with ``.``
or ``/``). Anything else is a path on the host. URLs are cloned inside the container;
paths are copied in from the host. Credentials embedded in a URL are kept only for the
clone and never shown or stored: ``display`` is the redacted form.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from dataclasses import dataclass

from dockyard.core.errors import InvalidInput

_SCHEMES = ("https", "http", "ssh", "git", "git+ssh", "ssh+git")
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:(?!//)[^\s]+$")
_BAD_BRANCH_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


class RepoKind(enum.StrEnum):
    PATH = "path"
    URL = "url"


@dataclass(frozen=True, slots=True)
class RepoSpec:
    kind: RepoKind
    value: str
    display: str


def parse_repo(text: str) -> RepoSpec:
    """Classify a ``--repo`` argument; raise ``InvalidInput`` for empty or unusable ones."""
    value = text.strip()
    if not value:
        raise InvalidInput("--repo is empty")
    if any(not ch.isprintable() for ch in value):
        raise InvalidInput("--repo contains control characters")
    scheme, sep, _ = value.partition("://")
    if sep:
        if scheme.lower() not in _SCHEMES:
            raise InvalidInput(
                f"--repo {redact(value)!r}: unsupported scheme {scheme!r} "
                f"(use {', '.join(s + '://' for s in _SCHEMES[:4])} or a local path)"
            )
        return RepoSpec(RepoKind.URL, value, redact(value))
    if not value.startswith((".", "/", "~")) and _SCP_LIKE.match(value):
        return RepoSpec(RepoKind.URL, value, redact(value))
    return RepoSpec(RepoKind.PATH, value, value)


def redact(url: str) -> str:
    """``https://user:token@host/x`` -> ``https://***@host/x``; other text unchanged."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))


def validate_branch(branch: str) -> str:
    """Accept what ``git check-ref-format --branch`` accepts (the common rules)."""
    problem = None
    if not branch:
        problem = "it is empty"
    elif len(branch) > 255:
        problem = "longer than 255 characters"
    elif branch.startswith(("-", "/")) or branch.endswith(("/", ".", ".lock")):
        problem = "it starts with '-' or '/', or ends with '/', '.' or '.lock'"
    elif ".." in branch or "@{" in branch or "//" in branch or branch == "@":
        problem = "it contains '..', '@{' or '//'"
    elif _BAD_BRANCH_CHARS.search(branch) or not branch.isprintable():
        problem = "it contains whitespace, a control character or one of ~^:?*[\\"
    elif any(part.startswith(".") for part in branch.split("/")):
        problem = "a path component starts with '.'"
    if problem:
        raise InvalidInput(f"invalid branch name {branch!r}: {problem}")
    return branch
