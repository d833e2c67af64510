"""The value types of settings (durations, sizes), their base section, and the policy's
knobs as pydantic fields: the one place a ``core.policy`` knob becomes something a
settings file, an environment variable or an API body can set."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from dockyard.core.disks import check_disk
from dockyard.core.errors import InvalidValue
from dockyard.core.policy import Knob, KnobValue, knobs
from dockyard.core.units import (
    DURATION_MAX,
    SIZE_MAX,
    duration_text,
    format_duration,
    parse_duration,
    parse_size,
)

#: A duration in dockyard's notation ("90s", "45m", "1h30m", "7d") or in seconds; the
#: schema says so (pydantic would say ISO 8601, which is not what is taken).
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(duration_text, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "examples": ["90s", "45m", "1h30m", "7d"]},
                {"type": "number", "minimum": 0, "maximum": DURATION_MAX.total_seconds()},
            ]
        }
    ),
]
#: A size in bytes, or with a unit ("512m", "2g", "10GB").
Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": SIZE_MAX},
                {"type": "string", "examples": ["512m", "2g", "10GB"]},
            ]
        }
    ),
]


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def knob_fields(*, names: Iterable[str] | None = None, optional: bool = False) -> dict[str, Any]:
    """``create_model`` field definitions of the policy's knobs (of ``names`` only, if
    given): typed, bounded and described as ``core.policy`` says; ``optional`` makes
    each default None ("inherit")."""
    wanted = None if names is None else set(names)
    result: dict[str, Any] = {}
    for f, meta in knobs():
        if wanted is not None and f.name not in wanted:
            continue
        default = f.default
        assert default is not MISSING, f"policy knob {f.name} has no default"  # noqa: S101
        kind = _annotated(type(default), meta)
        constraints = _constraints(type(default), meta)
        if optional:
            result[f.name] = (kind | None, Field(None, description=meta.doc, **constraints))
        else:
            result[f.name] = (kind, Field(default, description=meta.doc, **constraints))
    return result


def _annotated(kind: type, meta: Knob) -> Any:
    """Durations in our own notation, bounded with a message in it; tuples of names."""
    if kind is timedelta:
        if meta.minimum is None and meta.maximum is None:
            return Duration
        return Annotated[Duration, AfterValidator(_bounds(meta.minimum, meta.maximum))]
    return tuple[str, ...] if kind is tuple else kind


def _constraints(kind: type, meta: Knob) -> dict[str, Any]:
    """pydantic's own bounds for numbers (in the JSON schema too); no NaN or infinity."""
    if kind not in (int, float):
        return {}
    found: dict[str, Any] = {"allow_inf_nan": False} if kind is float else {}
    if meta.minimum is not None:
        found["ge"] = meta.minimum
    if meta.maximum is not None:
        found["le"] = meta.maximum
    return found


def _bounds(minimum: KnobValue | None, maximum: KnobValue | None) -> Any:
    def check(value: Any) -> Any:
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {_show(minimum)}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {_show(maximum)}")
        return value

    return check


def _show(value: KnobValue) -> str:
    return format_duration(value) if isinstance(value, timedelta) else str(value)


#: A duration of at least a second: where zero would make it mean nothing (an interval
#: of 0 spins a loop; a timeout of 0 fails everything).
NonZeroDuration = Annotated[Duration, AfterValidator(_bounds(timedelta(seconds=1), None))]


def disk_field(disk: int | None) -> int | None:
    """A disk cap setting: one dockyard can make (``core.disks``), else a validation error
    that names the bounds (and, through pydantic, the key path)."""
    try:
        return check_disk(disk)
    except InvalidValue as exc:
        raise ValueError(exc.message) from None
