"""Known defects of engine versions: which ones doctor warns of."""

from __future__ import annotations

import pytest

from dockyard.core.engines import known_defects


@pytest.mark.parametrize(
    ("kind", "version", "defects"),
    [
        ("docker", "20.10.24", 1),
        ("docker", "20.10.24+dfsg1", 1),
        ("docker", "19.03.15", 1),
        ("docker", "20.10.27", 0),
        ("docker", "24.0.7", 0),
        ("docker", "28.2.2", 0),
        ("podman", "4.3.1", 1),
        ("docker", "nonsense", 0),
    ],
)
def test_known_engine_defects(kind: str, version: str, defects: int) -> None:
    assert len(known_defects(kind, version)) == defects
