"""Adverse-impact report: selection and scoring rates by sex, race/ethnicity and their intersections.

For a cut HR choose (selected: overall level >= cut), each category's selection rate and its
impact ratio against the highest-rate category, flagged under four fifths (UGESP, 29 CFR
1607.4D). For the continuous score, NYC Local Law 144 scoring rates: the share of a category
scoring above the median overall score of the whole sample, and impact ratios on those.
Unknown and declined self-identification is counted per grouping, never dropped silently,
and is not a category of the rates. Categories under 2% of the sample are marked ``small``;
LL144 lets an auditor exclude them from the impact ratios, which :func:`adverse_impact` does
by default (``small_excluded_from_ratios`` says which was done). Each comparison carries
Fisher's exact p-value and a small-sample warning, and each category its per-dimension
standardised mean difference (Cohen's d) against the other known categories.

The report holds aggregates only: no candidate id and no per-candidate row.

Libraries: per-category counts and rates come from fairlearn's ``MetricFrame``; p-values
from ``scipy.stats.fisher_exact``. Impact ratios are each rate over the highest one (fairlearn's
``MetricFrame.ratio()`` gives only the smallest such ratio, not one per category). Cohen's d
is computed here (a pooled-SD mean difference, a few lines of numpy): neither fairlearn nor
scipy provides it, and a package for one formula is not worth the dependency.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Literal

import msgspec
import numpy as np

from screening.demographics import RACE_ETHNICITY_CATEGORIES, SEX_CATEGORIES, Demographics
from screening.report import CandidateReport

__all__ = [
    "FOUR_FIFTHS",
    "MIN_EXPECTED_COUNT",
    "SMALL_SAMPLE_N",
    "SMALL_SHARE",
    "AdverseImpactReport",
    "CategoryResult",
    "DimensionGap",
    "Grouping",
    "GroupingResult",
    "RateComparison",
    "ScoredCandidate",
    "adverse_impact",
    "cohens_d",
    "render_text",
    "scored_candidate",
    "to_csv",
    "to_json",
]

FOUR_FIFTHS: Final = 0.8
SMALL_SHARE: Final = 0.02
SMALL_SAMPLE_N: Final = 30
MIN_EXPECTED_COUNT: Final = 5.0

Grouping = Literal["sex", "race_ethnicity", "sex_race_ethnicity"]
_UNKNOWN: Final = "unknown"
_DECLINED: Final = "declined"


class ScoredCandidate(msgspec.Struct, frozen=True, kw_only=True):
    """What the report needs of one candidate's result: overall level and 0-100 score, dimension levels."""

    candidate_id: str
    level: float | None
    score: float | None
    dimensions: dict[str, float | None] = msgspec.field(default_factory=dict)


def scored_candidate(report: CandidateReport) -> ScoredCandidate:
    """The :class:`ScoredCandidate` of a :class:`CandidateReport`."""
    return ScoredCandidate(
        candidate_id=report.candidate_id,
        level=report.overall.level,
        score=report.overall.score,
        dimensions={d.dimension_id: d.level for d in report.dimensions},
    )


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    """Report values."""


class RateComparison(_Out):
    """One category's rate (selected at the cut, or scoring above the median) against the reference.

    ``reference`` is the highest-rate category of the grouping; ``impact_ratio`` is this rate over
    its rate, ``four_fifths_flag`` is set under 0.8, ``fisher_p`` is the two-sided Fisher's exact
    p-value of the 2x2 table (this category vs the reference, counted vs not). All four are
    ``None`` when the ratio is undefined (no reference, a zero reference rate, or a small category
    excluded). ``small_sample`` warns that the rates rest on few candidates: n under 30, or an
    expected count of the 2x2 table under 5.
    """

    count: int
    rate: float
    impact_ratio: float | None
    four_fifths_flag: bool | None
    fisher_p: float | None
    small_sample: bool


class DimensionGap(_Out):
    """A category's mean level on one dimension against the other known categories: Cohen's d
    with a pooled SD (positive: this category higher); ``None`` with under 2 on either side or no spread.
    """

    dimension_id: str
    n: int
    n_rest: int
    mean: float | None
    mean_rest: float | None
    cohens_d: float | None


class CategoryResult(_Out):
    """One category: its size and share of the sample, its rates and its dimension gaps."""

    category: str
    n: int
    share: float
    small: bool
    selection: RateComparison | None
    scoring: RateComparison
    dimension_gaps: tuple[DimensionGap, ...]


class GroupingResult(_Out):
    """The categories of one grouping, with how many candidates were unknown or declined in it."""

    grouping: Grouping
    categories: tuple[CategoryResult, ...]
    unknown: int
    declined: int
    selection_reference: str | None
    scoring_reference: str | None


class AdverseImpactReport(_Out):
    """Adverse impact of one set of scores: aggregates only, never a candidate id or row."""

    candidates: int
    without_score: int
    cut: float | None
    median_score: float | None
    four_fifths_threshold: float
    small_share_threshold: float
    small_excluded_from_ratios: bool
    groupings: tuple[GroupingResult, ...]
    notes: tuple[str, ...]


# ---------------------------------------------------------------- statistics


def cohens_d(group: Sequence[float], rest: Sequence[float]) -> float | None:
    """Standardised mean difference ``(mean(group) - mean(rest)) / pooled SD`` (sample SDs, ddof 1)."""
    n1, n2 = len(group), len(rest)
    if n1 < 2 or n2 < 2:
        return None
    a, b = np.asarray(group, dtype=float), np.asarray(rest, dtype=float)
    pooled = math.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    return None if pooled == 0 else float((a.mean() - b.mean()) / pooled)


def _fisher(count: int, n: int, ref_count: int, ref_n: int) -> float:
    from scipy.stats import fisher_exact

    return float(fisher_exact([[count, n - count], [ref_count, ref_n - ref_count]]).pvalue)


def _small_sample(count: int, n: int, ref_count: int, ref_n: int) -> bool:
    """True when either side has under 30 candidates, or the 2x2 table an expected count under 5."""
    if min(n, ref_n) < SMALL_SAMPLE_N:
        return True
    total, positives = n + ref_n, count + ref_count
    expected = [row * col / total for row in (n, ref_n) for col in (positives, total - positives)]
    return min(expected) < MIN_EXPECTED_COUNT


def _positives(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    """How many outcomes are 1 (a MetricFrame metric; ``y_true`` is unused)."""
    return int(np.sum(y_pred))


def _group_counts(labels: Sequence[str], outcomes: Sequence[bool]) -> dict[str, tuple[int, int, float]]:
    """``{category: (n, positives, rate)}`` of a 0/1 outcome, through fairlearn's MetricFrame.

    There is no ground truth here: the outcome is passed as both ``y_true`` and ``y_pred`` and
    only ``y_pred`` is read (``count``, ``selection_rate``).
    """
    if not labels:
        return {}
    from fairlearn.metrics import MetricFrame, count, selection_rate

    y = np.asarray(outcomes, dtype=int)
    frame = MetricFrame(
        metrics={"n": count, "positives": _positives, "rate": selection_rate},
        y_true=y,
        y_pred=y,
        sensitive_features={"category": list(labels)},
    )
    return {
        str(category): (int(row["n"]), int(row["positives"]), float(row["rate"]))
        for category, row in frame.by_group.iterrows()
    }


def _compare(
    counts: Mapping[str, tuple[int, int, float]], eligible: Callable[[str], bool]
) -> tuple[str | None, dict[str, RateComparison]]:
    """The reference (highest rate among eligible categories) and each category's comparison with it."""
    reference = max((c for c in counts if eligible(c)), key=lambda c: counts[c][2], default=None)
    if reference is not None and counts[reference][2] == 0:
        reference = None
    ref_n, ref_count, ref_rate = counts[reference] if reference else (0, 0, 0.0)
    out: dict[str, RateComparison] = {}
    for category, (n, positives, rate) in counts.items():
        compared = reference is not None and eligible(category) and category != reference
        ratio = rate / ref_rate if compared or category == reference else None
        out[category] = RateComparison(
            count=positives,
            rate=rate,
            impact_ratio=ratio,
            four_fifths_flag=None if ratio is None else ratio < FOUR_FIFTHS,
            fisher_p=_fisher(positives, n, ref_count, ref_n) if compared else None,
            small_sample=_small_sample(positives, n, ref_count, ref_n) if compared else n < SMALL_SAMPLE_N,
        )
    return reference, out


# ---------------------------------------------------------------- groupings


def _label(grouping: Grouping, person: Demographics | None) -> str:
    """The category of ``person`` in ``grouping``: a category, ``declined`` or ``unknown``."""
    sex = person.sex if person else None
    race = person.race_ethnicity if person else None
    if grouping == "sex":
        return sex or _UNKNOWN
    if grouping == "race_ethnicity":
        return race or _UNKNOWN
    if _DECLINED in (sex, race):
        return _DECLINED
    return f"{sex}/{race}" if sex and race else _UNKNOWN


def _order(grouping: Grouping) -> list[str]:
    if grouping == "sex":
        return list(SEX_CATEGORIES)
    if grouping == "race_ethnicity":
        return list(RACE_ETHNICITY_CATEGORIES)
    return [f"{s}/{r}" for s in SEX_CATEGORIES for r in RACE_ETHNICITY_CATEGORIES]


def _gaps(
    members: Sequence[ScoredCandidate], rest: Sequence[ScoredCandidate], dimensions: Sequence[str]
) -> tuple[DimensionGap, ...]:
    gaps = []
    for dimension in dimensions:
        mine = [v for c in members if (v := c.dimensions.get(dimension)) is not None]
        others = [v for c in rest if (v := c.dimensions.get(dimension)) is not None]
        gaps.append(
            DimensionGap(
                dimension_id=dimension,
                n=len(mine),
                n_rest=len(others),
                mean=float(np.mean(mine)) if mine else None,
                mean_rest=float(np.mean(others)) if others else None,
                cohens_d=cohens_d(mine, others),
            )
        )
    return tuple(gaps)


def _grouping(
    grouping: Grouping,
    scored: Sequence[ScoredCandidate],
    labels: Sequence[str],
    *,
    cut: float | None,
    median: float,
    dimensions: Sequence[str],
    exclude_small: bool,
) -> GroupingResult:
    known = [(c, label) for c, label in zip(scored, labels, strict=True) if label not in (_UNKNOWN, _DECLINED)]
    known_labels = [label for _, label in known]
    total = len(scored)
    sizes = Counter(known_labels)

    def eligible(category: str) -> bool:
        return not (exclude_small and sizes[category] < SMALL_SHARE * total)

    scoring_counts = _group_counts(known_labels, [c.score is not None and c.score > median for c, _ in known])
    scoring_reference, scoring = _compare(scoring_counts, eligible)
    selection_reference, selection = None, {}
    if cut is not None:
        selection_counts = _group_counts(known_labels, [c.level is not None and c.level >= cut for c, _ in known])
        selection_reference, selection = _compare(selection_counts, eligible)
    order = {category: index for index, category in enumerate(_order(grouping))}
    categories = []
    for category in sorted(scoring_counts, key=lambda c: order.get(c, len(order))):
        members = [c for c, label in known if label == category]
        rest = [c for c, label in known if label != category]
        share = len(members) / total
        categories.append(
            CategoryResult(
                category=category,
                n=len(members),
                share=share,
                small=share < SMALL_SHARE,
                selection=selection.get(category),
                scoring=scoring[category],
                dimension_gaps=_gaps(members, rest, dimensions),
            )
        )
    return GroupingResult(
        grouping=grouping,
        categories=tuple(categories),
        unknown=labels.count(_UNKNOWN),
        declined=labels.count(_DECLINED),
        selection_reference=selection_reference,
        scoring_reference=scoring_reference,
    )


def _notes(without_score: int, exclude_small: bool) -> tuple[str, ...]:
    small = (
        "excluded from the impact ratios and the choice of reference (LL144 allows this)"
        if exclude_small
        else "kept in the impact ratios"
    )
    return (
        "selected: overall level >= cut; selection impact ratio: category rate / highest category rate (UGESP "
        "four-fifths rule: flagged under 0.8)",
        "scoring rate (NYC LL144): share of the category scoring strictly above the median overall score of all "
        "analysed candidates, unknown and declined included",
        "unknown (no answer) and declined are counted per grouping and are not categories of the rates",
        f"categories under {SMALL_SHARE:.0%} of the analysed candidates are marked small and {small}",
        f"fisher_p: two-sided Fisher's exact test against the reference category; small_sample: n < {SMALL_SAMPLE_N}"
        f" or an expected count under {MIN_EXPECTED_COUNT:g}",
        "dimension gaps: Cohen's d (pooled SD) of the category's mean level against the other known categories",
        f"{without_score} candidate(s) without an overall level (needs review) are left out of every figure",
    )


def adverse_impact(
    scores: Sequence[ScoredCandidate],
    demographics: Mapping[str, Demographics],
    *,
    cut: float | None,
    dimensions: Sequence[str],
    exclude_small: bool = True,
) -> AdverseImpactReport:
    """The adverse-impact report of ``scores`` by the candidates' self-identification.

    ``demographics`` maps candidate id to self-identification; a candidate without an entry is
    unknown, and entries for candidates not in ``scores`` are ignored. ``cut`` is on the rubric's
    level scale (``None``: no selection rates). Candidates without an overall level or score are
    counted (``without_score``) and left out. Raises ``ValueError`` for a non-finite cut or a
    candidate id given twice.
    """
    if cut is not None and not math.isfinite(cut):
        raise ValueError("the cut must be a finite level")
    if len({c.candidate_id for c in scores}) != len(scores):
        raise ValueError("a candidate appears more than once in the scores")
    scored = [c for c in scores if c.level is not None and c.score is not None]
    median = float(np.median([c.score for c in scored])) if scored else math.nan
    groupings = tuple(
        _grouping(
            grouping,
            scored,
            [_label(grouping, demographics.get(c.candidate_id)) for c in scored],
            cut=cut,
            median=median,
            dimensions=dimensions,
            exclude_small=exclude_small,
        )
        for grouping in ("sex", "race_ethnicity", "sex_race_ethnicity")
    )
    return AdverseImpactReport(
        candidates=len(scored),
        without_score=len(scores) - len(scored),
        cut=cut,
        median_score=median if scored else None,
        four_fifths_threshold=FOUR_FIFTHS,
        small_share_threshold=SMALL_SHARE,
        small_excluded_from_ratios=exclude_small,
        groupings=groupings,
        notes=_notes(len(scores) - len(scored), exclude_small),
    )


# ---------------------------------------------------------------- renderers


def to_json(report: AdverseImpactReport) -> bytes:
    """The report as JSON (msgspec)."""
    return msgspec.json.encode(report)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _flag(value: bool | None) -> str:
    return "" if value is None else str(value).lower()


def _safe(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _rate_cells(rates: RateComparison | None) -> list[str]:
    if rates is None:
        return [""] * 6
    return [
        str(rates.count),
        _number(rates.rate),
        _number(rates.impact_ratio),
        _flag(rates.four_fifths_flag),
        _number(rates.fisher_p),
        _flag(rates.small_sample),
    ]


def to_csv(report: AdverseImpactReport) -> str:
    """One row per category of each grouping, then one per grouping for unknown and declined
    (``kind`` says which); dimension gaps as ``<dimension>_mean``, ``_d`` and ``_n`` columns.
    """
    dimensions = [g.dimension_id for g in next((c.dimension_gaps for g in report.groupings for c in g.categories), ())]
    rate_columns = ("count", "rate", "impact_ratio", "four_fifths_flag", "fisher_p", "small_sample")
    header = [
        "grouping",
        "kind",
        "category",
        "n",
        "share",
        "small",
        *(f"selected_{c}" if c == "count" else f"selection_{c}" for c in rate_columns),
        *(f"above_median_{c}" if c == "count" else f"scoring_{c}" for c in rate_columns),
        *(f"{_safe(d)}_{s}" for d in dimensions for s in ("mean", "d", "n")),
        "cut",
        "median_score",
        "small_excluded_from_ratios",
    ]
    tail = [_number(report.cut), _number(report.median_score), _flag(report.small_excluded_from_ratios)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for group in report.groupings:
        for category in group.categories:
            gaps = {g.dimension_id: g for g in category.dimension_gaps}
            gap_cells = [
                cell
                for d in dimensions
                for cell in (
                    (_number(gaps[d].mean), _number(gaps[d].cohens_d), str(gaps[d].n)) if d in gaps else ("", "", "")
                )
            ]
            writer.writerow(
                [
                    group.grouping,
                    "category",
                    category.category,
                    category.n,
                    _number(category.share),
                    _flag(category.small),
                    *_rate_cells(category.selection),
                    *_rate_cells(category.scoring),
                    *gap_cells,
                    *tail,
                ]
            )
        blank = [""] * (len(header) - 4 - len(tail))
        for kind, count in ((_UNKNOWN, group.unknown), (_DECLINED, group.declined)):
            writer.writerow([group.grouping, kind, "", count, *blank, *tail])
    return buffer.getvalue()


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rates_text(rates: RateComparison | None) -> list[str]:
    if rates is None:
        return ["-", "-", "-"]
    flag = " *" if rates.four_fifths_flag else ""
    small = " !" if rates.small_sample else ""
    return [f"{rates.count} ({rates.rate:.0%})", _cell(rates.impact_ratio) + flag, _cell(rates.fisher_p, 3) + small]


def render_text(report: AdverseImpactReport) -> str:
    """A plain-text table per grouping, for a terminal."""
    cut = "none" if report.cut is None else f"{report.cut:g}"
    median = _cell(report.median_score, 1)
    out = [
        f"{report.candidates} candidates analysed ({report.without_score} without a score left out); "
        f"cut {cut}; median score {median}",
        "* impact ratio under 0.8 (four-fifths rule)   ! small sample   (small) under 2% of the sample"
        + (", left out of the ratios" if report.small_excluded_from_ratios else ""),
    ]
    header = ["category", "n", "share", "selected", "ratio", "fisher p", "above median", "ratio", "fisher p"]
    for group in report.groupings:
        rows = [header]
        for c in group.categories:
            name = c.category + (" (small)" if c.small else "")
            rows.append([name, str(c.n), f"{c.share:.1%}", *_rates_text(c.selection), *_rates_text(c.scoring)])
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        out += ["", f"{group.grouping} (unknown {group.unknown}, declined {group.declined})"]
        out += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        gaps = [
            f"    {c.category}: " + ", ".join(f"{g.dimension_id} d={_cell(g.cohens_d)}" for g in c.dimension_gaps)
            for c in group.categories
            if c.dimension_gaps
        ]
        if gaps:
            out += ["  dimension gaps (Cohen's d vs the other categories):", *gaps]
    return "\n".join(out) + "\n"
