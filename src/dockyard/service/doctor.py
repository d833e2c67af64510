"""``dockyard doctor``: can this machine run workspaces, and if not, what to do about it.

Each check is independent and never raises; a failed check says what failed and how to
fix it. The last check runs a real container the way a workspace runs (init process,
limits, a volume-less exec, a stop) so that "doctor passes" means "up will work".
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from dockyard.core.engines import known_defects
from dockyard.core.errors import DockyardError, NotFound
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_MANAGED, LABEL_ROLE
from dockyard.core.units import format_size
from dockyard.engine import loopdisk
from dockyard.engine.base import Engine, ExecSpec
from dockyard.engine.models import ContainerSpec
from dockyard.engine.process import run
from dockyard.service.runtime.fleet import open_engine
from dockyard.settings import Settings
from dockyard.store import Store, redact_url


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    warnings: tuple[str, ...] = ()  # it works, but mind this


def run_checks(settings: Settings) -> list[Check]:
    """The data directory, the store, then each engine (named ``engine NAME`` when the
    settings list several) with its image and a container run the way workspaces run."""
    checks = [_data_dir(settings.data_dir)]
    store_check, installation = _store(settings)
    checks.append(store_check)
    several = len(settings.fleet) > 1
    for spec in settings.fleet:
        try:
            engine = open_engine(spec, teardowns=settings.engine_teardowns)
        except DockyardError as exc:
            checks.append(Check(f"engine {spec.name}", False, exc.message, _TLS_HINT))
            continue
        try:
            found = _engine_checks(settings, engine, installation=installation)
        finally:
            engine.close()
        checks += [replace(c, name=f"{c.name} {spec.name}") if several else c for c in found]
    return checks


def _engine_checks(settings: Settings, engine: Engine, *, installation: str | None) -> list[Check]:
    checks = []
    engine_check = _guard("engine", lambda: _engine(engine), hint=_ENGINE_HINT)
    if engine_check.ok:
        info = engine.ping()
        engine_check = replace(engine_check, warnings=tuple(known_defects(info.kind, info.version)))
    checks.append(engine_check)
    if engine_check.ok:
        checks.append(_disk_caps(settings, engine))
    if engine_check.ok:
        image_check = _guard(
            "image", lambda: _image(engine, settings.workspace.image), hint=_IMAGE_HINT
        )
        checks.append(image_check)
        if image_check.ok:
            checks.append(
                _guard(
                    "container",
                    lambda: _smoke(engine, settings, installation or "doctor"),
                    hint="see the engine's log for why the container failed",
                )
            )
    return checks


_ENGINE_HINT = (
    "start the engine (scripts/setup starts dockerd), or point engine_url / DOCKER_HOST at it"
)
_TLS_HINT = "put ca.pem, cert.pem and key.pem in the engine's cert_path ($DOCKER_CERT_PATH)"
_IMAGE_HINT = "build it with images/build-workspace-image.sh, or set workspace.image"


def _disk_caps(settings: Settings, engine: Engine) -> Check:
    """Whether workspace volumes can be size-capped here (``workspace.disk``, ``up
    --disk``): a failure only when the settings ask for a cap that cannot be made."""
    why = None if engine.is_local() else f"the engine at {engine.url} is not on this machine"
    why = why or loopdisk.unavailable()
    wanted = settings.workspace.disk
    if why is None:
        cap = format_size(wanted) if wanted is not None else "off (up --disk SIZE sets one)"
        return Check("disk caps", True, f"available (loop devices, ext4); workspace.disk {cap}")
    if wanted is None:
        return Check("disk caps", True, f"not available: {why}; workspace volumes are uncapped")
    return Check(
        "disk caps",
        False,
        f"workspace.disk is {format_size(wanted)} but caps are not available: {why}",
        "unset workspace.disk, or run dockyard as root next to the engine with loop devices",
    )


def _guard(name: str, check: Callable[[], str], *, hint: str) -> Check:
    try:
        return Check(name, True, check())
    except DockyardError as exc:
        return Check(name, False, exc.message, hint)


def _data_dir(path: Path) -> Check:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".doctor-{secrets.token_hex(4)}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check(
            "data dir", False, f"{path}: {exc.strerror}", "set data_dir to a writable path"
        )
    return Check("data dir", True, str(path))


def _store(settings: Settings) -> tuple[Check, str | None]:
    try:
        store = Store.open(settings.store_url)
    except DockyardError as exc:
        return Check("store", False, exc.message, "check database_url"), None
    try:
        revision = store.ping()
        where = redact_url(settings.store_url)
        detail = f"{where} (schema {revision}, installation {store.installation_id})"
        return Check("store", True, detail), store.installation_id
    except DockyardError as exc:
        return Check("store", False, exc.message, "check database_url"), None
    finally:
        store.close()


def _engine(engine: Engine) -> str:
    info = engine.ping()
    return f"{info.kind} {info.version} (API {info.api_version}) at {info.url}"


def _image(engine: Engine, image: str) -> str:
    try:
        info = engine.inspect_image(ref=image)
    except NotFound:
        raise NotFound(f"default image {image!r} is not on the engine") from None
    return f"{image} ({info.id[7:19]}, {info.size / 1e6:.1f} MB)"


def _smoke(engine: Engine, settings: Settings, installation: str) -> str:
    name = f"dy-doctor-{secrets.token_hex(4)}"
    spec = ContainerSpec(
        name=name,
        image=settings.workspace.image,
        command=settings.workspace.command,
        labels={LABEL_MANAGED: "true", LABEL_INSTALLATION: installation, LABEL_ROLE: "doctor"},
        memory_bytes=64 * 1024**2,
        pids_limit=64,
        init=True,
        network=settings.workspace.network,
    )
    started = time.monotonic()
    container = engine.create_container(spec=spec)
    try:
        engine.start_container(ref=container)
        result = run(engine, ref=container, spec=ExecSpec(argv=["sh", "-c", "git --version"]))
        stop_began = time.monotonic()
        engine.stop_container(ref=container, timeout_s=10)
        stop_ms = (time.monotonic() - stop_began) * 1000
    finally:
        engine.remove_container(ref=container)
    total_ms = (time.monotonic() - started) * 1000
    git = result.stdout.decode(errors="replace").strip() if result.ok else "no git in the image"
    detail = f"ran, {git}, stopped in {stop_ms:.0f} ms, {total_ms:.0f} ms in all"
    if stop_ms > 2000:
        raise DockyardError(f"{detail}: stop is slow; the engine may lack an init binary")
    return detail
