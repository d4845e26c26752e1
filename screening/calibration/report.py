"""The agreement report: how well the model agrees with HR's ratings, before and after calibrating.

- **before**: the rubric as it is scores every gold answer (it never saw them);
- **after**: K-fold cross-validation grouped by candidate: each fold's answers are scored by a
  version of the rubric whose anchors are its references plus the gold answers of the *other*
  folds, so no answer is ever scored by a model that saw it (checked in code);
- **raters**: the two raters against each other, where two rated (the ceiling the model is
  held against);
- **length**: Spearman of word count with the human level and with the model's levels;
- the largest disagreements (after) with the model's evidence, and lint of the calibrated
  anchors: near-identical anchors at different levels, levels with few anchors, dimensions
  whose levels the model does not tell apart on held-out answers.

Gold answers are never written to the on-disk embedding cache: the cross-validation scores
with a view of the scorer that keeps their embeddings in memory only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

import msgspec
import numpy as np

from screening.calibration.agreement import DEFAULT_RESAMPLES, Agreement, agreement, rounded_levels, spearman
from screening.calibration.errors import CalibrationError
from screening.calibration.fit import with_anchors
from screening.calibration.gold import GoldAnswer, GoldRating, GoldSet, gold_candidates, normalised_text
from screening.encoder import CachingEncoder, EmbeddingCache, Embeddings, Encoder, EncoderWrapper
from screening.report import AnswerDimension, CandidateReport
from screening.rubric import Rubric, rubric_fingerprint
from screening.scorer import Scorer

__all__ = [
    "INDISTINCT_SPEARMAN",
    "MIN_ANCHORS_PER_LEVEL",
    "NEAR_DUPLICATE_COSINE",
    "TOP_DISAGREEMENTS",
    "CalibrationReport",
    "DimensionAgreement",
    "Disagreement",
    "Fold",
    "LengthCorrelation",
    "LintFinding",
    "RatedPoint",
    "calibration_report",
    "cross_validation_folds",
    "gold_safe_scorer",
    "quote_text",
    "without_candidates",
]

NEAR_DUPLICATE_COSINE = 0.95
MIN_ANCHORS_PER_LEVEL = 3
INDISTINCT_SPEARMAN = 0.1
TOP_DISAGREEMENTS = 10
LINT_LISTED = 20  # per kind; past it, one finding says how many more


class LengthCorrelation(msgspec.Struct, frozen=True, kw_only=True):
    """Spearman of word count with the human level and with the model's level (length contamination)."""

    human: float | None
    before: float | None
    after: float | None


class DimensionAgreement(msgspec.Struct, frozen=True, kw_only=True):
    """A dimension's (or ``overall``: every rating pooled) agreement figures."""

    dimension_id: str
    before: Agreement
    after: Agreement
    raters: Agreement | None
    length: LengthCorrelation


class Disagreement(msgspec.Struct, frozen=True, kw_only=True):
    """A rated answer the cross-validated model read far from the human level, and why."""

    line: int
    candidate_id: str
    question_id: str
    dimension_id: str
    human_level: float
    model_level: float
    text: str
    evidence: str
    rationale: str


LintKind = Literal["near_duplicate_anchors", "few_anchors", "levels_not_told_apart"]


class RatedPoint(msgspec.Struct, frozen=True, kw_only=True):
    """One rated (answer, dimension): the human level (raters' mean) and the model's before and after
    (cross-validated) levels, ``None`` where unscored. No candidate, answer text or line: the points
    describe the agreement the way the confusion matrices do, and identify no one.
    """

    dimension_id: str
    human: float
    before: float | None
    after: float | None


class LintFinding(msgspec.Struct, frozen=True, kw_only=True):
    """Something in the calibrated anchors HR should look at."""

    kind: LintKind
    location: str
    message: str


class CalibrationReport(msgspec.Struct, frozen=True, kw_only=True):
    """Agreement of the model with HR's ratings before and after calibration (JSON-serialisable)."""

    rubric_id: str
    rubric_version: str
    rubric_fingerprint: str
    gold_digest: str
    method: str
    model_id: str
    scale_min: int
    scale_max: int
    folds: int
    seed: int
    resamples: int
    answers: int
    candidates: int
    ratings: int
    second_ratings: int
    unscored_before: int
    unscored_after: int
    dimensions: tuple[DimensionAgreement, ...]
    overall: DimensionAgreement
    disagreements: tuple[Disagreement, ...]
    lint: tuple[LintFinding, ...]
    points: tuple[RatedPoint, ...] = ()  # per rated answer, for the agreement plots (absent in older reports)


class Fold(msgspec.Struct, frozen=True, kw_only=True):
    """One fold of the cross-validation: the rubric it is scored with, and its held-out answers."""

    index: int
    rubric: Rubric
    held_out: tuple[GoldAnswer, ...]


class _MemoryEncoder(EncoderWrapper):
    """Embeddings kept in memory; the disk cache is read, never written (gold texts stay off disk)."""

    def __init__(self, inner: Encoder, cache: EmbeddingCache | None) -> None:
        super().__init__(inner)
        self.cache = cache
        self._memo: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Vectors from memory, then from the disk cache, then from the model."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing and self.cache is not None:
            self._memo.update(self.cache.get_many(f"{self.model_id}@{self.weights_sha256}", missing))
            missing = [t for t in missing if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self.inner.encode(missing), strict=True))
        if not texts:
            return self.inner.encode([])
        return np.stack([self._memo[t] for t in texts]).astype(np.float32)


def gold_safe_scorer(scorer: Scorer) -> Scorer:
    """A scorer like ``scorer`` whose rubric embeddings (gold anchors among them) are kept in memory only."""
    reference = scorer.reference_encoder
    if isinstance(reference, CachingEncoder):
        encoder = _MemoryEncoder(reference.inner, reference.cache)
    else:
        encoder = _MemoryEncoder(reference, None)
    return Scorer(scorer.encoder, scorer.analyzer, reference_encoder=encoder, method=scorer.method)


def cross_validation_folds(rubric: Rubric, gold: GoldSet, folds: int = 5, seed: int = 0) -> list[Fold]:
    """Folds grouped by candidate (a seeded shuffle of the candidates, dealt round-robin), each with
    a rubric holding the original references and the other folds' gold answers as anchors. A text
    held out of a fold is never among its anchors, even when another candidate wrote the same words.
    """
    candidates = sorted(gold.candidate_ids)
    count = min(folds, len(candidates))
    if count < 2:
        raise CalibrationError(f"cross-validation needs gold from at least 2 candidates ({len(candidates)} given)")
    order = np.random.default_rng(seed).permutation(len(candidates))
    fold_of = {candidates[index]: position % count for position, index in enumerate(order)}
    result = []
    for k in range(count):
        held = tuple(a for a in gold.answers if fold_of[a.candidate_id] == k)
        train = [a for a in gold.answers if fold_of[a.candidate_id] != k]
        held_texts = frozenset(normalised_text(a.text) for a in held)
        fold_rubric = with_anchors(rubric, train, f"{rubric.version}+cv{k + 1}", exclude_texts=held_texts)
        anchors = fold_rubric.references[len(rubric.references) :]
        if any(normalised_text(r.text) in held_texts for r in anchors):
            raise AssertionError(f"fold {k + 1}: a held-out answer is among the training anchors")
        result.append(Fold(index=k, rubric=fold_rubric, held_out=held))
    return result


class _Item(msgspec.Struct, frozen=True, kw_only=True):
    """One rated (answer, dimension) with the model's readings of it."""

    answer: GoldAnswer
    rating: GoldRating
    words: int
    before: AnswerDimension | None
    after: AnswerDimension | None


def calibration_report(
    scorer: Scorer,
    rubric: Rubric,
    gold: GoldSet,
    folds: int = 5,
    seed: int = 0,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    on_progress: Callable[[str], None] | None = None,
) -> CalibrationReport:
    """Agreement of ``scorer`` with ``gold`` on ``rubric`` as it is (before) and calibrated with the
    gold, cross-validated by candidate (after); intervals from ``resamples`` seeded bootstrap draws.
    """
    if (gold.rubric_id, gold.rubric_version) != (rubric.id, rubric.version):
        raise CalibrationError(
            f"the gold was checked against {gold.rubric_id} {gold.rubric_version}, not {rubric.id} {rubric.version}"
        )
    say = on_progress or (lambda _: None)
    split = cross_validation_folds(rubric, gold, folds, seed)
    say(f"before: scoring {len(gold.answers)} answers with {rubric.id} {rubric.version} as it is")
    before = {r.candidate_id: r for r in scorer.score_many(rubric, gold_candidates(gold.answers))}
    private = gold_safe_scorer(scorer)
    after: dict[str, CandidateReport] = {}
    for fold in split:
        say(f"after: fold {fold.index + 1}/{len(split)}: {len(fold.held_out)} held-out answers")
        for report in private.score_many(fold.rubric, gold_candidates(fold.held_out)):
            after[report.candidate_id] = report
        private.forget(fold.rubric)
    items = _items(gold, before, after)
    say(f"agreement: {resamples} bootstrap resamples of {len(gold.candidate_ids)} candidates")
    dimensions = [
        _dimension_agreement(d.id, [i for i in items if i.rating.dimension_id == d.id], rubric, resamples, seed)
        for d in rubric.dimensions
        if any(i.rating.dimension_id == d.id for i in items)
    ]
    overall = _dimension_agreement("overall", items, rubric, resamples, seed)
    return CalibrationReport(
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        rubric_fingerprint=rubric_fingerprint(rubric),
        gold_digest=gold.digest,
        method=scorer.method.method_id,
        model_id=scorer.encoder.model_id,
        scale_min=rubric.scale.min,
        scale_max=rubric.scale.max,
        folds=len(split),
        seed=seed,
        resamples=resamples,
        answers=len(gold.answers),
        candidates=len(gold.candidate_ids),
        ratings=gold.rating_count,
        second_ratings=gold.second_ratings,
        unscored_before=sum(_level(i.before) is None for i in items),
        unscored_after=sum(_level(i.after) is None for i in items),
        dimensions=tuple(dimensions),
        overall=overall,
        disagreements=_disagreements(items),
        lint=_lint(private, rubric, gold, dimensions, items),
        points=tuple(_point(i) for i in items),
    )


def without_candidates(report: CalibrationReport, candidate_ids: set[str], texts: Sequence[str]) -> CalibrationReport:
    """``report`` without what quotes the answers of erased candidates: their disagreements, and lint
    findings citing their ``texts``. The aggregate figures stay (they identify no one).
    """
    quotes = [quote_text(t) for t in texts]
    return msgspec.structs.replace(
        report,
        disagreements=tuple(d for d in report.disagreements if d.candidate_id not in candidate_ids),
        lint=tuple(f for f in report.lint if not any(q in f.message for q in quotes)),
    )


def _level(dimension: AnswerDimension | None) -> float | None:
    return None if dimension is None else dimension.level


def _items(gold: GoldSet, before: dict[str, CandidateReport], after: dict[str, CandidateReport]) -> list[_Item]:
    def reading(report: CandidateReport, answer: GoldAnswer, dimension_id: str) -> tuple[AnswerDimension | None, int]:
        scored = next(a for a in report.answers if a.question_id == answer.question_id)
        return next((d for d in scored.dimensions if d.dimension_id == dimension_id), None), scored.word_count

    items = []
    for answer in gold.answers:
        for rating in answer.ratings:
            first, words = reading(before[answer.candidate_id], answer, rating.dimension_id)
            second, _ = reading(after[answer.candidate_id], answer, rating.dimension_id)
            items.append(_Item(answer=answer, rating=rating, words=words, before=first, after=second))
    return items


def _dimension_agreement(
    dimension_id: str, items: list[_Item], rubric: Rubric, resamples: int, seed: int
) -> DimensionAgreement:
    def versus_model(which: Literal["before", "after"]) -> tuple[Agreement, float | None]:
        scored = [(i, lv) for i in items if (lv := _level(getattr(i, which))) is not None]
        found = agreement(
            [i.rating.level for i, _ in scored],
            [lv for _, lv in scored],
            [i.answer.candidate_id for i, _ in scored],
            rubric.scale,
            resamples=resamples,
            seed=seed,
        )
        return found, spearman([i.words for i, _ in scored], [lv for _, lv in scored])

    before, length_before = versus_model("before")
    after, length_after = versus_model("after")
    pairs = [i for i in items if len(i.rating.ratings) == 2]
    raters = (
        agreement(
            [i.rating.ratings[0].level for i in pairs],
            [i.rating.ratings[1].level for i in pairs],
            [i.answer.candidate_id for i in pairs],
            rubric.scale,
            resamples=resamples,
            seed=seed,
        )
        if pairs
        else None
    )
    length = LengthCorrelation(
        human=_round(spearman([i.words for i in items], [i.rating.level for i in items])),
        before=_round(length_before),
        after=_round(length_after),
    )
    return DimensionAgreement(dimension_id=dimension_id, before=before, after=after, raters=raters, length=length)


def _point(item: _Item) -> RatedPoint:
    return RatedPoint(
        dimension_id=item.rating.dimension_id,
        human=round(item.rating.level, 4),
        before=_round(_level(item.before)),
        after=_round(_level(item.after)),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _disagreements(items: list[_Item]) -> tuple[Disagreement, ...]:
    scored = [(i, lv) for i in items if (lv := _level(i.after)) is not None]
    scored.sort(key=lambda p: (-abs(p[1] - p[0].rating.level), p[0].answer.line, p[0].rating.dimension_id))
    found = []
    for item, level in scored[:TOP_DISAGREEMENTS]:
        reading = item.after
        assert reading is not None
        evidence = max(reading.evidence, key=lambda e: e.weight).text if reading.evidence else ""
        found.append(
            Disagreement(
                line=item.answer.line,
                candidate_id=item.answer.candidate_id,
                question_id=item.answer.question_id,
                dimension_id=item.rating.dimension_id,
                human_level=round(item.rating.level, 2),
                model_level=round(level, 2),
                text=item.answer.text,
                evidence=evidence,
                rationale=reading.rationale,
            )
        )
    return tuple(found)


def _lint(
    scorer: Scorer, rubric: Rubric, gold: GoldSet, dimensions: list[DimensionAgreement], items: list[_Item]
) -> tuple[LintFinding, ...]:
    """Findings on the anchors the calibrated rubric would have, and on the held-out readings."""
    calibrated = with_anchors(rubric, gold.answers, rubric.version)
    findings = _near_duplicates(scorer, calibrated) + _few_anchors(calibrated)
    for agreed in dimensions:
        dimension_items = [i for i in items if i.rating.dimension_id == agreed.dimension_id]
        findings += _indistinct(agreed, dimension_items, rubric)
    return tuple(findings)


def _capped(findings: list[LintFinding], kind: LintKind) -> list[LintFinding]:
    if len(findings) <= LINT_LISTED:
        return findings
    more = LintFinding(kind=kind, location="(rubric)", message=f"{len(findings) - LINT_LISTED} more not listed")
    return [*findings[:LINT_LISTED], more]


def _near_duplicates(scorer: Scorer, rubric: Rubric) -> list[LintFinding]:
    """Pairs of anchors of one (question, dimension) at different levels that the encoder reads as the same."""
    findings = []
    for question in rubric.questions:
        for measure in question.measures:
            references = rubric.references_for(question.id, measure.dimension)
            if len(references) < 2:
                continue
            vectors = scorer.reference_encoder.encode([r.text for r in references])
            similarity = vectors @ vectors.T
            for a, b in zip(*np.triu_indices(len(references), k=1), strict=True):
                first, second = references[a], references[b]
                if first.level != second.level and similarity[a, b] >= NEAR_DUPLICATE_COSINE:
                    findings.append(
                        LintFinding(
                            kind="near_duplicate_anchors",
                            location=f"{question.id}/{measure.dimension}",
                            message=f"level {first.level} {quote_text(first.text)} and level {second.level} "
                            f"{quote_text(second.text)} read alike (cosine {float(similarity[a, b]):.3f})",
                        )
                    )
    return _capped(findings, "near_duplicate_anchors")


def quote_text(text: str, limit: int = 80) -> str:
    """``text`` on one line, cut to ``limit`` characters, quoted (as lint findings cite anchors)."""
    short = " ".join(text.split())
    return repr(short if len(short) <= limit else short[: limit - 3] + "...")


def _few_anchors(rubric: Rubric) -> list[LintFinding]:
    """(question, dimension) pairs with fewer than :data:`MIN_ANCHORS_PER_LEVEL` anchors at some level."""
    findings = []
    for question in rubric.questions:
        for measure in question.measures:
            counts = Counter(r.level for r in rubric.references_for(question.id, measure.dimension))
            thin = [
                f"{level}: {counts[level]}"
                for level in range(rubric.scale.min, rubric.scale.max + 1)
                if counts[level] < MIN_ANCHORS_PER_LEVEL
            ]
            if thin:
                findings.append(
                    LintFinding(
                        kind="few_anchors",
                        location=f"{question.id}/{measure.dimension}",
                        message=f"fewer than {MIN_ANCHORS_PER_LEVEL} anchors at level(s) {', '.join(thin)}",
                    )
                )
    return _capped(findings, "few_anchors")


def _indistinct(agreed: DimensionAgreement, items: list[_Item], rubric: Rubric) -> list[LintFinding]:
    """A dimension whose held-out levels barely follow the human ones, or that never reaches a level HR used."""
    findings = []
    rho = agreed.after.spearman.value
    if agreed.after.n >= 3 and (rho is None or rho <= INDISTINCT_SPEARMAN):
        shown = "undefined" if rho is None else f"{rho:.2f}"
        findings.append(
            LintFinding(
                kind="levels_not_told_apart",
                location=agreed.dimension_id,
                message=f"held-out Spearman {shown} (<= {INDISTINCT_SPEARMAN}): the model does not order "
                "these answers as HR do; add anchors whose levels differ in concrete actions",
            )
        )
    scored = [(i, lv) for i in items if (lv := _level(i.after)) is not None]
    if not scored:
        return findings
    human = Counter(rounded_levels(np.asarray([i.rating.level for i, _ in scored]), rubric.scale).tolist())
    predicted = set(rounded_levels(np.asarray([lv for _, lv in scored]), rubric.scale).tolist())
    missed = [level for level, n in sorted(human.items()) if n >= MIN_ANCHORS_PER_LEVEL and level not in predicted]
    if missed:
        findings.append(
            LintFinding(
                kind="levels_not_told_apart",
                location=agreed.dimension_id,
                message=f"level(s) {', '.join(map(str, missed))} given by HR to {sum(human[m] for m in missed)} "
                "answers are never the model's (held-out) level",
            )
        )
    return findings
