"""Agreement between two sets of levels on one scale, with bootstrap 95% intervals.

Figures (scikit-learn and scipy): quadratic-weighted kappa on levels rounded to the scale,
Spearman and Pearson on the levels as given, exact and adjacent (within one level) agreement
of the rounded levels, mean absolute error, and the confusion matrix (rows: the first set,
columns: the second). Intervals come from a seeded bootstrap that resamples *groups*
(candidates), so several answers of one candidate move together. A figure that is undefined
(constant levels, too few items) is ``None``, never NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import msgspec
import numpy as np
from numpy.typing import NDArray
from scipy import stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from screening.rubric import Scale

__all__ = ["DEFAULT_RESAMPLES", "Agreement", "Estimate", "agreement", "rounded_levels", "spearman"]

DEFAULT_RESAMPLES = 1000
# An interval is given when at least this share of the resamples define the figure.
_DEFINED_SHARE = 0.5

FloatArray = NDArray[np.float64]


class Estimate(msgspec.Struct, frozen=True, kw_only=True):
    """A figure and its bootstrap 95% interval (each ``None`` when undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None


class Agreement(msgspec.Struct, frozen=True, kw_only=True):
    """How well two sets of levels agree: ``n`` items from ``groups`` candidates."""

    n: int
    groups: int
    qwk: Estimate
    spearman: Estimate
    pearson: Estimate
    exact: Estimate
    adjacent: Estimate
    mae: Estimate
    confusion: tuple[tuple[int, ...], ...]


def rounded_levels(levels: FloatArray, scale: Scale) -> NDArray[np.int64]:
    """Levels rounded half up to whole levels of ``scale``."""
    return np.clip(np.floor(levels + 0.5), scale.min, scale.max).astype(np.int64)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def spearman(a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray) -> float | None:
    """Spearman's rank correlation, ``None`` when undefined (fewer than 3 items, or a constant side)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return _finite(stats.spearmanr(x, y).statistic)


def _pearson(x: FloatArray, y: FloatArray) -> float | None:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return _finite(stats.pearsonr(x, y).statistic)


def _qwk(a: NDArray[np.int64], b: NDArray[np.int64], labels: list[int]) -> float | None:
    if len(a) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        return _finite(cohen_kappa_score(a, b, weights="quadratic", labels=labels))


_FIGURES = ("qwk", "spearman", "pearson", "exact", "adjacent", "mae")


def _figures(first: FloatArray, second: FloatArray, scale: Scale, labels: list[int]) -> dict[str, float | None]:
    if len(first) == 0:
        return dict.fromkeys(_FIGURES)
    a, b = rounded_levels(first, scale), rounded_levels(second, scale)
    gap = np.abs(a - b)
    return {
        "qwk": _qwk(a, b, labels),
        "spearman": spearman(first, second),
        "pearson": _pearson(first, second),
        "exact": float(np.mean(gap == 0)),
        "adjacent": float(np.mean(gap <= 1)),
        "mae": float(np.mean(np.abs(first - second))),
    }


def agreement(
    first: Sequence[float],
    second: Sequence[float],
    groups: Sequence[str],
    scale: Scale,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Agreement:
    """Agreement of ``second`` (e.g. the model) with ``first`` (e.g. the human level) on ``scale``;
    ``groups[i]`` is the candidate of item ``i`` (the bootstrap resamples candidates).
    """
    x, y = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    labels = list(range(scale.min, scale.max + 1))
    point = _figures(x, y, scale, labels)
    members: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    intervals = _bootstrap(lambda idx: _figures(x[idx], y[idx], scale, labels), members, resamples, seed)
    matrix = (
        confusion_matrix(rounded_levels(x, scale), rounded_levels(y, scale), labels=labels)
        if len(x)
        else np.zeros((len(labels), len(labels)), dtype=np.int64)
    )
    return Agreement(
        n=len(x),
        groups=len(members),
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
        **{name: Estimate(value=_rounded(point[name]), **intervals.get(name, {})) for name in _FIGURES},
    )


def _bootstrap(
    compute: Callable[[NDArray[np.int64]], dict[str, float | None]],
    members: dict[str, list[int]],
    resamples: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Percentile 95% intervals of each figure over ``resamples`` resamples of the groups."""
    if resamples <= 0 or len(members) < 2:
        return {}
    rng = np.random.default_rng(seed)
    blocks = [np.asarray(m, dtype=np.int64) for m in members.values()]
    values: dict[str, list[float]] = {name: [] for name in _FIGURES}
    for _ in range(resamples):
        drawn = rng.integers(0, len(blocks), size=len(blocks))
        for name, value in compute(np.concatenate([blocks[i] for i in drawn])).items():
            if value is not None:
                values[name].append(value)
    return {
        name: {"low": _rounded(float(np.percentile(found, 2.5))), "high": _rounded(float(np.percentile(found, 97.5)))}
        for name, found in values.items()
        if len(found) >= _DEFINED_SHARE * resamples
    }
