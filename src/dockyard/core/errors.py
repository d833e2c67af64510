"""The one error tree of dockyard.

Every failure a user can meet is one of these, with a stable ``code`` (for JSON and the
HTTP API) and an ``exit_code`` (for the CLI). Foreign exceptions (sockets, HTTP, SQL) are
translated into this tree in exactly one place each: the engine adapter and the store.
Messages are one line, name the thing that failed, and never carry request bodies,
environments or tokens.

    DockyardError
    ├── InvalidInput            bad key, value, path, setting          exit 2
    │   ├── InvalidValue        out of its bounds (HTTP 422)
    │   │   └── TooLarge        over a size cap (HTTP 413)
    │   ├── InvalidKey
    │   └── SettingsError       names the key path (policy.rules[2].idle_timeout)
    ├── Unauthorized            no token, or an unknown one             exit 2
    ├── NotFound                no such workspace, image, container     exit 3
    │   └── NoSuchPath          no such path inside a workspace
    ├── Conflict                the state forbids it now                exit 4
    │   ├── IllegalTransition
    │   ├── Refused             needs --force / a terminal to confirm
    │   └── Busy                another process holds the workspace
    ├── Forbidden               the token may not do this (admin only)  exit 4
    ├── QuotaExceeded           per-owner / per-workspace limits        exit 5
    ├── Unavailable             cannot reach a dependency               exit 6
    │   ├── EngineUnavailable
    │   └── StoreUnavailable
    └── OperationFailed         a step ran and failed                   exit 1
        ├── EngineError         the engine answered with an error
        ├── StoreError
        ├── ProvisionFailed     clone / copy / checkout inside the container
        └── DiskError           a workspace's own file system (a loop device)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def describe_validation(errors: Sequence[Mapping[str, Any]]) -> str:
    """Validation errors (pydantic's shape) as one line: ``key.path: what; ...``."""
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


class DockyardError(Exception):
    """Base of every error dockyard raises on purpose."""

    code: str = "error"
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(DockyardError):
    code = "invalid_input"
    exit_code = 2


class InvalidValue(InvalidInput):
    """A well-formed request with a value outside what it may be (HTTP 422)."""

    code = "invalid_value"


class TooLarge(InvalidValue):
    """More bytes than a cap allows (an upload, a download, a file read whole)."""

    code = "too_large"


class InvalidKey(InvalidInput):
    code = "invalid_key"


class SettingsError(InvalidInput):
    code = "invalid_settings"


class Unauthorized(DockyardError):
    code = "unauthorized"
    exit_code = 2


class Forbidden(DockyardError):
    code = "forbidden"
    exit_code = 4


class NotFound(DockyardError):
    code = "not_found"
    exit_code = 3


class NoSuchPath(NotFound):
    """Nothing at a path inside a (running) workspace: the workspace itself exists."""

    code = "no_such_path"


class Conflict(DockyardError):
    code = "conflict"
    exit_code = 4


class IllegalTransition(Conflict):
    code = "illegal_transition"


class Refused(Conflict):
    code = "refused"


class Busy(Conflict):
    code = "busy"


class QuotaExceeded(DockyardError):
    code = "quota_exceeded"
    exit_code = 5


class Unavailable(DockyardError):
    code = "unavailable"
    exit_code = 6


class EngineUnavailable(Unavailable):
    code = "engine_unavailable"


class EngineRefused(EngineUnavailable):
    """Another daemon answers at an engine's address than the one on record."""

    code = "engine_refused"


class StoreUnavailable(Unavailable):
    code = "store_unavailable"


class OperationFailed(DockyardError):
    code = "failed"
    exit_code = 1


class EngineError(OperationFailed):
    code = "engine_error"


class StoreError(OperationFailed):
    code = "store_error"


class ProvisionFailed(OperationFailed):
    code = "provision_failed"


class DiskError(OperationFailed):
    """A size-capped volume's file system could not be made, attached or found (its
    backing file is missing, loop devices are not available here)."""

    code = "disk_error"


class SaveFailed(OperationFailed):
    """A workspace's work could not be saved; nothing was removed."""

    code = "save_failed"


class RestoreFailed(OperationFailed):
    """A checkpoint could not be brought back; the workspace stays parked."""

    code = "restore_failed"


#: Codes the API answers with that no class here carries (the HTTP layer's own).
_ALIASES: dict[str, type[DockyardError]] = {
    "body_too_large": TooLarge,
    "method_not_allowed": InvalidInput,
    "internal": OperationFailed,
}


def _codes(kind: type[DockyardError]) -> dict[str, type[DockyardError]]:
    found = {kind.code: kind}
    for sub in kind.__subclasses__():
        found.update(_codes(sub))
    return found


def error_for(code: str, message: str) -> DockyardError:
    """The error a ``code`` (as the API's JSON names it) stands for: a client raises the
    same class the library would have. An unknown code is a plain ``DockyardError``."""
    kind = _ALIASES.get(code) or _codes(DockyardError).get(code, DockyardError)
    return kind(message)
