from __future__ import annotations

from pathlib import Path

from dockyard.cli.background import ERROR_FILE, MARKER, claim_slot, record_error, take_error

HOUR = 3600.0


def test_claims_once_per_interval(tmp_path: Path) -> None:
    assert claim_slot(tmp_path, interval_s=HOUR, now=1000.0)
    assert not claim_slot(tmp_path, interval_s=HOUR, now=1000.0 + HOUR - 1)
    assert claim_slot(tmp_path, interval_s=HOUR, now=1000.0 + HOUR)
    assert (tmp_path / MARKER).stat().st_mtime == 1000.0 + HOUR


def test_zero_interval_turns_it_off(tmp_path: Path) -> None:
    assert not claim_slot(tmp_path, interval_s=0, now=1000.0)
    assert not (tmp_path / MARKER).exists()


def test_a_failure_is_shown_once(tmp_path: Path) -> None:
    assert take_error(tmp_path) is None
    record_error(tmp_path, "store error: disk I/O error")
    assert take_error(tmp_path) == "store error: disk I/O error"
    assert take_error(tmp_path) is None
    record_error(tmp_path, "x")
    record_error(tmp_path, None)  # a later success clears it
    assert not (tmp_path / ERROR_FILE).exists()
