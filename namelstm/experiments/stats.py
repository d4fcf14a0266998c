"""Statistics: mean +- sd over seeds, paired differences with a 95% Student-t interval, and the
percentile intervals of bootstrap draws (the draws themselves are `metrics.bootstrap_draws`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

# Two-sided 95% quantiles of Student's t, t_{0.975}(df), for df = 1..30 (standard tables); a handful of
# seeds needs only these, so scipy is not a dependency.
# fmt: off
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
# fmt: on
Z_975 = 1.959963984540054  # the normal quantile, the limit of t_{0.975}(df)


def t_975(df: int) -> float:
    """t_{0.975}(df): the table up to 30; beyond it the Cornish-Fisher expansion of t in powers of
    1/df (Abramowitz & Stegun 26.7.5), within 1e-7 of the exact quantile from df = 30 on. The
    normal quantile alone would be 4% too small at df = 31."""
    if df < 1:
        raise ValueError("an interval needs at least two paired values")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    terms = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    return z + sum(g / df**k for k, g in enumerate(terms, start=1))


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1); the sd is None for a single value."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else None


@dataclass(frozen=True)
class Difference:
    """The mean of paired differences a - b over seeds, with its 95% t-interval.

    `low`/`high` are None with a single seed; `exceeds_noise` says the interval excludes 0."""

    mean: float
    sd: float | None
    n: int
    low: float | None
    high: float | None

    @property
    def exceeds_noise(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exceeds_noise": self.exceeds_noise}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """a[i] - b[i] are the per-seed differences (same split, so the seed's luck cancels out)."""
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    mean, sd = mean_sd(diffs)
    if sd is None:
        return Difference(mean, None, 1, None, None)
    half = t_975(len(diffs) - 1) * sd / math.sqrt(len(diffs))
    return Difference(mean, sd, len(diffs), mean - half, mean + half)


def percentile_interval(draws: torch.Tensor) -> list[float]:
    """The 95% percentile interval [2.5%, 97.5%] of bootstrap draws (NaN draws left out)."""
    values = draws[~draws.isnan()]
    if not len(values):
        return [math.nan, math.nan]
    return [float(values.quantile(0.025)), float(values.quantile(0.975))]


def draw_intervals(draws: dict[str, torch.Tensor]) -> dict[str, Any]:
    """`percentile_interval` of each of `metrics.bootstrap_draws`' figures; one per language for 'recall'."""
    intervals: dict[str, Any] = {k: percentile_interval(v) for k, v in draws.items() if k != "recall"}
    intervals["recall"] = [percentile_interval(column) for column in draws["recall"].T]
    return intervals
