"""Bootstrap confidence intervals, for one model and for the change between two.

Every metric is a ratio of per-item sums (``sum(num) / sum(den)``): a plain mean has ``den = 1``
per item, a micro-averaged precision has the item's matched / predicted counts. Resampling items
(not tokens, not citations) keeps the interval honest about how many questions were asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    total = den.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, num.sum(axis=-1) / np.where(total > 0, total, 1), np.nan)


def bootstrap(
    num: Sequence[float],
    den: Sequence[float] | None = None,
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """``sum(num)/sum(den)`` with a percentile bootstrap interval over items."""
    x = np.asarray(num, dtype=float)
    d = np.ones_like(x) if den is None else np.asarray(den, dtype=float)
    n = len(x)
    if n == 0 or d.sum() <= 0:
        return Estimate(None, None, None, n)
    value = float(x.sum() / d.sum())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(samples, n))
    stats = _ratio(x[idx], d[idx])
    stats = stats[~np.isnan(stats)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha]) if len(stats) else (value, value)
    # n: the items the metric is about (a refusal rate counts only must-refuse prompts).
    return Estimate(value, float(low), float(high), int((d > 0).sum()))


@dataclass(frozen=True)
class Change:
    original: float | None
    other: float | None
    delta: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def within_noise(self) -> bool | None:
        """True when the interval of the change contains zero (the change may be noise)."""
        if self.low is None or self.high is None:
            return None
        return bool(self.low <= 0 <= self.high)

    def to_dict(self) -> dict[str, float | int | bool | None]:
        return {
            "original": self.original,
            "other": self.other,
            "change": self.delta,
            "ci_low": self.low,
            "ci_high": self.high,
            "n": self.n,
            "within_noise": self.within_noise,
        }


def paired_change(
    a_num: Sequence[float],
    a_den: Sequence[float],
    b_num: Sequence[float],
    b_den: Sequence[float],
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Change:
    """Change ``b - a`` on the same items, with a paired bootstrap interval."""
    an, ad = np.asarray(a_num, float), np.asarray(a_den, float)
    bn, bd = np.asarray(b_num, float), np.asarray(b_den, float)
    n = len(an)
    if n == 0 or ad.sum() <= 0 or bd.sum() <= 0:
        return Change(None, None, None, None, None, n)
    va, vb = float(an.sum() / ad.sum()), float(bn.sum() / bd.sum())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(samples, n))
    diff = _ratio(bn[idx], bd[idx]) - _ratio(an[idx], ad[idx])
    diff = diff[~np.isnan(diff)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diff, [alpha, 1 - alpha]) if len(diff) else (vb - va, vb - va)
    return Change(va, vb, vb - va, float(low), float(high), int(((ad > 0) | (bd > 0)).sum()))
