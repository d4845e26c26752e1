"""The engine's entry point: candidates' answers + rubric -> explainable reports.

One way through: validate the answers against the rubric, analyse the texts (spaCy),
run text guards, encode every unit of every answer in one batch, score each dimension of
each answer, run similarity guards, aggregate, and record what made the score.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

import msgspec
import numpy as np

from screening.aggregate import dimension_scores, overall_score
from screening.bounded_cache import BoundedCache
from screening.encoder import Encoder, encoder_identity
from screening.errors import InvalidInput, Problem
from screening.guards import NO_BEHAVIOUR, UNSCORABLE, similarity_guards, text_guards
from screening.inputs import validate_answers
from screening.learned import text_unit, unit_texts
from screening.method import DEFAULT_METHOD, MethodConfig
from screening.prepared import PreparedMeasure, PreparedQuestion, PreparedRubric, prepare_rubric
from screening.report import (
    AnswerDimension,
    AnswerReport,
    CandidateAnswers,
    CandidateReport,
    Correction,
    Provenance,
    Reason,
    ScaleInfo,
)
from screening.rubric import Rubric, rubric_fingerprint
from screening.scoring import (
    DimensionPlan,
    Reader,
    Unit,
    plan_dimension,
    relevant_sentences,
    score_dimension,
    score_dimension_learned,
)
from screening.text import TextAnalysis, TextAnalyzer

__all__ = ["PREPARED_RUBRICS_KEPT", "EncodeObserver", "Scorer", "engine_version", "validate_answers"]

PREPARED_RUBRICS_KEPT = 32


class EncodeObserver(Protocol):
    """Told the size of each batch of answer texts the scorer encodes (for metrics)."""

    def __call__(self, batch_size: int) -> None:
        """One encode call of ``batch_size`` (> 0) texts."""
        ...


def engine_version() -> str:
    """The installed version of this package."""
    try:
        return version("attitude-screening")
    except PackageNotFoundError:
        return "0+unknown"


class Scorer:
    """Scores candidates against rubrics with one encoder, one text analyser and one method."""

    def __init__(
        self,
        encoder: Encoder,
        analyzer: TextAnalyzer,
        *,
        reference_encoder: Encoder | None = None,
        method: MethodConfig = DEFAULT_METHOD,
        prepared_capacity: int = PREPARED_RUBRICS_KEPT,
    ) -> None:
        self.encoder = encoder
        self.reference_encoder = reference_encoder or encoder
        self.analyzer = analyzer
        self.method = method
        self._prepared: BoundedCache[str, PreparedRubric] = BoundedCache(prepared_capacity)
        self._rubric_text_analyses: dict[str, TextAnalysis] = {}
        self._observers: tuple[EncodeObserver, ...] = ()
        self._observers_lock = threading.Lock()

    def prepare(self, rubric: Rubric) -> PreparedRubric:
        """The rubric analysed and encoded, kept in memory by fingerprint (the least recently
        used of more than ``prepared_capacity`` rubrics is dropped); prepared once across threads.
        """
        return self._prepared.get_or_build(
            rubric_fingerprint(rubric),
            lambda: prepare_rubric(rubric, self.reference_encoder, self._analyze_rubric_texts, self.method),
        )

    def forget(self, rubric: Rubric) -> None:
        """Drop a prepared rubric from memory (a one-off variant, or a retired version)."""
        self._prepared.discard(rubric_fingerprint(rubric))

    def prepared_fingerprints(self) -> list[str]:
        """Fingerprints of the rubrics held prepared, least recently used first."""
        return self._prepared.keys()

    @property
    def encode_observers(self) -> tuple[EncodeObserver, ...]:
        """The observers told the size of each batch of answer texts encoded."""
        return self._observers

    def add_encode_observer(self, observer: EncodeObserver) -> None:
        """Tell ``observer`` the size of each batch of answer texts encoded (once, however often added)."""
        with self._observers_lock:
            if observer not in self._observers:
                self._observers = (*self._observers, observer)

    def remove_encode_observer(self, observer: EncodeObserver) -> None:
        """Stop telling ``observer``."""
        with self._observers_lock:
            self._observers = tuple(o for o in self._observers if o != observer)

    def _analyze_rubric_texts(self, texts: list[str]) -> list[TextAnalysis]:
        """Text analyses of rubric texts, remembered across rubric versions that share them."""
        memo = self._rubric_text_analyses
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        memo.update(zip(missing, self.analyzer.analyze_many(missing), strict=True))
        return [memo[t] for t in texts]

    def provenance(self, prepared: PreparedRubric) -> Provenance:
        """What makes this scorer's scores for ``prepared``."""
        rubric = prepared.rubric
        identity = encoder_identity(self.encoder)
        return Provenance(
            rubric_id=rubric.id,
            rubric_version=rubric.version,
            rubric_fingerprint=prepared.fingerprint,
            model_id=self.encoder.model_id,
            model_weights_sha256=identity.source_weights_sha256,
            method=self.method.method_id,
            text_pipeline=self.analyzer.pipeline_id,
            engine_version=engine_version(),
            encoder_backend=identity.backend,
            encoder_graph_sha256=identity.graph_sha256,
            calibration=rubric.calibration,
        )

    def score(self, rubric: Rubric, candidate: CandidateAnswers) -> CandidateReport:
        """Score one candidate."""
        return self.score_many(rubric, [candidate])[0]

    def score_many(
        self,
        rubric: Rubric,
        candidates: Sequence[CandidateAnswers],
        *,
        chunk_size: int = 64,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[CandidateReport]:
        """Score candidates, encoding ``chunk_size`` candidates' answers per batch."""
        problems = [p for i, c in enumerate(candidates) for p in validate_answers(rubric, c, f"[{i}].")]
        if problems:
            raise InvalidInput(problems if len(candidates) > 1 else [_unprefixed(p) for p in problems])
        prepared = self.prepare(rubric)
        provenance = self.provenance(prepared)
        reports: list[CandidateReport] = []
        for start in range(0, len(candidates), chunk_size):
            chunk = candidates[start : start + chunk_size]
            reports.extend(self._score_chunk(prepared, provenance, chunk))
            if on_progress:
                on_progress(len(chunk))
        return reports

    def _score_chunk(
        self, prepared: PreparedRubric, provenance: Provenance, candidates: Sequence[CandidateAnswers]
    ) -> list[CandidateReport]:
        answers = [a for c in candidates for a in c.answers]
        analyses = self.analyzer.analyze_many((a.text for a in answers), prepared.vocabulary)
        vectors = self._encode_new({}, {t for analysis in analyses for t in unit_texts(analysis)})
        plans = [
            self._plan_answer(prepared, prepared.question(a.question_id), analysis, vectors)
            for a, analysis in zip(answers, analyses, strict=True)
        ]
        self._encode_new(vectors, {p.core_text for plan in plans if plan for p in plan[1] if p.core_text})
        results = iter(
            self._score_answer(prepared, prepared.question(a.question_id), analysis, plan, vectors)
            for a, analysis, plan in zip(answers, analyses, plans, strict=True)
        )
        return [self._candidate_report(prepared, provenance, c, [next(results) for _ in c.answers]) for c in candidates]

    def _encode_new(self, vectors: dict[str, np.ndarray], texts: set[str]) -> dict[str, np.ndarray]:
        """Add embeddings of the ``texts`` not yet in ``vectors``, encoded in one batch."""
        missing = sorted(texts - vectors.keys())
        if missing:
            vectors.update(zip(missing, self.encoder.encode(missing), strict=True))
            for observer in self._observers:
                observer(len(missing))
        return vectors

    def _plan_answer(
        self,
        prepared: PreparedRubric,
        question: PreparedQuestion,
        analysis: TextAnalysis,
        vectors: dict[str, np.ndarray],
    ) -> tuple[list[Unit], list[DimensionPlan]] | None:
        if not analysis.sentences:
            return None
        units = _units(analysis, vectors)
        kept = relevant_sentences(units, question, self.method)
        whole = analysis.text.strip()
        plans = [
            plan_dimension(units, kept, whole, m, prepared.rubric, self.method, self._reader(prepared, question, m))
            for m in question.measures
        ]
        return units, plans

    def _reader(self, prepared: PreparedRubric, question: PreparedQuestion, measure: PreparedMeasure) -> Reader | None:
        """Method v2's reading of an embedding against one measure's anchors (``None`` for v1)."""
        if not self.method.learned:
            return None
        learned = prepared.learned
        return lambda embedding: learned.neighbour_level(question.question_id, measure.dimension_id, embedding)

    def _score_answer(
        self,
        prepared: PreparedRubric,
        question: PreparedQuestion,
        analysis: TextAnalysis,
        plan: tuple[list[Unit], list[DimensionPlan]] | None,
        vectors: dict[str, np.ndarray],
    ) -> AnswerReport:
        reasons = text_guards(analysis, question, self.method)
        dimensions: list[AnswerDimension] = []
        if plan is not None and not any(r.code in UNSCORABLE for r in reasons):
            units, plans = plan
            relevance = -1.0
            for measure, dimension_plan in zip(question.measures, plans, strict=True):
                scored, best = self._score_dimension(
                    prepared, question, measure, analysis, units, dimension_plan, vectors, counted=not reasons
                )
                dimensions.append(scored)
                relevance = max(relevance, best)
            reasons += similarity_guards(analysis, vectors[analysis.text.strip()], relevance, question, self.method)
            reasons += _learned_outcome_reasons(dimensions, question.question_id, reasons)
            if reasons:
                no_behaviour = any(r.code in NO_BEHAVIOUR for r in reasons)
                dimensions = [_uncounted(d, prepared.rubric if no_behaviour else None) for d in dimensions]
        else:
            dimensions = [_unscored(m.dimension_id) for m in question.measures]
        return AnswerReport(
            question_id=question.question_id,
            status="needs_review" if reasons else "scored",
            outcome=_answer_outcome(reasons, dimensions),
            word_count=analysis.word_count,
            sentence_count=len(analysis.sentences),
            reasons=tuple(reasons),
            dimensions=tuple(dimensions),
            deflection_cues=tuple(c for s in analysis.sentences for c in s.deflection_cues),
            agency_cues=tuple(c for s in analysis.sentences for c in s.agency_cues),
            spelling_corrections=tuple(Correction(written=w, corrected=c) for w, c in analysis.corrections),
        )

    def _score_dimension(
        self,
        prepared: PreparedRubric,
        question: PreparedQuestion,
        measure: PreparedMeasure,
        analysis: TextAnalysis,
        units: list[Unit],
        plan: DimensionPlan,
        vectors: dict[str, np.ndarray],
        *,
        counted: bool,
    ) -> tuple[AnswerDimension, float]:
        """One dimension of one answer, by the scorer's method."""
        rubric = prepared.rubric
        reader = self._reader(prepared, question, measure)
        if reader is not None:
            core = text_unit(analysis, vectors, sentences=list(plan.kept), core_text=plan.core_text or None)
            return score_dimension_learned(
                units, plan, core, prepared.learned, reader, question, measure, rubric, self.method, counted=counted
            )
        core_vector = vectors.get(plan.core_text) if plan.core_text else None
        return score_dimension(units, plan, core_vector, question, measure, rubric, self.method, counted=counted)

    def _candidate_report(
        self,
        prepared: PreparedRubric,
        provenance: Provenance,
        candidate: CandidateAnswers,
        answers: list[AnswerReport],
    ) -> CandidateReport:
        rubric = prepared.rubric
        dimensions = dimension_scores(rubric, answers)
        overall = overall_score(rubric, dimensions)
        reasons = [r for a in answers for r in a.reasons]
        answered = {a.question_id for a in candidate.answers}
        missing = [q.id for q in rubric.questions if q.id not in answered]
        notes = [Reason(code="unanswered", detail=f"Not answered: {', '.join(missing)}.")] if missing else []
        return CandidateReport(
            candidate_id=candidate.candidate_id,
            status="needs_review" if reasons or overall.level is None else "scored",
            reasons=tuple(reasons + notes),
            overall=overall,
            dimensions=dimensions,
            answers=tuple(answers),
            scale=ScaleInfo(min=rubric.scale.min, max=rubric.scale.max, labels=rubric.scale.labels),
            provenance=provenance,
        )


_REVIEWED_OUTCOMES = {"irrelevant": "on the subject, but no answer to the question", "non_answer": "a non-answer"}


def _learned_outcome_reasons(
    dimensions: list[AnswerDimension], question_id: str, reasons: list[Reason]
) -> list[Reason]:
    """A review reason when most dimensions read the answer as irrelevant or a non-answer."""
    if reasons or not dimensions:
        return []
    for outcome, meaning in _REVIEWED_OUTCOMES.items():
        if sum(d.outcome == outcome for d in dimensions) * 2 > len(dimensions):
            return [Reason(code=outcome, detail=f"The answer reads as {meaning}.", question_id=question_id)]
    return []


def _answer_outcome(reasons: list[Reason], dimensions: list[AnswerDimension]) -> str:
    """What the answer is: the first outcome a reason names, else a contradiction if any dimension is one."""
    codes = {r.code for r in reasons}
    for code, outcome in (("empty", "unscorable"), ("not_english", "unscorable"), ("non_answer", "non_answer"),
                          ("irrelevant", "irrelevant"), ("off_topic", "off_topic")):  # fmt: skip
        if code in codes:
            return outcome
    return "contradiction" if any(d.outcome == "contradiction" for d in dimensions) else "level"


def _unprefixed(problem: Problem) -> Problem:
    return Problem(location=problem.location.removeprefix("[0]."), message=problem.message)


def _units(analysis: TextAnalysis, vectors: dict[str, np.ndarray]) -> list[Unit]:
    return [
        Unit(
            sentence_index=s.index,
            text=s.text,
            embedding=vectors[s.text],
            polarity=s.polarity,
            negation_cues=s.negation_cues,
            affirmed_clauses=s.affirmed_clauses,
            affirmed_embeddings=tuple(vectors[c] for c in s.affirmed_clauses),
        )
        for s in analysis.sentences
    ]


def _uncounted(dimension: AnswerDimension, lowest_of: Rubric | None = None) -> AnswerDimension:
    """The provisional level stays visible, with zero confidence; it is not aggregated.

    With ``lowest_of``, the answer describes no behaviour (a list of words): its level is the
    scale's minimum, since every level above it is defined by what a candidate would do.
    """
    if lowest_of is None:
        return msgspec.structs.replace(dimension, confidence=0.0, provisional=True)
    scale = lowest_of.scale
    return msgspec.structs.replace(
        dimension,
        level=float(scale.min),
        label=scale.label(scale.min),
        confidence=0.0,
        provisional=True,
        rationale=f"The answer is a list of words that describes no behaviour, so it stays at {scale.min}; "
        f"read without that rule it would be {dimension.level}.",
    )


def _unscored(dimension_id: str) -> AnswerDimension:
    return AnswerDimension(
        dimension_id=dimension_id,
        level=None,
        label=None,
        confidence=0.0,
        rationale="Not scored: see the answer's reasons.",
    )
