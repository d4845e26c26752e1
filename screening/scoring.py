"""One answer on one dimension: sentences -> relevant core -> level, negations, red flags.

The answer's sentences that engage with the question are kept (padding falls out, so it
moves the level very little). A kept sentence that denies what a good reference says ("I
would not apologise") earns no credit from it: it counts at the mirrored level and is
left out of the core text. The core text's level comes from :mod:`screening.anchor`. A
sentence that matches a red flag more closely than any acceptable reference pulls the
level down.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np
from spacy.lang.en.stop_words import STOP_WORDS

from screening.anchor import AnchorSet, UnitEstimate, estimate_unit
from screening.explain import rationale
from screening.learned import LearnedRubric
from screening.method import MethodConfig
from screening.prepared import PreparedMeasure, PreparedQuestion
from screening.report import AnswerDimension, Evidence, NegationHit, RedFlagHit, ReferenceMatch
from screening.rubric import Rubric, Scale
from screening.stacked import TextUnit
from screening.text import lower_words, ngram_overlap

__all__ = [
    "DimensionPlan",
    "Unit",
    "plan_dimension",
    "relevant_sentences",
    "score_dimension",
    "score_dimension_learned",
]


class Unit(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of an answer to score: a sentence (with its negated clauses) or the whole answer."""

    sentence_index: int | None
    text: str
    embedding: np.ndarray
    polarity: int = 0
    negation_cues: tuple[str, ...] = ()
    affirmed_clauses: tuple[str, ...] = ()
    affirmed_embeddings: tuple[np.ndarray, ...] = ()


class _Scored(msgspec.Struct, kw_only=True):
    unit: Unit
    level: float
    relevance: float
    spread: float
    similarities: np.ndarray


def _estimate(embedding: np.ndarray, measure: PreparedMeasure, config: MethodConfig) -> UnitEstimate:
    """What one embedding says about the level of one measured dimension (method v1)."""
    assert measure.model is not None, "method v1's level model is fitted for v1 scorers only"
    return estimate_unit(
        embedding,
        measure.anchors,
        measure.model,
        top_k=config.top_k,
        local_weight=config.local_weight,
        local_temperature=config.local_temperature,
    )


def _scored(unit: Unit, measure: PreparedMeasure, rubric: Rubric, config: MethodConfig) -> _Scored:
    """A unit with its level (clamped to the scale), relevance and similarities."""
    estimate = _estimate(unit.embedding, measure, config)
    item = _Scored(unit=unit, **msgspec.structs.asdict(estimate))
    item.level = rubric.scale.clamp(estimate.level)
    return item


Reader = Callable[[np.ndarray], float]
"""Method v2's own reading of one embedding against one measure's anchors (their nearest levels)."""


def _read(unit: Unit, measure: PreparedMeasure, rubric: Rubric, reader: Reader) -> _Scored:
    """A unit with v2's reading as its level (clamped), its relevance and similarities."""
    similarities = measure.anchors.embeddings @ unit.embedding
    level = rubric.scale.clamp(reader(unit.embedding))
    return _Scored(unit=unit, level=level, relevance=float(similarities.max()), spread=0.0, similarities=similarities)


def _matches(anchors: AnchorSet, similarities: np.ndarray, count: int) -> tuple[ReferenceMatch, ...]:
    order = np.argsort(-similarities, kind="stable")[:count]
    return tuple(
        ReferenceMatch(text=anchors.texts[i], level=int(anchors.levels[i]), similarity=round(float(similarities[i]), 3))
        for i in order
    )


def _negation_hit(
    scored: _Scored, measure: PreparedMeasure, rubric: Rubric, config: MethodConfig
) -> tuple[float, NegationHit | None]:
    """A sentence's level once the clauses it negates are taken into account."""
    unit, scale, anchors = scored.unit, rubric.scale, measure.anchors
    worst: tuple[float, NegationHit] | None = None
    for clause_embedding in unit.affirmed_embeddings:
        clause = _estimate(clause_embedding, measure, config)
        if clause.level <= scale.midpoint:
            continue  # it denies a weak behaviour ("I would never ignore her"): no credit removed
        given = min(scored.level, scale.min + scale.max - clause.level)
        hit = NegationHit(
            sentence_index=unit.sentence_index or 0,
            text=unit.text,
            cues=unit.negation_cues,
            reference=_matches(anchors, clause.similarities, 1)[0],
            level_as_matched=round(scored.level, 2),
            level_given=round(given, 2),
        )
        if worst is None or given < worst[0]:
            worst = (given, hit)
    return (worst[0], worst[1]) if worst else (scored.level, None)


def _red_flag_hit(scored: _Scored, measure: PreparedMeasure, rubric: Rubric, config: MethodConfig) -> RedFlagHit | None:
    """The red flag a sentence matches, if it is closer to it than to every acceptable reference."""
    flags = measure.red_flags
    if not len(flags.texts) or scored.unit.sentence_index is None:
        return None
    flag_similarities = flags.embeddings @ scored.unit.embedding
    best = int(np.argmax(flag_similarities))
    acceptable = scored.similarities[measure.anchors.levels > rubric.scale.min]
    closest_acceptable = float(acceptable.max()) if acceptable.size else -1.0
    similarity = float(flag_similarities[best])
    if similarity < config.red_flag_similarity or similarity <= closest_acceptable:
        return None
    if int(flags.polarities[best]) != scored.unit.polarity:
        return None  # "I would never say it's not my job" does not match "It's not my job"
    return RedFlagHit(
        sentence_index=scored.unit.sentence_index,
        text=scored.unit.text,
        example=flags.texts[best],
        similarity=round(similarity, 3),
    )


def relevant_sentences(units: list[Unit], question: PreparedQuestion, config: MethodConfig) -> list[int]:
    """Indices of the sentences that engage with the question: padding and chatter fall out.

    A sentence is kept when its best similarity to any of the question's references is
    above the question's off-topic floor and at least ``relevant_share`` of the best
    sentence's.
    """
    anchors, floor = question.all_references, question.off_topic_floor(config)
    relevance = [float((anchors.embeddings @ u.embedding).max()) if len(anchors.texts) else 0.0 for u in units]
    best = max(relevance, default=0.0)
    kept = [i for i, r in enumerate(relevance) if r >= floor and r >= config.relevant_share * best]
    if not config.learned:
        return kept
    # Method v2: a sentence that restates the scenario describes nothing the candidate would do.
    acting = [i for i in kept if not restates_scenario(units[i].text, question.prompt_words, config)]
    return acting or kept


def restates_scenario(sentence: str, prompt_words: tuple[str, ...], config: MethodConfig) -> bool:
    """Whether a sentence mostly repeats the scenario's word pairs."""
    words = lower_words(sentence)
    return len(words) >= config.min_words and ngram_overlap(words, prompt_words, 2) >= config.restated_scenario_overlap


class DimensionPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Which sentences of an answer count for one dimension, and the text to score as its core."""

    kept: tuple[int, ...]
    negations: tuple[tuple[int, float, NegationHit], ...]
    core_text: str


def plan_dimension(
    units: list[Unit],
    kept: list[int],
    whole_text: str,
    measure: PreparedMeasure,
    rubric: Rubric,
    config: MethodConfig,
    reader: Reader | None = None,
) -> DimensionPlan:
    """Find the kept sentences that deny a good behaviour; the rest form the core text.

    Method v2 reads denials inside its learned model; ``reader`` (the level its anchors give
    an embedding) only sets aside sentences that do nothing but deny weak behaviours ("I
    wouldn't blame the picker"): denying a bad behaviour neither costs nor earns anything.
    """
    if reader is not None:
        acting = [i for i in kept if not _only_denies_weak_behaviour(units[i], reader, rubric.scale.midpoint)]
        kept = acting or kept
    negations = []
    for index in kept if not config.learned else []:
        unit = units[index]
        if not unit.affirmed_embeddings:
            continue
        level, hit = _negation_hit(_scored(unit, measure, rubric, config), measure, rubric, config)
        if hit:
            negations.append((index, level, hit))
    denied = {index for index, _, _ in negations}
    if len(kept) == len(units) and not denied:
        core = whole_text  # nothing set aside: the answer as written, already encoded
    else:
        core = " ".join(units[i].text for i in kept if i not in denied)
    return DimensionPlan(kept=tuple(kept), negations=tuple(negations), core_text=core)


def _only_denies_weak_behaviour(unit: Unit, reader: Reader, midpoint: float) -> bool:
    """Whether every content word of a sentence lies in clauses its speaker denies, each of
    which reads at or below the scale's middle once affirmed.
    """
    if not unit.affirmed_clauses:
        return False
    covered = {w for clause in unit.affirmed_clauses for w in lower_words(clause)}
    content = [w for w in lower_words(unit.text) if w not in STOP_WORDS and "'" not in w]
    if any(w not in covered for w in content):
        return False
    return all(reader(e) <= midpoint for e in unit.affirmed_embeddings)


def score_dimension(
    units: list[Unit],
    plan: DimensionPlan,
    core_embedding: np.ndarray | None,
    question: PreparedQuestion,
    measure: PreparedMeasure,
    rubric: Rubric,
    config: MethodConfig,
    *,
    counted: bool,
) -> tuple[AnswerDimension, float]:
    """The answer's level on one dimension with its evidence; also its best sentence relevance.

    The level is read from the core text (the relevant sentences that deny nothing good);
    each sentence that denies a good behaviour counts as one more sentence at the level it
    was given; each red flag takes ``red_flag_penalty`` of the scale off.
    """
    anchors, scale = measure.anchors, rubric.scale
    scored = [_scored(unit, measure, rubric, config) for unit in units]
    denied = {index: level for index, level, _ in plan.negations}
    for index, level in denied.items():
        scored[index].level = level
    kept = [scored[i] for i in plan.kept] or scored
    flags = [f for f in (_red_flag_hit(s, measure, rubric, config) for s in kept) if f]
    core_count = len(kept) - len(denied)
    core = _estimate(core_embedding, measure, config) if core_embedding is not None else None
    parts = [scale.clamp(core.level)] * core_count if core and core_count else []
    parts += list(denied.values())
    mixed = float(np.mean(parts)) if parts else float(np.mean([s.level for s in kept]))
    penalty = min(len(flags), config.max_red_flag_hits) * config.red_flag_penalty * scale.span
    level = scale.clamp(mixed - penalty)
    relevance = max(s.relevance for s in kept)
    spread = core.spread if core else float(np.mean([s.spread for s in kept]))
    confidence = (
        _confidence([s.level for s in kept], level, spread, relevance, question, rubric, config) if counted else 0.0
    )
    negation_hits = [hit for _, _, hit in plan.negations]
    result = _answer_dimension(
        measure, rubric, level, confidence, _evidence(kept, anchors, config), negation_hits, flags, penalty
    )
    return result, relevance


def _answer_dimension(
    measure: PreparedMeasure,
    rubric: Rubric,
    level: float,
    confidence: float,
    evidence: tuple[Evidence, ...],
    negations: list[NegationHit],
    flags: list[RedFlagHit],
    penalty: float,
    **learned: object,
) -> AnswerDimension:
    """One dimension's result, rounded, labelled and explained (``learned``: v2's extra fields)."""
    scale = rubric.scale
    return AnswerDimension(
        dimension_id=measure.dimension_id,
        level=round(level, 2),
        label=scale.label(level),
        confidence=round(confidence, 2),
        rationale=rationale(rubric.dimension(measure.dimension_id).name, level, scale, evidence, negations, flags),
        evidence=evidence,
        negations=tuple(negations),
        red_flags=tuple(flags),
        red_flag_penalty=round(penalty, 2),
        **learned,  # type: ignore[arg-type]
    )


def _evidence(kept: list[_Scored], anchors: AnchorSet, config: MethodConfig) -> tuple[Evidence, ...]:
    """The most relevant kept sentences, each with its own level and nearest references."""
    relevance = np.asarray([s.relevance for s in kept])
    weights = relevance.clip(min=0) / max(float(relevance.clip(min=0).sum()), 1e-9)
    order = np.argsort(-relevance, kind="stable")[: config.evidence_per_dimension]
    return tuple(
        Evidence(
            sentence_index=kept[i].unit.sentence_index,
            text=kept[i].unit.text,
            level=round(kept[i].level, 2),
            weight=round(float(weights[i]), 3),
            matches=_matches(anchors, kept[i].similarities, config.matches_per_evidence),
            negated=bool(kept[i].unit.affirmed_clauses),
        )
        for i in order
    )


def _confidence(
    sentence_levels: list[float],
    level: float,
    spread: float,
    relevance: float,
    question: PreparedQuestion,
    rubric: Rubric,
    config: MethodConfig,
) -> float:
    """0-1: how relevant the evidence is, how the nearest references agree, how sentences agree."""
    half_span = rubric.scale.span / 2
    floor, full = question.off_topic_floor(config), question.typical_similarity
    relevant = float(np.clip((relevance - floor) / max(full - floor, 1e-6), 0.0, 1.0))
    disagreement = float(np.sqrt(np.mean((np.asarray(sentence_levels) - level) ** 2))) / half_span
    vagueness = spread / half_span
    return relevant * (1.0 - 0.5 * min(disagreement, 1.0) - 0.5 * min(vagueness, 1.0))


def score_dimension_learned(
    units: list[Unit],
    plan: DimensionPlan,
    unit: TextUnit,
    learned: LearnedRubric,
    reader: Reader,
    question: PreparedQuestion,
    measure: PreparedMeasure,
    rubric: Rubric,
    config: MethodConfig,
    *,
    counted: bool,
) -> tuple[AnswerDimension, float]:
    """Method v2: the answer's level on one dimension from the stacked model, with its evidence.

    ``unit`` is the relevant core of the answer (kept sentences). The level is the expected
    level of the model's per-level probabilities, with each sentence that denies a good
    behaviour counted at the mirrored level; each red flag takes ``red_flag_penalty`` of the
    scale off. Each kept sentence is explained by its own nearest-anchor reading.
    """
    anchors, scale = measure.anchors, rubric.scale
    estimate = learned.estimate(question.question_id, measure.dimension_id, unit)
    kept = [_read(units[i], measure, rubric, reader) for i in plan.kept] or [
        _read(u, measure, rubric, reader) for u in units
    ]
    flags = [f for f in (_red_flag_hit(s, measure, rubric, config) for s in kept) if f]
    penalty = min(len(flags), config.max_red_flag_hits) * config.red_flag_penalty * scale.span
    negations = [hit for hit in (_denial_hit(s, reader, measure, rubric) for s in kept) if hit]
    # A sentence that denies a good behaviour counts at the mirrored level, like v1: the model
    # alone reads "I would not tell my supervisor" too close to "I would tell my supervisor".
    affirming = len(kept) - len(negations)
    mixed = (estimate.level * affirming + sum(hit.level_given for hit in negations)) / len(kept)
    level = scale.clamp(mixed - penalty)
    relevance = max(s.relevance for s in kept)
    confidence = _learned_confidence(estimate.probabilities, relevance, question, rubric, config) if counted else 0.0
    result = _answer_dimension(
        measure,
        rubric,
        level,
        confidence,
        _evidence(kept, anchors, config),
        negations,
        flags,
        penalty,
        probabilities=estimate.probabilities,
        outcome=_dimension_outcome(estimate.outcome, negations, level, scale),
    )
    return result, relevance


def _dimension_outcome(learned: str | None, negations: list[NegationHit], level: float, scale: Scale) -> str:
    """The model's outcome when it is one; a low level reached by denying a good answer is a contradiction."""
    if learned is not None:
        return learned
    if negations and level <= scale.midpoint:
        return "contradiction"
    return "level"


def _denial_hit(scored: _Scored, reader: Reader, measure: PreparedMeasure, rubric: Rubric) -> NegationHit | None:
    """A sentence whose speaker denies what a good answer does (its denied clause, affirmed, reads high)."""
    unit, scale = scored.unit, rubric.scale
    readings = [(reader(e), e) for e in unit.affirmed_embeddings]
    if not readings:
        return None
    level, embedding = max(readings, key=lambda r: r[0])
    if level <= scale.midpoint:
        return None  # it denies a weak behaviour ("I would never ignore her"): nothing to report
    similarities = measure.anchors.embeddings @ embedding
    return NegationHit(
        sentence_index=unit.sentence_index or 0,
        text=unit.text,
        cues=unit.negation_cues,
        reference=_matches(measure.anchors, similarities, 1)[0],
        level_as_matched=round(level, 2),
        level_given=round(scale.min + scale.max - level, 2),
    )


def _learned_confidence(
    probabilities: tuple[float, ...], relevance: float, question: PreparedQuestion, rubric: Rubric, config: MethodConfig
) -> float:
    """0-1: how relevant the evidence is, times how concentrated the level distribution is."""
    levels = np.arange(rubric.scale.min, rubric.scale.max + 1, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    spread = float(np.sqrt(max((p * (levels - (p * levels).sum()) ** 2).sum(), 0.0)))
    floor, full = question.off_topic_floor(config), question.typical_similarity
    relevant = float(np.clip((relevance - floor) / max(full - floor, 1e-6), 0.0, 1.0))
    return relevant * max(0.0, 1.0 - spread / (rubric.scale.span / 2))
