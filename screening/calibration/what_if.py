"""What-if: how stored screenings would move under a calibrated rubric version, without touching them.

Each screening's answers are scored again with the calibrated version (its gold anchors kept in
memory only) and compared with the levels its stored report has. Nothing is written: the result is
a report of who would move, and by how much; a human decision on a screening is listed beside it,
and stays what it is. Answers to questions the calibrated version does not ask are left out; a
screening with none left is counted as not comparable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from screening.calibration.report import gold_safe_scorer
from screening.report import CandidateAnswers, CandidateReport
from screening.rubric import Rubric
from screening.scorer import Scorer

__all__ = [
    "MOVE",
    "DimensionChange",
    "StoredScreening",
    "WhatIfChange",
    "WhatIfReport",
    "WhatIfSummary",
    "what_if",
    "what_if_without",
]

MOVE = 0.5  # a level change at least this large counts as a move


class StoredScreening(msgspec.Struct, frozen=True, kw_only=True):
    """A stored screening as the what-if reads it: its answers, its stored levels and any human decision."""

    screening_id: str
    candidate_id: str | None
    rubric_version: str
    answers: CandidateAnswers
    overall: float | None
    dimensions: Mapping[str, float | None]
    human_overall: float | None = None
    in_gold: bool = False


class DimensionChange(msgspec.Struct, frozen=True, kw_only=True):
    """One dimension's stored level, its level under the calibrated version, and the difference."""

    dimension_id: str
    current: float | None
    calibrated: float | None
    change: float | None


class WhatIfChange(msgspec.Struct, frozen=True, kw_only=True):
    """One screening's overall and per-dimension levels now and under the calibrated version."""

    screening_id: str
    candidate_id: str | None
    current_version: str
    current: float | None
    calibrated: float | None
    change: float | None
    human_decision: float | None
    in_gold: bool
    dimensions: tuple[DimensionChange, ...]


class DimensionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """How one dimension would move across the screenings compared."""

    dimension_id: str
    compared: int
    moved_up: int
    moved_down: int
    mean_change: float | None


class WhatIfSummary(msgspec.Struct, frozen=True, kw_only=True):
    """How the overall level would move: counts of moves of at least ``MOVE`` levels, mean and largest change."""

    compared: int
    moved_up: int
    moved_down: int
    unchanged: int
    mean_change: float | None
    mean_abs_change: float | None
    max_abs_change: float | None
    with_human_decision: int
    dimensions: tuple[DimensionSummary, ...]


class WhatIfReport(msgspec.Struct, frozen=True, kw_only=True):
    """The level changes of stored screenings under a calibrated version; nothing stored was changed."""

    rubric_id: str
    calibrated_version: str
    considered: int
    not_comparable: int
    left_out: int
    move_threshold: float
    summary: WhatIfSummary
    changes: tuple[WhatIfChange, ...]


def _change(current: float | None, calibrated: float | None) -> float | None:
    if current is None or calibrated is None:
        return None
    return round(calibrated - current, 4)


def _comparable(screening: StoredScreening, rubric: Rubric) -> CandidateAnswers | None:
    asked = {q.id for q in rubric.questions}
    answers = tuple(a for a in screening.answers.answers if a.question_id in asked)
    if not answers:
        return None
    return CandidateAnswers(candidate_id=screening.screening_id, answers=answers)


def _row(screening: StoredScreening, report: CandidateReport) -> WhatIfChange:
    dimensions = tuple(
        DimensionChange(
            dimension_id=d.dimension_id,
            current=screening.dimensions.get(d.dimension_id),
            calibrated=d.level,
            change=_change(screening.dimensions.get(d.dimension_id), d.level),
        )
        for d in report.dimensions
    )
    return WhatIfChange(
        screening_id=screening.screening_id,
        candidate_id=screening.candidate_id,
        current_version=screening.rubric_version,
        current=screening.overall,
        calibrated=report.overall.level,
        change=_change(screening.overall, report.overall.level),
        human_decision=screening.human_overall,
        in_gold=screening.in_gold,
        dimensions=dimensions,
    )


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _summary(rows: Sequence[WhatIfChange], dimension_ids: Sequence[str]) -> WhatIfSummary:
    changes = [r.change for r in rows if r.change is not None]
    per_dimension = []
    for dimension_id in dimension_ids:
        moved = [
            c.change for r in rows for c in r.dimensions if c.dimension_id == dimension_id and c.change is not None
        ]
        per_dimension.append(
            DimensionSummary(
                dimension_id=dimension_id,
                compared=len(moved),
                moved_up=sum(c >= MOVE for c in moved),
                moved_down=sum(c <= -MOVE for c in moved),
                mean_change=_mean(moved),
            )
        )
    return WhatIfSummary(
        compared=len(changes),
        moved_up=sum(c >= MOVE for c in changes),
        moved_down=sum(c <= -MOVE for c in changes),
        unchanged=sum(abs(c) < MOVE for c in changes),
        mean_change=_mean(changes),
        mean_abs_change=_mean([abs(c) for c in changes]),
        max_abs_change=max((abs(c) for c in changes), default=None),
        with_human_decision=sum(r.human_decision is not None for r in rows),
        dimensions=tuple(per_dimension),
    )


def what_if(
    scorer: Scorer, calibrated: Rubric, screenings: Sequence[StoredScreening], *, left_out: int = 0
) -> WhatIfReport:
    """Score ``screenings`` again with ``calibrated`` and report the level changes, largest first.

    ``left_out`` counts the stored screenings the caller did not pass (beyond its limit).
    """
    comparable = [(s, a) for s in screenings if (a := _comparable(s, calibrated)) is not None]
    private = gold_safe_scorer(scorer)  # the calibrated anchors are gold texts: never on disk
    try:
        reports = private.score_many(calibrated, [a for _, a in comparable]) if comparable else []
    finally:
        private.forget(calibrated)
    rows = [_row(s, r) for (s, _), r in zip(comparable, reports, strict=True)]
    rows.sort(key=lambda r: (-(abs(r.change) if r.change is not None else -1.0), r.screening_id))
    return WhatIfReport(
        rubric_id=calibrated.id,
        calibrated_version=calibrated.version,
        considered=len(screenings),
        not_comparable=len(screenings) - len(comparable),
        left_out=left_out,
        move_threshold=MOVE,
        summary=_summary(rows, [d.id for d in calibrated.dimensions]),
        changes=tuple(rows),
    )


def what_if_without(report: WhatIfReport, candidate_ids: set[str], screening_ids: set[str]) -> WhatIfReport:
    """``report`` without the rows of erased candidates and screenings, its summary counted again."""
    rows = tuple(
        r for r in report.changes if r.candidate_id not in candidate_ids and r.screening_id not in screening_ids
    )
    dimension_ids = [d.dimension_id for d in report.summary.dimensions]
    removed = len(report.changes) - len(rows)
    return msgspec.structs.replace(
        report, considered=report.considered - removed, changes=rows, summary=_summary(rows, dimension_ids)
    )
