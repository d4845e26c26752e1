"""A model card per rubric version: what the scores are for, what made them, and what they do not measure.

Generated, never hand-edited: the provenance (method, model and weights hash, rubric fingerprint) comes
from the scorer that would score with this version, the reference counts from the rubric, and the
adverse-impact figures, when the caller has them, from ``screening.fairness``.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from screening.fairness import AdverseImpactReport
from screening.report import Provenance
from screening.rubric import Rubric, rubric_warnings

__all__ = ["KNOWN_LIMITS", "NOT_MEASURED", "DimensionCard", "ModelCard", "model_card"]

INTENDED_USE = (
    "Screening candidates' free-text answers to situational-judgement questions for the attitudes this rubric "
    "defines, as one input to a human decision. Each level comes with the sentences that earned it; a person "
    "reviews flagged answers and may override any level."
)
NOT_MEASURED = (
    "Whether the candidate would really behave this way: it scores what the answer says.",
    "Writing skill, spelling or fluency (typos and padding are tested not to move a level).",
    "Knowledge of products, procedures or authority limits.",
    "Anything about the candidate beyond the answer text; it must not be the only basis of a decision.",
)
KNOWN_LIMITS = (
    "Agreement with trained raters is measured on independent answer sets, not on your candidates: calibrate "
    "with `screening calibrate report` on answers your raters scored.",
    "Style still moves levels somewhat (politeness and padding most); see the README's quality section.",
    "Levels of a dimension with few references at some level are less reliable (see `warnings`).",
    "Impact ratios flag where to look; small groups give unstable ratios.",
)
NO_CALIBRATION = "No calibration is recorded with this service yet; run `screening calibrate report` on rated answers."


class LevelCount(msgspec.Struct, frozen=True):
    """How many reference responses a dimension has at one level."""

    level: int
    references: int


class DimensionCard(msgspec.Struct, frozen=True, kw_only=True):
    """One dimension: its name, weight and reference responses per level."""

    id: str
    name: str
    weight: float
    levels: tuple[LevelCount, ...]


class ModelCard(msgspec.Struct, frozen=True, kw_only=True):
    """The card of one rubric version."""

    rubric_id: str
    rubric_version: str
    title: str
    intended_use: str
    not_measured: tuple[str, ...]
    provenance: Provenance
    questions: int
    dimensions: tuple[DimensionCard, ...]
    warnings: tuple[str, ...]
    calibration: str
    adverse_impact: AdverseImpactReport | None
    known_limits: tuple[str, ...]


def model_card(rubric: Rubric, provenance: Provenance, adverse_impact: AdverseImpactReport | None = None) -> ModelCard:
    """The card of ``rubric`` as ``provenance``'s scorer would score it."""
    counts = Counter((r.dimension, r.level) for r in rubric.references)
    levels = range(rubric.scale.min, rubric.scale.max + 1)
    return ModelCard(
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        title=rubric.title,
        intended_use=INTENDED_USE,
        not_measured=NOT_MEASURED,
        provenance=provenance,
        questions=len(rubric.questions),
        dimensions=tuple(
            DimensionCard(
                id=d.id,
                name=d.name,
                weight=d.weight,
                levels=tuple(LevelCount(level, counts[(d.id, level)]) for level in levels),
            )
            for d in rubric.dimensions
        ),
        warnings=tuple(str(w) for w in rubric_warnings(rubric)),
        calibration=NO_CALIBRATION,
        adverse_impact=adverse_impact if adverse_impact is not None and adverse_impact.candidates else None,
        known_limits=KNOWN_LIMITS,
    )
