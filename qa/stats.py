"""Small statistics shared by the eval, the benchmarks and the load script, so that "p95" means
one thing everywhere."""

from __future__ import annotations

import math
from typing import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile by linear interpolation between closest ranks (numpy's default
    method), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def share(flags: Sequence[bool]) -> float | None:
    """The share of true flags, or None when there are none to count (so an empty share is
    never shown as 0 or 1)."""
    return sum(1 for f in flags if f) / len(flags) if flags else None


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
