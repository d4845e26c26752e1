"""A model card per rubric version: what the scores are for, what made them, and what they do not measure.

Generated, never hand-edited: the provenance (method, model and weights hash, rubric fingerprint) comes
from the scorer that would score with this version, the reference counts from the rubric, agreement
figures from the latest calibration report that concerns this version, and the adverse-impact figures,
when the caller has them, from ``screening.fairness``.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import msgspec

from screening.calibration.agreement import Estimate
from screening.calibration.report import CalibrationReport, DimensionAgreement
from screening.fairness import AdverseImpactReport
from screening.report import Provenance
from screening.rubric import Rubric, rubric_warnings

__all__ = [
    "KNOWN_LIMITS",
    "NOT_MEASURED",
    "AgreementFigures",
    "CardCalibration",
    "DimensionCard",
    "ModelCard",
    "card_calibration",
    "model_card",
]

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
    "Agreement with trained raters is known for your candidates only once you calibrate on answers your "
    "raters scored (see `calibration`); the README's figures come from independent answer sets.",
    "Style still moves levels somewhat (politeness and padding most); see the README's quality section.",
    "Levels of a dimension with few references at some level are less reliable (see `warnings`).",
    "Impact ratios flag where to look; small groups give unstable ratios.",
)
NO_CALIBRATION = (
    "No calibration of this version is recorded: upload rated answers (POST /v1/rubrics/{id}/calibrations, "
    "or `screening calibrate report`) to measure its agreement with your raters."
)


class AgreementFigures(msgspec.Struct, frozen=True, kw_only=True):
    """One dimension's (or ``overall``) agreement with HR's raters, and the raters' own ceiling."""

    dimension_id: str
    n: int
    qwk: Estimate
    spearman: Estimate
    exact: Estimate
    adjacent: Estimate
    raters_qwk: float | None
    length_spearman_model: float | None
    length_spearman_raters: float | None


class CardCalibration(msgspec.Struct, frozen=True, kw_only=True):
    """What is known of this version's agreement with human raters.

    ``kind``: ``none``; ``evaluated`` (this version as it is, scored on rated answers it never saw);
    ``calibrated`` (a version fitted on rated answers: figures cross-validated on held-out candidates).
    """

    kind: Literal["none", "evaluated", "calibrated"]
    summary: str
    calibration_id: str | None = None
    gold_digest: str | None = None
    answers: int | None = None
    candidates: int | None = None
    figures: tuple[AgreementFigures, ...] = ()


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
    calibration: CardCalibration
    adverse_impact: AdverseImpactReport | None
    known_limits: tuple[str, ...]


def _figures(agreed: DimensionAgreement, which: Literal["before", "after"]) -> AgreementFigures:
    model = agreed.before if which == "before" else agreed.after
    return AgreementFigures(
        dimension_id=agreed.dimension_id,
        n=model.n,
        qwk=model.qwk,
        spearman=model.spearman,
        exact=model.exact,
        adjacent=model.adjacent,
        raters_qwk=agreed.raters.qwk.value if agreed.raters is not None else None,
        length_spearman_model=agreed.length.before if which == "before" else agreed.length.after,
        length_spearman_raters=agreed.length.human,
    )


def card_calibration(
    rubric: Rubric, report: CalibrationReport | None = None, calibration_id: str | None = None
) -> CardCalibration:
    """The card's calibration section from the latest ``report`` that concerns ``rubric``.

    For a calibrated version, ``report`` is the calibration it was fitted from (its cross-validated
    *after* figures estimate this version); for any other version, a report on rated answers scored
    with this version as it is (its *before* figures).
    """
    source = rubric.calibration
    if source is not None:
        made = (
            f"Calibrated from version {source.base_version} with {source.anchors} anchors from "
            f"{source.answers} rated answers of {source.candidates} candidates (gold {source.gold_digest})."
        )
        same_gold = report is not None and report.gold_digest == source.gold_digest
        same_calibration = calibration_id is not None and calibration_id == source.calibration_id
        if report is None or not (same_gold or same_calibration) or report.rubric_version != source.base_version:
            return CardCalibration(
                kind="calibrated",
                summary=made + " Its agreement report is not held by this service.",
                calibration_id=source.calibration_id,
                gold_digest=source.gold_digest,
                answers=source.answers,
                candidates=source.candidates,
            )
        which: Literal["before", "after"] = "after"
        summary = made + f" Agreement is cross-validated over {report.folds} folds of held-out candidates."
        kind: Literal["evaluated", "calibrated"] = "calibrated"
    elif report is not None and report.rubric_version == rubric.version:
        which, kind = "before", "evaluated"
        summary = (
            f"Scored as it is on {report.answers} rated answers of {report.candidates} candidates "
            f"(gold {report.gold_digest}); none of them is among its references."
        )
    else:
        return CardCalibration(kind="none", summary=NO_CALIBRATION)
    return CardCalibration(
        kind=kind,
        summary=summary,
        calibration_id=calibration_id or (source.calibration_id if source else None),
        gold_digest=report.gold_digest,
        answers=report.answers,
        candidates=report.candidates,
        figures=tuple(_figures(d, which) for d in (*report.dimensions, report.overall)),
    )


def model_card(
    rubric: Rubric,
    provenance: Provenance,
    adverse_impact: AdverseImpactReport | None = None,
    calibration: CardCalibration | None = None,
) -> ModelCard:
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
        calibration=calibration if calibration is not None else card_calibration(rubric),
        adverse_impact=adverse_impact if adverse_impact is not None and adverse_impact.candidates else None,
        known_limits=KNOWN_LIMITS,
    )
