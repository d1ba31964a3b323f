"""A session's final score from its score log, as RE-Bench aggregates it."""

from __future__ import annotations

import math
from collections.abc import Iterable

from environments.base import Aggregation


def aggregate(raws: Iterable[float | None], how: Aggregation) -> float | None:
    """min, max or last of the valid raw scores; None when there is none."""
    valid = [r for r in raws if r is not None and not math.isnan(r)]
    if not valid:
        return None
    if how == "min":
        return min(valid)
    if how == "max":
        return max(valid)
    if how == "last":
        return valid[-1]
    raise ValueError(f"unknown aggregation {how!r}")
