"""A rubric made ready to score against: reference and red-flag texts analysed and encoded.

Preparation runs once per (rubric fingerprint, model); embeddings of rubric texts come
from the on-disk cache when it has them.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from screening.anchor import AnchorSet, LevelModel, fit_level_model
from screening.encoder import Encoder
from screening.method import MethodConfig
from screening.rubric import Rubric, rubric_fingerprint
from screening.text import TextAnalysis, TextAnalyzer

__all__ = ["PreparedMeasure", "PreparedQuestion", "PreparedRubric", "prepare_rubric"]


class PreparedMeasure(msgspec.Struct, frozen=True, kw_only=True):
    """One dimension of one question: its weight, anchors and red flags."""

    dimension_id: str
    weight: float
    anchors: AnchorSet
    model: LevelModel
    red_flags: AnchorSet


class PreparedQuestion(msgspec.Struct, frozen=True, kw_only=True):
    """A question with its prompt's words and every reference of every dimension it measures."""

    question_id: str
    prompt_lemmas: tuple[str, ...]
    measures: tuple[PreparedMeasure, ...]
    reference_lemmas: tuple[tuple[str, ...], ...]
    all_references: AnchorSet


class PreparedRubric(msgspec.Struct, frozen=True, kw_only=True):
    """A rubric ready for scoring."""

    rubric: Rubric
    fingerprint: str
    questions: dict[str, PreparedQuestion]


def _anchor_set(
    texts: Sequence[str], levels: Sequence[int], vectors: dict[str, np.ndarray], analyses: dict[str, TextAnalysis], dim: int
) -> AnchorSet:
    embeddings = np.stack([vectors[t] for t in texts]) if texts else np.zeros((0, dim), dtype=np.float32)
    return AnchorSet(
        texts=tuple(texts),
        levels=np.asarray(levels, dtype=np.int64),
        embeddings=embeddings.astype(np.float32),
        polarities=np.asarray([_polarity(analyses[t]) for t in texts], dtype=np.int64),
    )


def _polarity(analysis: TextAnalysis) -> int:
    return sum(s.polarity for s in analysis.sentences) % 2


def _level_model(rubric: Rubric, question_id: str, dimension_id: str, vectors: dict[str, np.ndarray], method: MethodConfig) -> LevelModel:
    """Ridge regression over all references, weighted towards this question and dimension."""
    refs = rubric.references
    weights = np.asarray(
        [
            1.0
            + method.same_question_weight * (r.question == question_id)
            + method.same_dimension_weight * (r.dimension == dimension_id)
            for r in refs
        ],
        dtype=np.float64,
    )
    embeddings = np.stack([vectors[r.text] for r in refs])
    levels = np.asarray([r.level for r in refs], dtype=np.int64)
    return fit_level_model(embeddings, levels, weights, method.ridge_alpha)


def prepare_rubric(rubric: Rubric, encoder: Encoder, analyzer: TextAnalyzer, method: MethodConfig) -> PreparedRubric:
    """Analyse and encode every reference, red flag and prompt of ``rubric`` (in one batch),
    and fit each (question, dimension)'s level model."""
    texts = sorted({r.text for r in rubric.references} | {t for f in rubric.red_flags for t in f.texts})
    vectors = dict(zip(texts, encoder.encode(texts), strict=True))
    analyses = dict(zip(texts, analyzer.analyze_many(texts), strict=True))
    prompts = dict(zip([q.id for q in rubric.questions], analyzer.analyze_many(q.prompt for q in rubric.questions), strict=True))
    dim = next(iter(vectors.values())).shape[0] if vectors else 0
    questions: dict[str, PreparedQuestion] = {}
    for question in rubric.questions:
        measures = []
        for measure in question.measures:
            references = rubric.references_for(question.id, measure.dimension)
            flags = rubric.red_flags_for(question.id, measure.dimension)
            measures.append(
                PreparedMeasure(
                    dimension_id=measure.dimension,
                    weight=measure.weight,
                    anchors=_anchor_set([r.text for r in references], [r.level for r in references], vectors, analyses, dim),
                    model=_level_model(rubric, question.id, measure.dimension, vectors, method),
                    red_flags=_anchor_set(list(flags), [rubric.scale.min] * len(flags), vectors, analyses, dim),
                )
            )
        question_refs = [r for r in rubric.references if r.question == question.id]
        questions[question.id] = PreparedQuestion(
            question_id=question.id,
            prompt_lemmas=prompts[question.id].lemmas,
            measures=tuple(measures),
            reference_lemmas=tuple(analyses[r.text].lemmas for r in question_refs),
            all_references=_anchor_set(
                [r.text for r in question_refs], [r.level for r in question_refs], vectors, analyses, dim
            ),
        )
    return PreparedRubric(rubric=rubric, fingerprint=rubric_fingerprint(rubric), questions=questions)
