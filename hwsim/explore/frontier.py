"""Pareto fronts of sweep records (every objective minimised)."""

from __future__ import annotations

import numpy as np


def pareto_mask(x, y) -> np.ndarray:
    """True where no other point is at least as good in both ``x`` and ``y`` and better in one (NaN: never)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    mask = np.zeros(len(x), dtype=bool)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    best = np.inf
    for i in ok[np.lexsort((y[ok], x[ok]))]:  # by x, then y
        if y[i] < best:
            mask[i], best = True, y[i]
    return mask
