"""Level estimation from similarity to anchored reference responses: pure numpy functions.

A :class:`LevelModel` is a ridge regression of reference levels on reference embeddings,
fitted once per (question, dimension) over the rubric's reference responses, weighted
towards those of the same question and dimension. In its dual form the estimate is
``intercept + sum_i alpha_i * similarity(unit, reference_i)``: a level read from the
unit's similarities to references at different levels, relative to each other, never a
fixed cosine threshold.
"""

from __future__ import annotations

import msgspec
import numpy as np
from numpy.typing import NDArray

__all__ = ["AnchorSet", "LevelModel", "UnitEstimate", "estimate_unit", "fit_level_model"]

FloatArray = NDArray[np.float32]


class AnchorSet(msgspec.Struct, frozen=True, kw_only=True):
    """Reference responses of one dimension of one question, ready to compare against."""

    texts: tuple[str, ...]
    levels: NDArray[np.int64]
    embeddings: FloatArray
    polarities: NDArray[np.int64]

    @property
    def distinct_levels(self) -> NDArray[np.int64]:
        """The levels that have at least one reference, ascending."""
        return np.unique(self.levels)


class UnitEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """What one unit of text says about the level."""

    level: float
    relevance: float
    spread: float
    similarities: FloatArray


class LevelModel(msgspec.Struct, frozen=True, kw_only=True):
    """A linear map from an embedding to a level: ``intercept + coef . embedding``."""

    coef: FloatArray
    intercept: float

    def predict(self, embedding: FloatArray) -> float:
        """The level this model reads from one embedding (not yet clamped to the scale)."""
        return float(self.intercept + float(self.coef @ embedding))


def fit_level_model(
    embeddings: FloatArray,
    levels: NDArray[np.int64],
    weights: NDArray[np.float64],
    alpha: float,
    max_stretch: float = 1.0,
) -> LevelModel:
    """Weighted ridge regression with an unpenalised intercept, in closed form.

    Ridge shrinks estimates towards the mean level. With ``max_stretch`` above 1 the model
    is recalibrated: a weighted line is fitted from the references' leave-one-out estimates
    (exact, from the hat matrix) to their levels, and its slope (kept within 1 and
    ``max_stretch``) and offset are folded into the model.
    """
    x = embeddings.astype(np.float64)
    w = weights / weights.sum() * len(weights)
    y = levels.astype(np.float64)
    x_mean = (w[:, None] * x).sum(axis=0) / w.sum()
    y_mean = float((w * y).sum() / w.sum())
    xc = x - x_mean
    inverse = np.linalg.inv(xc.T @ (w[:, None] * xc) + alpha * np.eye(x.shape[1]))
    coef = inverse @ (xc.T @ (w * (y - y_mean)))
    intercept = y_mean - float(x_mean @ coef)
    if max_stretch > 1.0:
        fitted = intercept + x @ coef
        leverage = w / w.sum() + w * ((xc @ inverse) * xc).sum(axis=1)
        held_out = y - (y - fitted) / np.clip(1.0 - leverage, 1e-6, None)
        slope, offset = _weighted_line(held_out, y, w)
        slope = float(np.clip(slope, 1.0, max_stretch))
        offset = float(((y - slope * held_out) * w).sum() / w.sum())
        coef, intercept = coef * slope, offset + slope * intercept
    return LevelModel(coef=coef.astype(np.float32), intercept=intercept)


def _weighted_line(x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]) -> tuple[float, float]:
    """Slope and offset of the weighted least-squares line from ``x`` to ``y``."""
    xm, ym = (w * x).sum() / w.sum(), (w * y).sum() / w.sum()
    variance = float((w * (x - xm) ** 2).sum())
    slope = float((w * (x - xm) * (y - ym)).sum() / variance) if variance > 0 else 1.0
    return slope, float(ym - slope * xm)


def estimate_unit(
    embedding: FloatArray,
    anchors: AnchorSet,
    model: LevelModel,
    *,
    top_k: int,
    local_weight: float = 0.0,
    local_temperature: float = 0.02,
) -> UnitEstimate:
    """Level, relevance (best similarity to a reference) and spread of one unit.

    The level blends the model's reading with, at ``local_weight``, the similarity-weighted
    mean level of the ``top_k`` nearest references (softmax over similarity /
    ``local_temperature``): the local term lets near-identical calibrated anchors speak.
    The spread is the standard deviation of those nearest references' levels: when they
    disagree, the estimate is vague.
    """
    similarities = anchors.embeddings @ embedding
    nearest = np.argsort(-similarities, kind="stable")[:top_k]
    level = model.predict(embedding)
    if local_weight > 0 and nearest.size:
        near = similarities[nearest].astype(np.float64)
        weights = np.exp((near - near.max()) / local_temperature)
        local = float((weights * anchors.levels[nearest]).sum() / weights.sum())
        level = (1 - local_weight) * level + local_weight * local
    return UnitEstimate(
        level=level,
        relevance=float(similarities.max()),
        spread=float(np.std(anchors.levels[nearest])),
        similarities=similarities,
    )
