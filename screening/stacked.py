"""The learned level model of method v2: per-measure members stacked under one rubric-wide model.

Every reference response is labelled training data. For one measure (a dimension of a
question) a unit of text is described by per-level evidence against that measure's
anchors (:func:`unit_features`): for each level of the scale, the best similarity of the
whole text and of its best sentence to anchors at that level, the share of that level
among the nearest anchors, the share of an anchor's content words the text contains, and
the probability a member logistic regression over the embeddings gives that level; plus a
negation term (a clause the speaker denies that reads as a good answer once affirmed).

One multinomial logistic regression over those features, shared by every question and
dimension of the rubric, turns them into per-level probabilities; the expected level and
a confidence fall out of the same distribution. It is trained on the anchors' own
features computed with each anchor held out (members by out-of-fold prediction), plus a
*model-answer view* of each anchor (features against the top level only), so a question
with only one model answer is read by the same model. Regularisation strengths are
chosen by cross-validation on the anchors (folds grouped by question), never by hand.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import msgspec
import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

__all__ = [
    "MeasureAnchors",
    "MemberModel",
    "Moments",
    "SharedRidge",
    "StackedModel",
    "TextUnit",
    "class_code",
    "class_level",
    "class_outcome",
    "fit_shared_ridge",
    "fit_stacked_model",
    "unit_features",
]

FloatArray = NDArray[np.float32]


class TextUnit(msgspec.Struct, frozen=True, kw_only=True):
    """A text as the model sees it: whole embedding, sentence embeddings, content words,
    and embeddings of the clauses its speaker denies, restated without the negation.
    """

    embedding: FloatArray
    sentences: FloatArray
    content: frozenset[str]
    denied_clauses: FloatArray


class MeasureAnchors(msgspec.Struct, frozen=True, kw_only=True):
    """The anchors of one measure: their units, levels (on the rubric's scale) and classes
    (:func:`class_code`: the level, or an outcome at the scale's minimum).
    """

    units: tuple[TextUnit, ...]
    levels: NDArray[np.int64]
    classes: NDArray[np.int64]
    embeddings: FloatArray  # the units' embeddings stacked, one row each

    @classmethod
    def of(cls, units: tuple[TextUnit, ...], levels: NDArray[np.int64], classes: NDArray[np.int64]) -> MeasureAnchors:
        """The anchors, their embeddings stacked once."""
        return cls(
            units=units,
            levels=levels,
            classes=classes,
            embeddings=np.stack([u.embedding for u in units]).astype(np.float32),
        )


class MemberModel(msgspec.Struct, frozen=True, kw_only=True):
    """A logistic regression from an embedding to the levels of one measure (or nothing,
    when the measure's anchors cover fewer than two levels).
    """

    model: LogisticRegression | None

    def probabilities(self, embedding: FloatArray, levels: Sequence[int]) -> dict[int, float]:
        """Probability of each level the member knows; empty without a model."""
        if self.model is None:
            return {}
        p = self.model.predict_proba(embedding.reshape(1, -1).astype(np.float64))[0]
        return {int(c): float(v) for c, v in zip(self.model.classes_, p, strict=True)}


OUTCOMES = ("", "contradiction", "irrelevant", "non_answer")


def class_code(level: int, outcome: str | None) -> int:
    """One integer per (level, outcome): ``level * 4 + outcome index`` (0: an ordinary level)."""
    return level * len(OUTCOMES) + OUTCOMES.index(outcome or "")


def class_level(code: int) -> int:
    """The level of a class code."""
    return code // len(OUTCOMES)


def class_outcome(code: int) -> str | None:
    """The outcome of a class code, ``None`` for an ordinary level."""
    return OUTCOMES[code % len(OUTCOMES)] or None


def _neighbour_shares(
    similarities: NDArray[np.float32], levels: NDArray[np.int64], k: int, temperature: float
) -> dict[int, float]:
    """Softmax-weighted share of each level among the ``k`` most similar anchors."""
    if not len(similarities):
        return {}
    nearest = np.argsort(-similarities, kind="stable")[:k]
    weights = np.exp((similarities[nearest] - similarities[nearest].max()) / temperature)
    weights /= weights.sum()
    shares: dict[int, float] = {}
    for index, weight in zip(nearest, weights, strict=True):
        shares[int(levels[index])] = shares.get(int(levels[index]), 0.0) + float(weight)
    return shares


def neighbour_level(similarities: NDArray[np.float32], levels: NDArray[np.int64], k: int, temperature: float) -> float:
    """The similarity-weighted level of the ``k`` nearest anchors."""
    shares = _neighbour_shares(similarities, levels, k, temperature)
    return sum(level * share for level, share in shares.items())


def unit_features(
    unit: TextUnit,
    anchors: MeasureAnchors,
    class_codes: Sequence[int],
    member: dict[int, float],
    shared: float,
    *,
    keep: NDArray[np.bool_] | None = None,
    k: int = 7,
    temperature: float = 0.05,
) -> NDArray[np.float64]:
    """The feature vector of ``unit`` against the anchors (those in ``keep`` when given);
    ``shared`` is the rubric-wide ridge's reading of it (0-1).
    """
    mask = np.ones(len(anchors.units), dtype=bool) if keep is None else keep
    kept = [u for u, m in zip(anchors.units, mask, strict=True) if m]
    levels, classes = anchors.levels[mask], anchors.classes[mask]
    features: list[float] = []
    if kept:
        matrix = anchors.embeddings[mask]
        similarities = matrix @ unit.embedding
        sentence_similarities = (unit.sentences @ matrix.T).max(axis=0) if len(unit.sentences) else similarities
        content = np.asarray([len(unit.content & u.content) / max(len(u.content), 1) for u in kept])
    else:
        similarities = sentence_similarities = content = np.zeros(0)
    shares = _neighbour_shares(similarities.astype(np.float32), classes, k, temperature)
    for code in class_codes:
        at = classes == code
        present = bool(at.any())
        features += [
            float(similarities[at].max()) if present else 0.0,
            float(sentence_similarities[at].max()) if present else 0.0,
            float(content[at].max()) if present else 0.0,
            shares.get(code, 0.0),
            member.get(code, 0.0),
            float(present),
        ]
    scale = sorted({class_level(c) for c in class_codes})
    features.append(_denial_strength(unit, matrix if kept else None, levels, scale, k, temperature))
    features.append(float(np.clip(shared, -0.5, 1.5)))
    features.append(float(similarities.max()) if len(similarities) else 0.0)
    return np.asarray(features, dtype=np.float64)


def _denial_strength(
    unit: TextUnit,
    matrix: FloatArray | None,
    levels: NDArray[np.int64],
    scale_levels: Sequence[int],
    k: int,
    temperature: float,
) -> float:
    """How far above the scale's middle the best clause the speaker denies would read if affirmed (0-1)."""
    if matrix is None or not len(unit.denied_clauses) or len(np.unique(levels)) < 2:
        return 0.0
    low, high = scale_levels[0], scale_levels[-1]
    middle, half = (low + high) / 2, (high - low) / 2
    readings = [
        neighbour_level((matrix @ clause).astype(np.float32), levels, k, temperature) for clause in unit.denied_clauses
    ]
    return max(0.0, (max(readings) - middle) / half)


def fit_member(embeddings: FloatArray, levels: NDArray[np.int64], c: float) -> MemberModel:
    """A member over one measure's anchors; none when they cover fewer than two levels."""
    if len(np.unique(levels)) < 2:
        return MemberModel(model=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=c, max_iter=3000, tol=1e-3).fit(embeddings.astype(np.float64), levels)
    return MemberModel(model=model)


def out_of_fold_members(
    embeddings: FloatArray, levels: NDArray[np.int64], c: float, seed: int
) -> list[dict[int, float]]:
    """Each anchor's member probabilities from a member that did not see it (up to 5 folds)."""
    counts = np.bincount(levels - levels.min()) if len(levels) else np.zeros(0, dtype=int)
    folds = min(5, int(counts[counts > 0].min()) if counts.any() else 0)
    if len(np.unique(levels)) < 2 or folds < 2:
        return [{} for _ in levels]
    result: list[dict[int, float]] = [{} for _ in levels]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(embeddings, levels):
        member = fit_member(embeddings[train], levels[train], c)
        for index in test:
            result[index] = member.probabilities(embeddings[index], [])
    return result


class StackedModel(msgspec.Struct, frozen=True, kw_only=True):
    """The rubric-wide model: scaled features -> per-class probabilities."""

    scaler: StandardScaler
    model: LogisticRegression
    class_codes: tuple[int, ...]
    c: float

    def probabilities(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability of every class (zero for classes never seen in training)."""
        p = self.model.predict_proba(self.scaler.transform(features.reshape(1, -1)))[0]
        full = np.zeros(len(self.class_codes))
        for cls, value in zip(self.model.classes_, p, strict=True):
            full[self.class_codes.index(int(cls))] = value
        return full


def fit_stacked_model(
    rows: NDArray[np.float64],
    levels: NDArray[np.int64],
    groups: NDArray[np.int64],
    class_codes: Sequence[int],
    c_grid: Sequence[float],
    seed: int,
) -> StackedModel:
    """Fit the rubric-wide model; its strength is the grid value with the best grouped CV log-loss."""
    scaler = StandardScaler().fit(rows)
    x = scaler.transform(rows)
    c = c_grid[0] if len(c_grid) == 1 else _choose_c(x, levels, groups, c_grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=c, max_iter=5000, tol=1e-3).fit(x, levels)
    del seed  # the fit is deterministic (lbfgs); kept in the signature for the method's record
    return StackedModel(scaler=scaler, model=model, class_codes=tuple(class_codes), c=c)


def _choose_c(
    x: NDArray[np.float64], levels: NDArray[np.int64], groups: NDArray[np.int64], c_grid: Sequence[float]
) -> float:
    folds = min(5, len(np.unique(groups)))
    if folds < 2:
        return c_grid[len(c_grid) // 2]
    losses = []
    for c in c_grid:
        loss = 0.0
        for train, test in GroupKFold(n_splits=folds).split(x, levels, groups):
            if len(np.unique(levels[train])) < 2:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = LogisticRegression(C=c, max_iter=5000, tol=1e-3).fit(x[train], levels[train])
            p = model.predict_proba(x[test])
            index = {int(cls): i for i, cls in enumerate(model.classes_)}
            picked = np.asarray(
                [p[row, index[int(y)]] if int(y) in index else 1e-6 for row, y in enumerate(levels[test])]
            )
            loss -= float(np.log(np.clip(picked, 1e-6, None)).sum())
        losses.append(loss)
    return float(c_grid[int(np.argmin(losses))])


class Moments(msgspec.Struct, kw_only=True):
    """Weighted sums of a set of anchors: enough to fit a ridge regression in closed form."""

    weight: float
    x: NDArray[np.float64]
    xx: NDArray[np.float64]
    y: float
    xy: NDArray[np.float64]

    @classmethod
    def of(cls, x: NDArray[np.float64], y: NDArray[np.float64], w: float = 1.0) -> Moments:
        """The moments of rows ``x`` with targets ``y``, each weighing ``w``."""
        return cls(weight=w * len(y), x=w * x.sum(0), xx=w * (x.T @ x), y=w * float(y.sum()), xy=w * (x.T @ y))

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            weight=self.weight + other.weight,
            x=self.x + other.x,
            xx=self.xx + other.xx,
            y=self.y + other.y,
            xy=self.xy + other.xy,
        )


class SharedRidge(msgspec.Struct, frozen=True, kw_only=True):
    """A ridge regression from embedding to (0-1) level, fitted on every anchor of the rubric
    with more weight on the measure's question and dimension (method v1's sharing of strength).
    """

    coef: NDArray[np.float64]
    intercept: float

    def predict(self, embedding: NDArray[np.float32]) -> float:
        """The level (0 at the scale's minimum, 1 at its maximum) read from one embedding."""
        return float(self.intercept + self.coef @ embedding.astype(np.float64))


def fit_shared_ridge(
    moments: Moments, alpha: float, own_x: NDArray[np.float64], own_y: NDArray[np.float64], own_w: float
) -> tuple[SharedRidge, NDArray[np.float64]]:
    """Fit from ``moments``; also each of the measure's own anchors' leave-one-out prediction
    (``own_x``/``own_y``, each with weight ``own_w`` in the moments), exact from the hat matrix.
    """
    mean_x, mean_y = moments.x / moments.weight, moments.y / moments.weight
    centred_xx = moments.xx - moments.weight * np.outer(mean_x, mean_x)
    centred_xy = moments.xy - moments.weight * mean_x * mean_y
    inverse = np.linalg.inv(centred_xx + alpha * np.eye(len(mean_x)))
    coef = inverse @ centred_xy
    intercept = mean_y - float(mean_x @ coef)
    if not len(own_y):
        return SharedRidge(coef=coef, intercept=intercept), np.zeros(0)
    centred = own_x - mean_x
    leverage = own_w / moments.weight + own_w * np.einsum("ij,jk,ik->i", centred, inverse, centred)
    fitted = intercept + own_x @ coef
    held_out = own_y - (own_y - fitted) / np.clip(1.0 - leverage, 1e-6, None)
    return SharedRidge(coef=coef, intercept=intercept), held_out
