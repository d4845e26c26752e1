"""A plain-text table of candidate reports for people reading a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from screening.report import CandidateReport

__all__ = ["render_table"]


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_table(reports: Sequence[CandidateReport]) -> str:
    """One row per candidate: status, overall level and score, then each dimension's level."""
    if not reports:
        return ""
    dimension_ids = [d.dimension_id for d in reports[0].dimensions]
    header = ["candidate", "status", "level", "score", *dimension_ids]
    rows = [header]
    for report in reports:
        levels = {d.dimension_id: d.level for d in report.dimensions}
        rows.append(
            [
                report.candidate_id,
                report.status,
                _cell(report.overall.level, 2),
                _cell(report.overall.score),
                *(_cell(levels.get(d), 2) for d in dimension_ids),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    reasons = [
        f"  {r.candidate_id}: " + "; ".join(f"{x.code} ({x.question_id or '-'})" for x in r.reasons)
        for r in reports
        if r.status == "needs_review"
    ]
    return "\n".join(lines) + ("\n\nreasons:\n" + "\n".join(reasons) if reasons else "") + "\n"
