"""Method v2 for one rubric: members per measure and the stacked model, fitted on its anchors.

:func:`fit_learned_rubric` turns every reference response into training rows (see
:mod:`screening.stacked`); :meth:`LearnedRubric.estimate` reads one unit of an answer for
one measure as per-level probabilities and an expected level.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import GroupKFold

from screening.method import MethodConfig
from screening.rubric import Rubric
from screening.stacked import (
    MeasureAnchors,
    MemberModel,
    Moments,
    SharedRidge,
    StackedModel,
    TextUnit,
    class_code,
    class_level,
    class_outcome,
    fit_member,
    fit_shared_ridge,
    fit_stacked_model,
    neighbour_level,
    out_of_fold_members,
    unit_features,
)
from screening.text import TextAnalysis

__all__ = [
    "LearnedEstimate",
    "LearnedMeasure",
    "LearnedRubric",
    "fit_learned_rubric",
    "held_out_anchor_levels",
    "text_unit",
    "unit_texts",
]


def unit_texts(analysis: TextAnalysis) -> list[str]:
    """The texts a unit needs encoded: the whole text, its sentences and its denied clauses restated."""
    texts = [analysis.text.strip()] if analysis.text.strip() else []
    for sentence in analysis.sentences:
        texts.append(sentence.text)
        texts.extend(sentence.affirmed_clauses)
    return texts


def text_unit(
    analysis: TextAnalysis,
    vectors: dict[str, np.ndarray],
    *,
    sentences: list[int] | None = None,
    core_text: str | None = None,
) -> TextUnit:
    """The unit of ``analysis`` (only the ``sentences`` given, read as ``core_text``, when set)."""
    chosen = [s for s in analysis.sentences if sentences is None or s.index in sentences]
    dimension = next(iter(vectors.values())).shape[0]
    whole = vectors[core_text if core_text is not None else analysis.text.strip()]
    clauses = [vectors[c] for s in chosen for c in s.affirmed_clauses]
    return TextUnit(
        embedding=whole,
        sentences=np.stack([vectors[s.text] for s in chosen]) if chosen else np.zeros((0, dimension), np.float32),
        content=analysis.content_words,
        denied_clauses=np.stack(clauses) if clauses else np.zeros((0, dimension), np.float32),
    )


class LearnedMeasure(msgspec.Struct, frozen=True, kw_only=True):
    """One (question, dimension): its anchors, its member model and its shared ridge."""

    anchors: MeasureAnchors
    member: MemberModel
    ridge: SharedRidge


class LearnedEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """What the model reads from one unit for one measure: the expected level, the
    probability of each level of the scale, and the most probable outcome when that is not
    an ordinary level (``contradiction``, ``irrelevant``, ``non_answer``).
    """

    level: float
    probabilities: tuple[float, ...]
    outcome: str | None
    denial: float


class LearnedRubric(msgspec.Struct, frozen=True, kw_only=True):
    """Everything method v2 fitted for one rubric."""

    measures: dict[tuple[str, str], LearnedMeasure]
    stack: StackedModel
    scale_levels: tuple[int, ...]
    class_codes: tuple[int, ...]
    method: MethodConfig

    def features(self, question_id: str, dimension_id: str, unit: TextUnit) -> NDArray[np.float64]:
        """The stacked model's input for ``unit`` read against one measure."""
        measure = self.measures[(question_id, dimension_id)]
        member = measure.member.probabilities(unit.embedding, self.class_codes)
        return unit_features(
            unit,
            measure.anchors,
            self.class_codes,
            member,
            measure.ridge.predict(unit.embedding) if len(np.unique(measure.anchors.levels)) > 1 else NO_READING,
            k=self.method.neighbours_k,
            temperature=self.method.neighbours_temperature,
        )

    def estimate(self, question_id: str, dimension_id: str, unit: TextUnit) -> LearnedEstimate:
        """Per-level probabilities of ``unit`` on one measure, and the expected level."""
        features = self.features(question_id, dimension_id, unit)
        by_class = self.stack.probabilities(features)
        by_level = np.zeros(len(self.scale_levels))
        for code, p in zip(self.class_codes, by_class, strict=True):
            by_level[self.scale_levels.index(class_level(code))] += p
        level = float(by_level @ np.asarray(self.scale_levels, dtype=np.float64))
        return LearnedEstimate(
            level=level,
            probabilities=tuple(round(float(p), 4) for p in by_level),
            outcome=class_outcome(self.class_codes[int(np.argmax(by_class))]),
            denial=float(features[-3]),
        )

    def neighbour_level(self, question_id: str, dimension_id: str, embedding: np.ndarray) -> float:
        """The similarity-weighted level of the nearest anchors: a sentence's own reading, for evidence."""
        anchors = self.measures[(question_id, dimension_id)].anchors
        similarities = (anchors.embeddings @ embedding).astype(np.float32)
        return neighbour_level(
            similarities, anchors.levels, self.method.neighbours_k, self.method.neighbours_temperature
        )


def fit_learned_rubric(rubric: Rubric, unit_of: Callable[[str], TextUnit], method: MethodConfig) -> LearnedRubric:
    """Fit members (strength by out-of-fold log-loss) and the stacked model on ``rubric``'s anchors."""
    scale_levels, class_codes, anchors = _anchors(rubric, unit_of)
    member_c, out_of_fold = _choose_member_strength(anchors, method)
    ridges = shared_ridges(anchors, rubric, method)
    data = _training_rows(anchors, out_of_fold, ridges, class_codes, rubric, method)
    stack = fit_stacked_model(data.rows, data.labels, data.groups, class_codes, method.stack_c_grid, method.seed)
    measures = {
        key: LearnedMeasure(anchors=a, member=fit_member(a.embeddings, a.classes, member_c), ridge=ridges[key].model)
        for key, a in anchors.items()
    }
    return LearnedRubric(
        measures=measures, stack=stack, scale_levels=scale_levels, class_codes=class_codes, method=method
    )


def _anchors(
    rubric: Rubric, unit_of: Callable[[str], TextUnit]
) -> tuple[tuple[int, ...], tuple[int, ...], dict[tuple[str, str], MeasureAnchors]]:
    """The scale's levels, the class codes (levels and the outcomes the rubric uses), each measure's anchors."""
    scale_levels = tuple(range(rubric.scale.min, rubric.scale.max + 1))
    outcome_codes = {class_code(r.level, r.outcome) for r in rubric.references if r.outcome}
    class_codes = tuple(sorted({class_code(level, None) for level in scale_levels} | outcome_codes))
    anchors: dict[tuple[str, str], MeasureAnchors] = {}
    for question in rubric.questions:
        for measure in question.measures:
            references = rubric.references_for(question.id, measure.dimension)
            anchors[(question.id, measure.dimension)] = MeasureAnchors.of(
                tuple(unit_of(r.text) for r in references),
                np.asarray([r.level for r in references], dtype=np.int64),
                np.asarray([class_code(r.level, r.outcome) for r in references], dtype=np.int64),
            )
    return scale_levels, class_codes, anchors


def held_out_anchor_levels(
    rubric: Rubric, unit_of: Callable[[str], TextUnit], method: MethodConfig
) -> dict[tuple[str, str, int], float]:
    """Each reference's expected level when it is held out: its features computed without it,
    read by a stacked model fitted on the other questions (grouped folds).

    Keys are (question, dimension, index among that measure's references).
    """
    _, class_codes, anchors = _anchors(rubric, unit_of)
    _, out_of_fold = _choose_member_strength(anchors, method)
    data = _training_rows(anchors, out_of_fold, shared_ridges(anchors, rubric, method), class_codes, rubric, method)
    folds = min(5, len(np.unique(data.groups)))
    result: dict[tuple[str, str, int], float] = {}
    if folds < 2:
        return result
    for train, test in GroupKFold(n_splits=folds).split(data.rows, data.labels, data.groups):
        if len(np.unique(data.labels[train])) < 2:
            continue
        stack = fit_stacked_model(
            data.rows[train], data.labels[train], data.groups[train], class_codes, method.stack_c_grid, method.seed
        )
        for row in test:
            if not data.primary[row]:
                continue
            by_class = stack.probabilities(data.rows[row])
            result[data.anchor[row]] = float(
                sum(p * class_level(c) for c, p in zip(class_codes, by_class, strict=True))
            )
    return result


OutOfFold = dict[tuple[str, str], list[dict[int, float]]]


def _choose_member_strength(
    anchors: dict[tuple[str, str], MeasureAnchors], method: MethodConfig
) -> tuple[float, OutOfFold]:
    """The member strength with the lowest pooled out-of-fold log-loss, and those predictions."""
    best: tuple[float, float, OutOfFold] | None = None
    for c in method.member_c_grid:
        folds = {key: out_of_fold_members(a.embeddings, a.classes, c, method.seed) for key, a in anchors.items()}
        loss = -sum(
            float(np.log(max(p.get(int(code), 1e-6), 1e-6)))
            for key, a in anchors.items()
            for p, code in zip(folds[key], a.classes, strict=True)
            if p
        )
        if best is None or loss < best[0]:
            best = (loss, c, folds)
    assert best is not None
    return best[1], best[2]


class TrainingRows(msgspec.Struct, frozen=True, kw_only=True):
    """The stacked model's training data: one row per anchor and view."""

    rows: NDArray[np.float64]
    labels: NDArray[np.int64]
    groups: NDArray[np.int64]
    anchor: tuple[tuple[str, str, int], ...]  # (question, dimension, index among the measure's anchors)
    primary: NDArray[np.bool_]  # the full view (not the model-answer view)


def _training_rows(
    anchors: dict[tuple[str, str], MeasureAnchors],
    out_of_fold: OutOfFold,
    ridges: dict[tuple[str, str], MeasureRidge],
    class_codes: tuple[int, ...],
    rubric: Rubric,
    method: MethodConfig,
) -> TrainingRows:
    """Each anchor against its measure without itself, and again against a few model answers
    only (as HR write them at first: up to three top-level references).
    """
    question_index = {q.id: i for i, q in enumerate(rubric.questions)}
    rng = np.random.default_rng(method.seed)
    rows: list[NDArray[np.float64]] = []
    labels: list[int] = []
    groups: list[int] = []
    which: list[tuple[str, str, int]] = []
    primary: list[bool] = []
    for key, measure in anchors.items():
        top = measure.levels == measure.levels.max() if len(measure.levels) else np.zeros(0, dtype=bool)
        for index, unit in enumerate(measure.units):
            others = np.ones(len(measure.units), dtype=bool)
            others[index] = False
            views = [(others, out_of_fold[key][index], ridges[key].held_out[index])]
            if method.model_answer_view and (top & others).any() and not top.all():
                views.append((_model_answers(top & others, rng), {}, NO_READING))
            for view, (keep, member, shared) in enumerate(views):
                which.append((key[0], key[1], index))
                primary.append(view == 0)
                rows.append(
                    unit_features(
                        unit,
                        measure,
                        class_codes,
                        member,
                        shared,
                        keep=keep,
                        k=method.neighbours_k,
                        temperature=method.neighbours_temperature,
                    )
                )
                labels.append(int(measure.classes[index]))
                groups.append(question_index[key[0]])
    return TrainingRows(
        rows=np.stack(rows),
        labels=np.asarray(labels, dtype=np.int64),
        groups=np.asarray(groups, dtype=np.int64),
        anchor=tuple(which),
        primary=np.asarray(primary, dtype=bool),
    )


MODEL_ANSWERS = 3


def _model_answers(candidates: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.bool_]:
    """At most :data:`MODEL_ANSWERS` of the ``candidates``, drawn with the seeded ``rng``."""
    chosen = np.flatnonzero(candidates)
    if len(chosen) > MODEL_ANSWERS:
        chosen = rng.choice(chosen, size=MODEL_ANSWERS, replace=False)
    keep = np.zeros_like(candidates)
    keep[chosen] = True
    return keep


class MeasureRidge(msgspec.Struct, frozen=True, kw_only=True):
    """A measure's shared ridge and its anchors' leave-one-out readings."""

    model: SharedRidge
    held_out: NDArray[np.float64]


# A measure whose references are all at one level (model answers only) gets no ridge reading:
# the ridge would mostly echo the other questions. The model-answer view is fitted the same way.
NO_READING = 0.5


def shared_ridges(
    anchors: dict[tuple[str, str], MeasureAnchors], rubric: Rubric, method: MethodConfig
) -> dict[tuple[str, str], MeasureRidge]:
    """For each measure, a ridge regression over every anchor of the rubric weighted 1, plus 1
    for the same question and 1 for the same dimension; its strength is the grid value with
    the lowest pooled leave-one-out error (closed form from the hat matrix).
    """
    low, span = rubric.scale.min, rubric.scale.span
    data = {key: (a.embeddings.astype(np.float64), (a.levels - low) / span) for key, a in anchors.items()}
    own = {key: Moments.of(x, y) for key, (x, y) in data.items()}
    zero = _zero_moments(anchors)
    total = sum(own.values(), start=zero)
    by_question: dict[str, Moments] = {}
    by_dimension: dict[str, Moments] = {}
    for (question, dimension), moments in own.items():
        by_question[question] = by_question.get(question, zero) + moments
        by_dimension[dimension] = by_dimension.get(dimension, zero) + moments
    weighted = {key: total + by_question[key[0]] + by_dimension[key[1]] for key in anchors}
    best: tuple[float, dict[tuple[str, str], MeasureRidge]] | None = None
    for alpha in method.ridge_alpha_grid:
        fitted = {key: _measure_ridge(weighted[key], data[key], alpha) for key in anchors}
        error = sum(float(((r.held_out - data[key][1]) ** 2).sum()) for key, r in fitted.items())
        if best is None or error < best[0]:
            best = (error, fitted)
    assert best is not None
    return best[1]


_OWN_WEIGHT = 3.0  # an anchor of the measure counts once, plus once each for its question and its dimension


def _measure_ridge(
    moments: Moments, data: tuple[NDArray[np.float64], NDArray[np.float64]], alpha: float
) -> MeasureRidge:
    x, y = data
    model, held_out = fit_shared_ridge(moments, alpha, x, y, _OWN_WEIGHT)
    return MeasureRidge(model=model, held_out=held_out)


def _zero_moments(anchors: dict[tuple[str, str], MeasureAnchors]) -> Moments:
    size = next(iter(anchors.values())).embeddings.shape[1]
    return Moments(weight=0.0, x=np.zeros(size), xx=np.zeros((size, size)), y=0.0, xy=np.zeros(size))
