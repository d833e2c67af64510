"""Workspace keys, engine object names and ownership labels, in one pure module.

A *key* is whatever the caller already knows (``john@example.com-my-react-app``,
``user:42``, ``myapp@feature/auth``). Engines accept a much smaller alphabet for names,
so a name is built from a readable part and a hash:

    dy-<slug>-<hash>          e.g. dy-my-react-app-auth-k3xq7b2m

- ``slug`` comes from the repository's last path segment plus the branch leaf when a
  repository is given, otherwise from the key; lowercased, runs of anything outside
  ``[a-z0-9]`` collapsed to one ``-``, cut to ``SLUG_MAX`` characters. It is there for
  people reading ``docker ps``; it is not unique (``a/b`` and ``a-b`` share a slug).
- ``hash`` is 8 base32 characters (40 bits) of SHA-256 over the installation id and the
  full key. It makes the name unique per key, and different per installation, so two
  installations sharing one engine never collide on a name, even for the same key.

Names are computed once, when a workspace is first created, and stored with its record;
later calls use the stored name, so a changed repo flag never renames a workspace.

Labels live in the reserved ``dockyard.`` namespace; user labels may not use it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.core.errors import InvalidInput, InvalidKey

KEY_MAX = 128
OWNER_MAX = 128
SLUG_MAX = 24
HASH_LEN = 8
NAME_PREFIX = "dy-"

LABEL_NAMESPACE = "dockyard."
LABEL_MANAGED = "dockyard.managed"
LABEL_INSTALLATION = "dockyard.installation"
LABEL_WORKSPACE = "dockyard.workspace"
LABEL_OWNER = "dockyard.owner"
LABEL_KEEP = "dockyard.keep"
LABEL_ROLE = "dockyard.role"

_USER_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Names:
    """The engine object names of one workspace."""

    container: str
    volume: str


def validate_key(key: str) -> str:
    """Return ``key`` if it is usable as a workspace key, else raise ``InvalidKey``."""
    return _validate_identifier(key, what="workspace key", limit=KEY_MAX, error=InvalidKey)


#: The last segments of the API's routes below ``/workspaces/{key}``: a key may not end
#: in one, or ``a/touch`` would be the touch of ``a`` (a test holds it to the routes).
ROUTE_SUFFIXES = frozenset(
    {
        *("touch", "extend", "park", "keep", "unkeep", "resources", "checkpoints", "exec"),
        *("sessions", "stat", "files", "archive", "file"),
    }
)


def validate_new_key(key: str) -> str:
    """``validate_key``, and a key an URL can name: ``/`` separates segments that are
    not empty, ``.`` or ``..`` (clients and proxies rewrite those), and the last is not a
    route's (``ROUTE_SUFFIXES``). Asked of keys being created; keys made before this
    rule stay usable by name."""
    validate_key(key)
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            shown = "an empty segment" if not segment else f"a segment {segment!r}"
            raise InvalidKey(f"invalid workspace key {key!r}: {shown} (between slashes)")
    if len(segments) > 1 and segments[-1] in ROUTE_SUFFIXES:
        raise InvalidKey(
            f"invalid workspace key {key!r}: it may not end in /{segments[-1]} "
            "(the API's route of that name)"
        )
    return key


def validate_owner(owner: str) -> str:
    """Return ``owner`` if it is usable as an owner id, else raise ``InvalidInput``."""
    return _validate_identifier(owner, what="owner", limit=OWNER_MAX, error=InvalidInput)


def _validate_identifier(value: str, *, what: str, limit: int, error: type[InvalidInput]) -> str:
    if not value:
        raise error(f"invalid {what}: it is empty")
    if len(value) > limit:
        raise error(f"invalid {what}: {len(value)} characters, the limit is {limit}")
    for index, char in enumerate(value):
        if not char.isprintable():
            raise error(f"invalid {what}: control character {char!r} at position {index}")
        if char.isspace():
            raise error(f"invalid {what}: whitespace at position {index}")
    return value


def slugify(text: str, *, limit: int = SLUG_MAX) -> str:
    """Lowercase ``[a-z0-9-]`` form of ``text``, at most ``limit`` characters, maybe empty."""
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    return slug[:limit].rstrip("-")


def repo_leaf(repo: str) -> str:
    """The last path segment of a repository path or URL, without ``.git``."""
    trimmed = repo.rstrip("/")
    leaf = re.split(r"[/:\\]", trimmed)[-1]
    return leaf.removesuffix(".git")


def key_hash(key: str, *, installation: str) -> str:
    digest = hashlib.sha256(f"{installation}\n{key}".encode()).digest()
    return base64.b32encode(digest).decode().lower()[:HASH_LEN]


def workspace_names(
    key: str, *, installation: str, repo: str | None = None, branch: str | None = None
) -> Names:
    """Deterministic container and volume names for a workspace."""
    readable = repo_leaf(repo) if repo else key
    if repo and branch:
        readable = f"{readable}-{branch.rstrip('/').rsplit('/', 1)[-1]}"
    slug = slugify(readable) or "ws"
    base = f"{NAME_PREFIX}{slug}-{key_hash(key, installation=installation)}"
    return Names(container=base, volume=f"{base}-work")


#: An image reference as the engine takes it: ``[registry[:port]/]path[:tag][@digest]``,
#: or an image id.
_IMAGE_REF = re.compile(
    r"(?:(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?/"
    r"|[A-Za-z0-9-]+:[0-9]{1,5}/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
    r"|sha256:[0-9a-f]{64}"
)


def validate_image(ref: str) -> str:
    """Return ``ref`` if it is an image reference (``myorg/agent:1.2``), else say why."""
    if len(ref) > 512 or not _IMAGE_REF.fullmatch(ref):
        raise InvalidInput(
            f"invalid image reference {ref[:80]!r}: expected [registry/]name[:tag][@digest] "
            "in lowercase, e.g. myorg/agent:1.2"
        )
    return ref


def owner_network_name(owner: str, *, installation: str) -> str:
    """The bridge network an owner's workspaces share, and no one else's:
    ``dy-net-<slug>-<hash>``, the hash over the installation and the owner (a NUL in
    front, which no key has, keeps it apart from every workspace's hash)."""
    slug = slugify(owner, limit=16) or "owner"
    return f"{NAME_PREFIX}net-{slug}-{key_hash(chr(0) + owner, installation=installation)}"


def network_labels(*, installation: str, owner: str) -> dict[str, str]:
    """The reserved labels of an owner's network."""
    return {
        LABEL_MANAGED: "true",
        LABEL_INSTALLATION: installation,
        LABEL_OWNER: owner,
        LABEL_ROLE: "network",
    }


def ownership_labels(
    *, installation: str, key: str, owner: str, keep: bool, role: str = "workspace"
) -> dict[str, str]:
    """The reserved labels every engine object of a workspace carries."""
    return {
        LABEL_MANAGED: "true",
        LABEL_INSTALLATION: installation,
        LABEL_WORKSPACE: key,
        LABEL_OWNER: owner,
        LABEL_KEEP: "true" if keep else "false",
        LABEL_ROLE: role,
    }


def validate_user_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Check labels supplied by a user: sane keys, printable values, no reserved namespace."""
    checked: dict[str, str] = {}
    for key, value in labels.items():
        if key.startswith(LABEL_NAMESPACE):
            raise InvalidInput(f"label {key!r} uses the reserved namespace {LABEL_NAMESPACE!r}")
        if not _USER_LABEL_KEY.fullmatch(key):
            raise InvalidInput(
                f"label key {key!r} must be 1-128 characters of letters, digits, '._/-'"
            )
        if len(value) > 1024 or not value.isprintable():
            raise InvalidInput(f"label {key!r}: value must be printable, at most 1024 characters")
        checked[key] = value
    return checked


def is_truthy_label(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"1", "true", "yes", "on"}
