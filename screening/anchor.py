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
    embeddings: FloatArray, levels: NDArray[np.int64], weights: NDArray[np.float64], alpha: float
) -> LevelModel:
    """Weighted ridge regression with an unpenalised intercept, in closed form."""
    x = embeddings.astype(np.float64)
    w = weights / weights.sum() * len(weights)
    x_mean = (w[:, None] * x).sum(axis=0) / w.sum()
    y_mean = float((w * levels).sum() / w.sum())
    xc = x - x_mean
    gram = xc.T @ (w[:, None] * xc) + alpha * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, xc.T @ (w * (levels - y_mean)))
    return LevelModel(coef=coef.astype(np.float32), intercept=y_mean - float(x_mean @ coef))


def estimate_unit(embedding: FloatArray, anchors: AnchorSet, model: LevelModel, *, top_k: int) -> UnitEstimate:
    """Level, relevance (best similarity to a reference) and spread of one unit.

    The spread is the standard deviation of the levels of the ``top_k`` most similar
    references: when the nearest references disagree, the estimate is vague.
    """
    similarities = anchors.embeddings @ embedding
    nearest = np.argsort(-similarities, kind="stable")[:top_k]
    return UnitEstimate(
        level=model.predict(embedding),
        relevance=float(similarities.max()),
        spread=float(np.std(anchors.levels[nearest])),
        similarities=similarities,
    )
