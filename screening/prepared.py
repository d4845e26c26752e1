"""A rubric made ready to score against: reference and red-flag texts analysed and encoded.

Preparation runs once per (rubric fingerprint, model); embeddings of rubric texts come
from the on-disk cache when it has them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence

import msgspec
import numpy as np

from screening.anchor import AnchorSet, LevelModel, fit_level_model
from screening.encoder import Encoder
from screening.learned import LearnedRubric, fit_learned_rubric, text_unit, unit_texts
from screening.method import MethodConfig
from screening.rubric import Question, Rubric, rubric_fingerprint
from screening.stacked import TextUnit
from screening.text import TextAnalysis, lower_words

__all__ = ["PreparedMeasure", "PreparedQuestion", "PreparedRubric", "prepare_rubric"]

_WORDS = re.compile(r"[A-Za-z]+")


class PreparedMeasure(msgspec.Struct, frozen=True, kw_only=True):
    """One dimension of one question: its weight, anchors and red flags."""

    dimension_id: str
    weight: float
    anchors: AnchorSet
    model: LevelModel | None  # method v1's level model; v2 reads levels from ``PreparedRubric.learned``
    red_flags: AnchorSet


class PreparedQuestion(msgspec.Struct, frozen=True, kw_only=True):
    """A question with its prompt's words and every reference of every dimension it measures."""

    question_id: str
    prompt_lemmas: tuple[str, ...]
    prompt_words: tuple[str, ...]
    measures: tuple[PreparedMeasure, ...]
    reference_lemmas: tuple[tuple[str, ...], ...]
    all_references: AnchorSet
    typical_similarity: float

    def off_topic_floor(self, method: MethodConfig) -> float:
        """Relevance below which an answer or sentence does not engage with this question."""
        return method.off_topic_share * self.typical_similarity


class PreparedRubric:
    """A rubric ready for scoring: texts analysed and encoded once; each question's level
    models fitted the first time that question is scored (or all at once by :meth:`warm`).
    """

    def __init__(
        self,
        rubric: Rubric,
        vectors: dict[str, np.ndarray],
        analyses: dict[str, TextAnalysis],
        prompts: dict[str, TextAnalysis],
        method: MethodConfig,
    ) -> None:
        self.rubric = rubric
        self.fingerprint = rubric_fingerprint(rubric)
        self._vectors = vectors
        self._analyses = analyses
        self._prompts = prompts
        self._method = method
        self._dim = next(iter(vectors.values())).shape[0] if vectors else 0
        self._questions: dict[str, PreparedQuestion] = {}
        self._learned: LearnedRubric | None = None
        self._vocabulary: frozenset[str] | None = None
        self._lock = threading.Lock()

    def unit(self, text: str) -> TextUnit:
        """A reference text as method v2 reads it."""
        return text_unit(self._analyses[text], self._vectors)

    @property
    def learned(self) -> LearnedRubric:
        """Method v2's models for this rubric, fitted on first use."""
        with self._lock:
            if self._learned is None:
                self._learned = fit_learned_rubric(self.rubric, self.unit, self._method)
            return self._learned

    def question(self, question_id: str) -> PreparedQuestion:
        """The prepared question, built on first use."""
        with self._lock:
            if question_id not in self._questions:
                self._questions[question_id] = self._prepare_question(self.rubric.question(question_id))
            return self._questions[question_id]

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every lowercase word of the rubric's prompts, references and red flags."""
        if self._vocabulary is None:
            rubric = self.rubric
            texts = [q.prompt for q in rubric.questions] + [r.text for r in rubric.references]
            texts += [t for flags in rubric.red_flags for t in flags.texts]
            self._vocabulary = frozenset(w.lower() for t in texts for w in _WORDS.findall(t))
        return self._vocabulary

    def warm(self) -> None:
        """Prepare every question (and the learned models) now: a server does this at start-up."""
        for question in self.rubric.questions:
            self.question(question.id)
        if self._method.learned:
            _ = self.learned

    def _anchors(self, texts: Sequence[str], levels: Sequence[int]) -> AnchorSet:
        return _anchor_set(texts, levels, self._vectors, self._analyses, self._dim)

    def _prepare_question(self, question: Question) -> PreparedQuestion:
        rubric = self.rubric
        measures = []
        for measure in question.measures:
            references = rubric.references_for(question.id, measure.dimension)
            flags = rubric.red_flags_for(question.id, measure.dimension)
            measures.append(
                PreparedMeasure(
                    dimension_id=measure.dimension,
                    weight=measure.weight,
                    anchors=self._anchors([r.text for r in references], [r.level for r in references]),
                    model=None
                    if self._method.learned
                    else _level_model(rubric, question.id, measure.dimension, self._vectors, self._method),
                    red_flags=self._anchors(list(flags), [rubric.scale.min] * len(flags)),
                )
            )
        question_refs = [r for r in rubric.references if r.question == question.id]
        all_references = self._anchors([r.text for r in question_refs], [r.level for r in question_refs])
        return PreparedQuestion(
            question_id=question.id,
            prompt_lemmas=self._prompts[question.id].lemmas,
            prompt_words=tuple(lower_words(question.prompt)),
            measures=tuple(measures),
            reference_lemmas=tuple(self._analyses[r.text].lemmas for r in question_refs),
            all_references=all_references,
            typical_similarity=_typical_similarity(all_references.embeddings),
        )


def _anchor_set(
    texts: Sequence[str],
    levels: Sequence[int],
    vectors: dict[str, np.ndarray],
    analyses: dict[str, TextAnalysis],
    dim: int,
) -> AnchorSet:
    embeddings = np.stack([vectors[t] for t in texts]) if texts else np.zeros((0, dim), dtype=np.float32)
    return AnchorSet(
        texts=tuple(texts),
        levels=np.asarray(levels, dtype=np.int64),
        embeddings=embeddings.astype(np.float32),
        polarities=np.asarray([_polarity(analyses[t]) for t in texts], dtype=np.int64),
    )


def _typical_similarity(embeddings: np.ndarray) -> float:
    """Median similarity of each reference to its nearest other reference of the question."""
    if len(embeddings) < 2:
        return 1.0
    similarities = embeddings @ embeddings.T
    np.fill_diagonal(similarities, -1.0)
    return float(np.median(similarities.max(axis=1)))


def _polarity(analysis: TextAnalysis) -> int:
    return sum(s.polarity for s in analysis.sentences) % 2


def _level_model(
    rubric: Rubric, question_id: str, dimension_id: str, vectors: dict[str, np.ndarray], method: MethodConfig
) -> LevelModel:
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
    return fit_level_model(embeddings, levels, weights, method.ridge_alpha, method.max_stretch)


def prepare_rubric(
    rubric: Rubric, encoder: Encoder, analyze: Callable[[list[str]], list[TextAnalysis]], method: MethodConfig
) -> PreparedRubric:
    """Analyse and encode every reference, red flag and prompt of ``rubric`` in one batch
    (with method v2, every sentence and denied clause of the references too).
    """
    texts = sorted({r.text for r in rubric.references} | {t for f in rubric.red_flags for t in f.texts})
    analyses = dict(zip(texts, analyze(texts), strict=True))
    wanted = set(texts)
    if method.learned:
        wanted |= {t for text in texts for t in unit_texts(analyses[text])}
    ordered = sorted(wanted)
    vectors = dict(zip(ordered, encoder.encode(ordered), strict=True))
    prompts = dict(zip([q.id for q in rubric.questions], analyze([q.prompt for q in rubric.questions]), strict=True))
    return PreparedRubric(rubric, vectors, analyses, prompts, method)
