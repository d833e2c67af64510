"""Small statistics over repeated measurements."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def p50(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Figure:
    """One reported figure: a value per run, a target and how to compare with it."""

    name: str
    unit: str  # "x floor", "/s", "s", "MB"
    target: float
    higher_is_better: bool = False
    runs: list[float] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)  # the floor's own p50 per run
    value_s: list[float] = field(default_factory=list)  # dockyard's p50 per run
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def spread(self) -> tuple[float, float]:
        return (min(self.runs), max(self.runs)) if self.runs else (float("nan"),) * 2

    @property
    def met(self) -> bool:
        if not self.runs:
            return False
        return self.median >= self.target if self.higher_is_better else self.median <= self.target

    def to_json(self) -> dict[str, object]:
        low, high = self.spread
        return {
            "name": self.name,
            "unit": self.unit,
            "median": round(self.median, 4),
            "min": round(low, 4),
            "max": round(high, 4),
            "runs": [round(r, 4) for r in self.runs],
            "floor_p50_s": [round(f, 6) for f in self.floor_s],
            "dockyard_p50_s": [round(v, 6) for v in self.value_s],
            "target": self.target,
            "target_is": "at least" if self.higher_is_better else "at most",
            "met": self.met,
            "note": self.note,
        }
