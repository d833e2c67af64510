"""Known defects of container engine versions that dockyard works around or warns of. Pure.

``doctor`` says which apply to the engine it finds; the work-arounds themselves live in
the engine adapter (``engine_teardowns`` limits the endpoint teardowns in flight).
"""

from __future__ import annotations

import re

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def known_defects(kind: str, version: str) -> list[str]:
    """One line per known defect of engine ``kind`` (``docker``, ``podman``) ``version``."""
    found = _VERSION.match(version)
    if found is None:
        return []
    major, minor, patch = (int(part or 0) for part in found.groups())
    defects = []
    if kind == "docker" and (major, minor, patch) < (20, 10, 27):
        defects.append(
            f"dockerd {version} can deadlock when many containers with a network endpoint "
            "stop at once (moby/moby#46661, fixed in 20.10.27 and 23.0): every later call on "
            "them hangs until dockerd restarts. dockyard tears down at most engine_teardowns "
            'of them at a time; workspace.network = "none" avoids endpoints altogether'
        )
    if kind == "podman":
        defects.append(
            "Podman's event stream logs a stop after the container's death, or not at all "
            "(4.3, measured): a `podman stop` of a workspace may read as a crash there (it is "
            "parked at once, its work saved)"
        )
    return defects
