"""TLS to an engine over TCP, the way the docker CLI does it (``DOCKER_TLS_VERIFY``,
``DOCKER_CERT_PATH``): the engine proves itself with a certificate signed by
``ca.pem``, and dockyard with ``cert.pem`` and ``key.pem`` (dockerd ``--tlsverify``)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

from dockyard.core.errors import InvalidInput

FILES = ("ca.pem", "cert.pem", "key.pem")


def default_cert_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CERT_PATH``, else ``~/.docker`` (the docker CLI's default)."""
    found = (os.environ if environ is None else environ).get("DOCKER_CERT_PATH")
    return Path(found).expanduser() if found else Path.home() / ".docker"


def verify_by_default(environ: Mapping[str, str] | None = None) -> bool:
    """``$DOCKER_TLS_VERIFY`` set to anything non-empty, as the docker CLI reads it."""
    return bool((os.environ if environ is None else environ).get("DOCKER_TLS_VERIFY"))


def wanted(url: str, setting: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to speak TLS to the engine at ``url``: as set, else as the docker CLI
    decides (``$DOCKER_TLS_VERIFY`` for a tcp:// engine; a unix socket never)."""
    if setting is not None:
        return setting
    return verify_by_default(environ) and url.startswith("tcp://")


def client_context(cert_path: Path) -> ssl.SSLContext:
    """A context that verifies the engine against ``ca.pem`` (and its host name or IP
    address) and presents ``cert.pem``/``key.pem``; ``InvalidInput`` naming what is
    missing or unreadable."""
    ca, cert, key = (cert_path / name for name in FILES)
    missing = [str(path) for path in (ca, cert, key) if not path.is_file()]
    if missing:
        raise InvalidInput(f"TLS to the engine needs {', '.join(missing)}")
    try:
        context = ssl.create_default_context(cafile=str(ca))
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (ssl.SSLError, OSError) as exc:
        raise InvalidInput(f"TLS certificates in {cert_path} cannot be used: {exc}") from exc
    return context
