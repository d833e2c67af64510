from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.core.units import (
    DURATION_MAX,
    SIZE_MAX,
    duration_text,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("45m", 2700),
        ("1h30m", 5400),
        ("7d", 604800),
        ("1.5h", 5400),
        ("2w", 1209600),
        ("250ms", 0.25),
        ("30", 30),
        (" 5m ", 300),
        ("0s", 0),
    ],
)
def test_parse_duration_accepts_what_people_write(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 m", "m5", "1h-5m", "-5m", "1x", "nan", "inf"])
def test_parse_duration_rejects_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="duration like"):
        parse_duration(text)


def test_parse_duration_rejects_booleans_and_negative_numbers() -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(True)
    with pytest.raises(ValueError, match="negative"):
        parse_duration(-1)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (90, "1m30s"),
        (600, "10m"),
        (3900, "1h05m"),
        (93600, "1d2h"),
        (86400, "1d"),
        (-120, "-2m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**7))
def test_formatted_durations_parse_back_close(seconds: int) -> None:
    text = format_duration(seconds)
    parsed = parse_duration(text).total_seconds()
    # formatting rounds to the two largest units; never more than a day off, never above
    assert parsed <= seconds
    assert seconds - parsed < 86400


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * 1024**2),
        ("2g", 2 * 1024**3),
        ("2GiB", 2 * 1024**3),
        ("10GB", 10 * 1000**3),
        ("1024", 1024),
        ("1.5g", int(1.5 * 1024**3)),
        ("64k", 65536),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "1x", "0", "-5m", "g", "5 gigs"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"size like|greater than zero"):
        parse_size(text)


def test_format_size() -> None:
    assert format_size(512) == "512B"
    assert format_size(2 * 1024**3) == "2.0GiB"
    assert format_size(1536 * 1024) == "1.5MiB"


@pytest.mark.parametrize("value", [{}, [], None, object()])
def test_parsers_reject_other_types_with_a_value_error(value: object) -> None:
    """JSON bodies and TOML files can hold anything; it must be a validation error."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        parse_size(value)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=int(DURATION_MAX.total_seconds() * 1000)))
def test_settings_write_durations_exactly(millis: int) -> None:
    """What the settings store (a policy set over the API) reads back the same."""
    delta = timedelta(milliseconds=millis)
    assert parse_duration(duration_text(delta)) == delta


@pytest.mark.parametrize("text", ["999999999999d", "3651d", "99999999999999d", 10.0**20])
def test_durations_longer_than_ten_years_are_refused(text: str | float) -> None:
    with pytest.raises(ValueError, match="at most 3650d"):
        parse_duration(text)


@pytest.mark.parametrize("size", [99999999999999999999999999, SIZE_MAX + 1, "2000000t"])
def test_sizes_beyond_a_pebibyte_are_refused(size: int | str) -> None:
    with pytest.raises(ValueError, match="at most"):
        parse_size(size)
