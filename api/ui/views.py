"""What the screening page shows, computed from a stored record: bars, answers split into marked sentences.

Pure functions of the report and the candidate's answers (no database, no HTTP), so they are tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from markupsafe import Markup

from api.domain import MalformedField
from api.schemas import DimensionDecision, ScreeningOut
from api.ui.charts import ImpactBar, impact_ratio_chart
from screening.fairness import AdverseImpactReport, CategoryResult, RateComparison
from screening.report import AnswerReport, CandidateAnswers, ReferenceMatch, ScaleInfo
from screening.rubric import Rubric

__all__ = [
    "REASON_WORDS",
    "AnswerView",
    "Bar",
    "Mark",
    "Segment",
    "answer_views",
    "bar",
    "day_after",
    "day_start",
    "impact_charts",
    "reason_words",
]

REASON_WORDS = {
    "empty": "The answer is empty.",
    "too_short": "The answer is too short to judge.",
    "not_english": "The answer does not read as English.",
    "keyword_list": "The answer is a list of keywords rather than what the candidate would do.",
    "copied_from_scenario": "The answer mostly repeats the question's scenario.",
    "copied_reference": "The answer is a near-copy of one of the rubric's reference responses.",
    "off_topic": "The answer does not seem to be about the question.",
    "non_answer": "The answer does not answer the question (for example 'I don't know').",
    "irrelevant": "The answer is on the subject but does not say what the candidate would do.",
    "unanswered": "Some questions of the rubric were not answered.",
}


def reason_words(code: str) -> str:
    """A ``needs_review`` reason code in plain words."""
    return REASON_WORDS.get(code, code.replace("_", " ").capitalize() + ".")


@dataclass(frozen=True, slots=True)
class Bar:
    """A level drawn on the rubric's scale: its width in percent and the words read out with it."""

    level: float | None
    percent: float
    text: str


def bar(level: float | None, scale: ScaleInfo) -> Bar:
    """Place a level on the scale (0% at the minimum, 100% at the maximum)."""
    if level is None:
        return Bar(level=None, percent=0.0, text="no level")
    span = max(scale.max - scale.min, 1)
    percent = round(100 * min(max((level - scale.min) / span, 0.0), 1.0), 1)
    return Bar(level=level, percent=percent, text=f"{level:.1f} of {scale.max}")


@dataclass(frozen=True, slots=True)
class Mark:
    """What a sentence gave to one dimension: its level, or a negation or red flag."""

    kind: str  # "evidence", "negation", "red_flag"
    dimension: str
    level: float | None
    note: str = ""
    matches: tuple[ReferenceMatch, ...] = ()


@dataclass(slots=True)
class Segment:
    """A stretch of the answer's text and the marks of the sentence it is (none for text between sentences)."""

    text: str
    marks: list[Mark] = field(default_factory=list)
    index: int | None = None

    @property
    def kinds(self) -> set[str]:
        """The kinds of marks on this stretch."""
        return {m.kind for m in self.marks}


@dataclass(frozen=True, slots=True)
class AnswerView:
    """One answer: its question, report, and text in marked segments; sentences not found in the text apart."""

    question_id: str
    prompt: str
    report: AnswerReport
    segments: list[Segment]
    unplaced: list[Segment]


def _marks_by_sentence(answer: AnswerReport, names: dict[str, str]) -> dict[int, tuple[str, list[Mark]]]:
    found: dict[int, tuple[str, list[Mark]]] = {}

    def add(index: int | None, text: str, mark: Mark) -> None:
        if index is not None:
            found.setdefault(index, (text, []))[1].append(mark)

    for dim in answer.dimensions:
        name = names.get(dim.dimension_id, dim.dimension_id)
        for ev in dim.evidence:
            add(ev.sentence_index, ev.text, Mark("evidence", name, ev.level, matches=ev.matches))
        for neg in dim.negations:
            note = f"denies a level-{neg.reference.level} behaviour ({', '.join(neg.cues)}); counted at {neg.level_given:.1f}"
            add(neg.sentence_index, neg.text, Mark("negation", name, neg.level_given, note, (neg.reference,)))
        for flag in dim.red_flags:
            add(flag.sentence_index, flag.text, Mark("red_flag", name, None, f"resembles: {flag.example}"))
    return found


def _undo_corrections(text: str, answer: AnswerReport) -> str:
    for correction in answer.spelling_corrections:
        text = text.replace(correction.corrected, correction.written)
    return text


def _segments(text: str, answer: AnswerReport, names: dict[str, str]) -> tuple[list[Segment], list[Segment]]:
    """Split the answer at the sentences the report names; sentences not found verbatim are returned apart."""
    segments: list[Segment] = []
    unplaced: list[Segment] = []
    position = 0
    for index, (scored, marks) in sorted(_marks_by_sentence(answer, names).items()):
        start, sentence = -1, scored
        for candidate in (scored, _undo_corrections(scored, answer)):
            start = text.find(candidate, position)
            if start >= 0:
                sentence = candidate
                break
        if start < 0:
            unplaced.append(Segment(scored, marks, index))
            continue
        if start > position:
            segments.append(Segment(text[position:start]))
        segments.append(Segment(sentence, marks, index))
        position = start + len(sentence)
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments, unplaced


def answer_views(record: ScreeningOut, answers: CandidateAnswers | None, rubric: Rubric | None) -> list[AnswerView]:
    """Every answer of the report with its text split into marked sentences."""
    if record.report is None:
        return []
    names = {d.dimension_id: d.name for d in record.report.dimensions}
    texts = {a.question_id: a.text for a in answers.answers} if answers else {}
    prompts = {q.id: q.prompt for q in rubric.questions} if rubric else {}
    views = []
    for answer in record.report.answers:
        segments, unplaced = _segments(texts.get(answer.question_id, ""), answer, names)
        views.append(AnswerView(answer.question_id, prompts.get(answer.question_id, ""), answer, segments, unplaced))
    return views


def decision_for(record: ScreeningOut, target: str) -> DimensionDecision | None:
    """The decision of ``overall`` or one dimension."""
    if record.decision is None:
        return None
    if target == "overall":
        return record.decision.overall
    return next((d for d in record.decision.dimensions if d.dimension_id == target), None)


def _day(text: str | None, field_name: str) -> date | None:
    """A ``YYYY-MM-DD`` date from a filter form (blank: none); :class:`MalformedField` (400) naming the field."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        message = "not a date of the form YYYY-MM-DD"
        raise MalformedField(f"{field_name}: {message} (got {text[:40]!r}).", fields=[(field_name, message)]) from exc
    if not 1970 <= day.year < 8999:
        message = "must be a day from 1970 to 8998"
        raise MalformedField(f"{field_name}: {message}.", fields=[(field_name, message)])
    return day


def day_start(text: str | None, field_name: str) -> datetime | None:
    """The start (00:00 UTC) of a filter's day: screenings created on or after it."""
    day = _day(text, field_name)
    return None if day is None else datetime.combine(day, datetime.min.time(), UTC)


def day_after(text: str | None, field_name: str) -> datetime | None:
    """The start of the day after a filter's day: screenings created on or before that day (UTC)."""
    day = _day(text, field_name)
    return None if day is None else datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1)


def _impact_bar(category: CategoryResult, rate: RateComparison | None, small_excluded: bool) -> ImpactBar:
    name = category.category
    if rate is None or rate.impact_ratio is not None:
        return ImpactBar(name, None if rate is None else rate.impact_ratio)
    if category.small and small_excluded:
        return ImpactBar(name, None, "small group: not compared")
    return ImpactBar(name, None, "no ratio (no reference rate)")


def impact_charts(report: AdverseImpactReport) -> dict[str, dict[str, Markup | None]]:
    """Per grouping, the impact-ratio charts: ``selection`` (at the cut, when there is one) and ``scoring``."""
    charts: dict[str, dict[str, Markup | None]] = {}
    excluded = report.small_excluded_from_ratios
    for grouping in report.groupings:
        name = grouping.grouping.replace("_", " ")
        charts[grouping.grouping] = {
            "selection": impact_ratio_chart(
                [_impact_bar(c, c.selection, excluded) for c in grouping.categories],
                report.four_fifths_threshold,
                f"selection-rate ({name}, at the cut)",
                f"{grouping.grouping}-selection",
            )
            if report.cut is not None
            else None,
            "scoring": impact_ratio_chart(
                [_impact_bar(c, c.scoring, excluded) for c in grouping.categories],
                report.four_fifths_threshold,
                f"scoring-rate ({name}, above the median)",
                f"{grouping.grouping}-scoring",
            ),
        }
    return charts
