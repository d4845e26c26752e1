"""Input and result types: what goes into scoring and the explainable report that comes out.

Levels are on the rubric's scale (floats, e.g. 3.6); ``score`` is 0-100. Every report
names the rubric version and model that made it (:class:`Provenance`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from screening.rubric import CalibrationSource

__all__ = [
    "Answer",
    "AnswerDimension",
    "AnswerReport",
    "CandidateAnswers",
    "CandidateReport",
    "Correction",
    "DimensionScore",
    "Evidence",
    "NegationHit",
    "Overall",
    "Provenance",
    "Reason",
    "RedFlagHit",
    "ReferenceMatch",
    "ScaleInfo",
]

Status = Literal["scored", "needs_review"]
ReasonCode = Literal[
    "empty",
    "too_short",
    "not_english",
    "keyword_list",
    "copied_from_scenario",
    "copied_reference",
    "off_topic",
    "non_answer",
    "irrelevant",
    "unanswered",
]
# What an answer is, beyond a level: an ordinary level; one that contradicts a good answer
# (scored low, reported); on the subject but no answer, a non-answer, off the subject, or
# nothing to score (these go to a person).
Outcome = Literal["level", "contradiction", "irrelevant", "non_answer", "off_topic", "unscorable"]
AnswerText = Annotated[str, Meta(max_length=20_000)]
CandidateId = Annotated[str, Meta(min_length=1, max_length=200)]
QuestionId = Annotated[str, Meta(min_length=1, max_length=64)]


class _Input(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Inputs reject unknown fields: a typo in a field name is an error, not silently ignored."""


class Answer(_Input):
    """A candidate's free-text answer to one question."""

    question_id: QuestionId
    text: AnswerText


class CandidateAnswers(_Input):
    """All of one candidate's answers for one rubric."""

    candidate_id: CandidateId
    answers: tuple[Answer, ...]


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    """Result values."""


class ReferenceMatch(_Out):
    """A reference response a sentence resembled."""

    text: str
    level: int
    similarity: float


class Evidence(_Out):
    """A unit of the answer (a sentence, or the whole answer) and the level it pointed to."""

    sentence_index: int | None
    text: str
    level: float
    weight: float
    matches: tuple[ReferenceMatch, ...]
    negated: bool = False


class NegationHit(_Out):
    """A sentence that matched a reference but states its opposite: it earned no credit from it."""

    sentence_index: int
    text: str
    cues: tuple[str, ...]
    reference: ReferenceMatch
    level_as_matched: float
    level_given: float


class RedFlagHit(_Out):
    """A sentence that matched a red-flag example."""

    sentence_index: int
    text: str
    example: str
    similarity: float


class Reason(_Out):
    """Why an answer or a report needs a human to look at it."""

    code: ReasonCode
    detail: str
    question_id: str | None = None


class AnswerDimension(_Out):
    """The level one answer earned on one dimension, and why."""

    dimension_id: str
    level: float | None
    label: str | None
    confidence: float
    rationale: str
    evidence: tuple[Evidence, ...] = ()
    negations: tuple[NegationHit, ...] = ()
    red_flags: tuple[RedFlagHit, ...] = ()
    red_flag_penalty: float = 0.0
    probabilities: tuple[float, ...] | None = None
    provisional: bool = False
    outcome: Outcome = "level"


class Correction(_Out):
    """A typo corrected before scoring (spelling is not the attitude being measured)."""

    written: str
    corrected: str


class AnswerReport(_Out):
    """One answer: status, quality signals and each dimension it was scored on."""

    question_id: str
    status: Status
    word_count: int
    sentence_count: int
    reasons: tuple[Reason, ...]
    dimensions: tuple[AnswerDimension, ...]
    outcome: Outcome = "level"
    deflection_cues: tuple[str, ...] = ()
    agency_cues: tuple[str, ...] = ()
    spelling_corrections: tuple[Correction, ...] = ()


class DimensionScore(_Out):
    """A dimension's level across the answers that measure it (weighted)."""

    dimension_id: str
    name: str
    level: float | None
    label: str | None
    confidence: float
    answers_scored: int
    answers_expected: int


class Overall(_Out):
    """The candidate's overall level, its 0-100 score for ATS fields, and a confidence."""

    level: float | None
    score: float | None
    label: str | None
    confidence: float


class ScaleInfo(_Out):
    """The scale the levels are on."""

    min: int
    max: int
    labels: tuple[str, ...]


class Provenance(_Out):
    """What made this score: rubric version and fingerprint, model and weights, method, and the
    encoder backend (``torch``, ``onnx`` or ``onnx-int8``) with the sha256 of its ONNX graph, if any,
    and the calibration the rubric version came from (``None`` for a version written by hand).
    ``model_weights_sha256`` is always the source weights' (the ones the model manifest names).
    """

    rubric_id: str
    rubric_version: str
    rubric_fingerprint: str
    model_id: str
    model_weights_sha256: str
    method: str
    text_pipeline: str
    engine_version: str
    encoder_backend: str = "torch"
    encoder_graph_sha256: str | None = None
    calibration: CalibrationSource | None = None


class CandidateReport(_Out):
    """The full, explainable report for one candidate."""

    candidate_id: str
    status: Status
    reasons: tuple[Reason, ...]
    overall: Overall
    dimensions: tuple[DimensionScore, ...]
    answers: tuple[AnswerReport, ...]
    scale: ScaleInfo
    provenance: Provenance
