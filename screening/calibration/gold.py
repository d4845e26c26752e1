"""Gold data: human-rated answers for one rubric version, read from JSONL or CSV and validated.

One rated answer per JSONL line::

    {"candidate_id": "c-1", "question_id": "broken-gift", "text": "I'd ring the courier ...",
     "ratings": {"ownership": 4, "empathy": [{"rater": "ana", "level": 3}, {"rater": "ben", "level": 4}]}}

A dimension's rating is a level, or a list of one or two ``{"rater", "level"}`` (two from
different raters). CSV has a header row ``candidate_id,question_id,text,<dimension>,...`` and
optionally ``<dimension>#2`` (a second rater's level); an empty cell is not rated.

Parsing is bounded (file size, line count, text length), strict (UTF-8, no NUL or control
characters, no unknown fields) and never stops at the first mistake: every problem is
collected with its line and field and raised together as :class:`InvalidGold`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from screening.calibration.errors import GoldProblem, InvalidGold
from screening.forbidden_characters import CONTROL_CHARACTERS
from screening.report import Answer, CandidateAnswers
from screening.rubric import Rubric, Scale
from screening.wire_errors import msgspec_error_location

__all__ = [
    "MAX_GOLD_BYTES",
    "MAX_GOLD_LINES",
    "MAX_GOLD_PROBLEMS",
    "GoldAnswer",
    "GoldFormat",
    "GoldRating",
    "GoldSet",
    "Rating",
    "gold_candidates",
    "gold_set",
    "normalised_text",
    "parse_gold",
    "read_gold",
    "round_level",
]

MAX_GOLD_BYTES = 32 * 1024 * 1024
MAX_GOLD_LINES = 100_000
MAX_GOLD_PROBLEMS = 500
MAX_EXTRA_COLUMNS = 100  # unknown columns named one by one before the header is refused as a whole
SECOND_RATER = "#2"

GoldFormat = Literal["jsonl", "csv"]
RaterName = Annotated[str, Meta(max_length=64)]
DimensionKey = Annotated[str, Meta(min_length=1, max_length=64)]
# A rated answer becomes a rubric reference when the rubric is calibrated: the same limit.
GoldText = Annotated[str, Meta(min_length=1, max_length=4000)]
CandidateId = Annotated[str, Meta(min_length=1, max_length=200)]
QuestionId = Annotated[str, Meta(min_length=1, max_length=64)]


class Rating(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One rater's level for one dimension of one answer (``rater`` may be left unnamed)."""

    level: int
    rater: RaterName = ""


class _GoldLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The wire shape of one JSONL line."""

    candidate_id: CandidateId
    question_id: QuestionId
    text: GoldText
    ratings: dict[DimensionKey, msgspec.Raw]  # each value decoded on its own, so errors name the dimension


_Ratings = int | Annotated[tuple[Rating, ...], Meta(min_length=1, max_length=2)]
_RATINGS = msgspec.json.Decoder(_Ratings)


class GoldRating(msgspec.Struct, frozen=True, kw_only=True):
    """The one or two ratings of one dimension of one answer."""

    dimension_id: str
    ratings: tuple[Rating, ...]

    @property
    def level(self) -> float:
        """The human level: the mean of the raters' levels."""
        return sum(r.level for r in self.ratings) / len(self.ratings)


class GoldAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A human-rated answer: who wrote it, to which question, and its rating per dimension."""

    line: int
    candidate_id: str
    question_id: str
    text: str
    ratings: tuple[GoldRating, ...]


class GoldSet(msgspec.Struct, frozen=True, kw_only=True):
    """Validated gold for one rubric version; ``digest`` names its content (not its format or order)."""

    rubric_id: str
    rubric_version: str
    answers: tuple[GoldAnswer, ...]
    digest: str

    @property
    def candidate_ids(self) -> tuple[str, ...]:
        """Candidates in order of first appearance."""
        return tuple(dict.fromkeys(a.candidate_id for a in self.answers))

    @property
    def rating_count(self) -> int:
        """Rated (answer, dimension) pairs."""
        return sum(len(a.ratings) for a in self.answers)

    @property
    def second_ratings(self) -> int:
        """Rated (answer, dimension) pairs with a second rater."""
        return sum(len(r.ratings) == 2 for a in self.answers for r in a.ratings)


def normalised_text(text: str) -> str:
    """Lowercase, whitespace collapsed: the rubric's own rule for "the same reference text"."""
    return " ".join(text.lower().split())


def round_level(level: float, scale: Scale) -> int:
    """``level`` rounded half up to a whole level on ``scale`` (2.5 -> 3)."""
    return min(max(math.floor(level + 0.5), scale.min), scale.max)


def gold_candidates(answers: tuple[GoldAnswer, ...] | list[GoldAnswer]) -> list[CandidateAnswers]:
    """The gold answers as candidates to score, one per candidate id, in order of first appearance."""
    grouped: dict[str, list[Answer]] = {}
    for answer in answers:
        grouped.setdefault(answer.candidate_id, []).append(Answer(question_id=answer.question_id, text=answer.text))
    return [CandidateAnswers(candidate_id=c, answers=tuple(a)) for c, a in grouped.items()]


class _Raw(msgspec.Struct, kw_only=True):
    """A decoded line before the rubric's rules: values plus the field name of each rating."""

    line: int
    candidate_id: str
    question_id: str
    text: str
    ratings: list[tuple[str, tuple[Rating, ...], str, tuple[str, ...]]]  # dimension, ratings, field, level fields
    unreadable_ratings: bool = False  # some rating was malformed (already reported)


class _Problems:
    """Problems collected up to :data:`MAX_GOLD_PROBLEMS`; past it, one line says how many more."""

    def __init__(self) -> None:
        self.items: list[GoldProblem] = []
        self.dropped = 0

    def add(self, line: int, field: str, message: str) -> None:
        if len(self.items) < MAX_GOLD_PROBLEMS:
            self.items.append(GoldProblem(line=line, field=field, message=message))
        else:
            self.dropped += 1

    def raise_if_any(self, source: str) -> None:
        if self.dropped:
            self.items.append(GoldProblem(line=0, field="(file)", message=f"{self.dropped} more problem(s) not listed"))
        if self.items:
            raise InvalidGold(source, sorted(self.items, key=lambda p: p.line))  # stable: a line's own order


def read_gold(path: Path | str, rubric: Rubric, fmt: GoldFormat | None = None) -> GoldSet:
    """Read and validate a gold file (format from ``fmt``, else ``.csv`` -> CSV, anything else JSONL)."""
    path = Path(path)
    chosen: GoldFormat = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    try:
        size = path.stat().st_size
        if size > MAX_GOLD_BYTES:
            raise InvalidGold(str(path), [_too_big(size)])
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidGold(str(path), [GoldProblem(line=0, field="(file)", message=exc.strerror or str(exc))]) from exc
    return parse_gold(data, chosen, rubric, source=str(path))


def parse_gold(data: bytes, fmt: GoldFormat, rubric: Rubric, source: str = "<gold>") -> GoldSet:
    """Decode and validate gold ``data`` against ``rubric``; raise :class:`InvalidGold` listing every problem."""
    if len(data) > MAX_GOLD_BYTES:
        raise InvalidGold(source, [_too_big(len(data))])
    problems = _Problems()
    data = data.removeprefix(b"\xef\xbb\xbf")  # a spreadsheet's byte-order mark is not content
    raws = list(_jsonl_lines(data, problems) if fmt == "jsonl" else _csv_rows(data, rubric, problems))
    if not raws and not problems.items:
        problems.add(0, "(file)", "no rated answers")
    answers = []
    first_line: dict[tuple[str, str], int] = {}
    for raw in raws:
        before = len(problems.items) + problems.dropped
        _check_answer(raw, rubric, problems)
        key = (raw.candidate_id, raw.question_id)
        if key in first_line:
            problems.add(
                raw.line,
                "question_id",
                f"candidate {raw.candidate_id!r} already has an answer to {raw.question_id!r} on line {first_line[key]}",
            )
        first_line.setdefault(key, raw.line)
        if len(problems.items) + problems.dropped == before:
            answers.append(_answer(raw))
    problems.raise_if_any(source)
    return gold_set(rubric, answers)


def gold_set(rubric: Rubric, answers: Sequence[GoldAnswer]) -> GoldSet:
    """Validated ``answers`` of ``rubric`` as a gold set, with the digest of their content."""
    return GoldSet(rubric_id=rubric.id, rubric_version=rubric.version, answers=tuple(answers), digest=_digest(answers))


def _too_big(size: int) -> GoldProblem:
    return GoldProblem(line=0, field="(file)", message=f"{size} bytes; at most {MAX_GOLD_BYTES} are accepted")


def _lines(data: bytes, problems: _Problems) -> Iterator[tuple[int, str | None]]:
    """``(number, text)`` of each physical line (``None`` when it is not UTF-8), within the line limit."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if number > MAX_GOLD_LINES:
            problems.add(number, "(file)", f"more than {MAX_GOLD_LINES} lines; split the file")
            return
        try:
            yield number, raw.removesuffix(b"\r").decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.add(number, "(line)", f"not valid UTF-8 (byte {exc.start})")
            yield number, None


def _jsonl_lines(data: bytes, problems: _Problems) -> Iterator[_Raw]:
    decoder = msgspec.json.Decoder(_GoldLine)
    for number, line in _lines(data, problems):
        if line is None or not line.strip():
            continue
        try:
            decoded = decoder.decode(line)
        except msgspec.ValidationError as exc:
            field, message = msgspec_error_location(str(exc))
            problems.add(number, field or "(line)", message)
            continue
        except msgspec.DecodeError as exc:
            problems.add(number, "(json)", f"not valid JSON: {exc}")
            continue
        ratings = []
        unreadable = False
        for dimension, raw in decoded.ratings.items():
            where = f"ratings.{dimension}"
            try:
                given = _RATINGS.decode(raw)
            except msgspec.ValidationError as exc:
                problems.add(number, *msgspec_error_location(str(exc), within=where))
                unreadable = True
                continue
            if isinstance(given, int):
                ratings.append((dimension, (Rating(level=given),), where, (where,)))
            else:
                fields = tuple(f"{where}[{i}].level" for i in range(len(given)))
                ratings.append((dimension, given, where, fields))
        yield _Raw(
            line=number,
            candidate_id=decoded.candidate_id,
            question_id=decoded.question_id,
            text=decoded.text,
            ratings=ratings,
            unreadable_ratings=unreadable,
        )


def _csv_rows(data: bytes, rubric: Rubric, problems: _Problems) -> Iterator[_Raw]:
    """Rows of a CSV with a header; a row's line is the line it starts on."""
    bad = {number for number, line in _lines(data, problems) if line is None}
    if any(p.field == "(file)" for p in problems.items):
        return
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.add(1, "(header)", f"not valid CSV: {exc}")
        return
    if header is None:
        return
    columns = _csv_columns([h.strip() for h in header], rubric, problems)
    if columns is None:
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            problems.add(start, "(line)", f"not valid CSV: {exc}")
            return
        if row is None:
            return
        number, start = start, reader.line_num + 1
        if number in bad or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.add(number, "(line)", f"{len(row)} cells; the header has {len(header)}")
            continue
        raw = _csv_row(number, dict(zip(columns, row, strict=True)), columns, problems)
        if raw is not None:
            yield raw


def _csv_columns(header: list[str], rubric: Rubric, problems: _Problems) -> list[str] | None:
    """The header's column names, checked: the three text columns, dimensions and second raters."""
    known = {d.id for d in rubric.dimensions}
    most = 3 + 2 * len(known) + MAX_EXTRA_COLUMNS  # the text columns, two raters per dimension, and typos
    if len(header) > most:
        problems.add(
            1, "(header)", f"{len(header)} columns; a gold file for this rubric has at most {3 + 2 * len(known)}"
        )
        return None
    ok = True
    for required in ("candidate_id", "question_id", "text"):
        if required not in header:
            problems.add(1, required, "missing column; the header needs candidate_id, question_id, text")
            ok = False
    names = set(header)
    seen: set[str] = set()
    for index, name in enumerate(header):
        dimension = name.removesuffix(SECOND_RATER)
        if name in seen:
            problems.add(1, name or f"column {index + 1}", "column appears twice")
            ok = False
            continue
        seen.add(name)
        if name in {"candidate_id", "question_id", "text"}:
            continue
        elif dimension not in known:
            problems.add(
                1,
                name or f"column {index + 1}",
                f"unknown dimension column {name!r}; declared: {', '.join(sorted(known))} "
                f"(a second rater's column is '<dimension>{SECOND_RATER}')",
            )
            ok = False
        elif name.endswith(SECOND_RATER) and dimension not in names:
            problems.add(1, name, f"a second rater's column without the first ({dimension!r})")
            ok = False
    return header if ok else None


def _csv_row(number: int, cells: dict[str, str], columns: list[str], problems: _Problems) -> _Raw | None:
    ratings = []
    ok = True
    for name in columns:
        if name in {"candidate_id", "question_id", "text"} or name.endswith(SECOND_RATER):
            continue
        levels: list[Rating] = []
        fields: list[str] = []
        for column, rater in ((name, "1"), (name + SECOND_RATER, "2")):
            cell = cells.get(column, "").strip()
            if not cell:
                continue
            if not re.fullmatch(r"[+-]?[0-9]{1,6}", cell):
                problems.add(number, column, f"level must be a whole number, got {cell[:40]!r}")
                ok = False
                continue
            levels.append(Rating(level=int(cell), rater=rater))
            fields.append(column)
        if cells.get(name + SECOND_RATER, "").strip() and not cells.get(name, "").strip():
            problems.add(number, name + SECOND_RATER, f"a second rating without a first in column {name!r}")
            ok = False
        elif levels:
            ratings.append((name, tuple(levels), name, tuple(fields)))
    plain = {k: cells[k] for k in ("candidate_id", "question_id", "text")}
    try:
        msgspec.convert({**plain, "ratings": {}}, type=_GoldLine)
    except msgspec.ValidationError as exc:
        field, message = msgspec_error_location(str(exc))
        problems.add(number, field or "(line)", message)
        ok = False
    if not ok:
        return None
    return _Raw(line=number, ratings=ratings, **plain)


def _check_answer(raw: _Raw, rubric: Rubric, problems: _Problems) -> None:
    """The rubric's rules: plain text, a known question, and each rating's (see :func:`_check_rating`)."""

    def add(field: str, message: str) -> None:
        problems.add(raw.line, field, message)

    for field in ("candidate_id", "question_id", "text"):
        if CONTROL_CHARACTERS.search(getattr(raw, field)):
            add(field, "contains a NUL or other control character")
    if not raw.text.strip():
        add("text", "is blank")
    questions = {q.id: q for q in rubric.questions}
    question = questions.get(raw.question_id)
    if question is None:
        known = ", ".join(questions)
        add("question_id", f"unknown question {raw.question_id!r} in rubric {rubric.id!r}; known: {known}")
    measured = [m.dimension for m in question.measures] if question else None
    if not raw.ratings and not raw.unreadable_ratings:
        add("ratings", f"rates no dimension; rate at least one of: {', '.join(measured or ['the question'])}")
    for dimension, ratings, where, level_fields in raw.ratings:
        _check_rating(rubric, raw.question_id, measured, dimension, ratings, (where, level_fields), add)


def _check_rating(
    rubric: Rubric,
    question_id: str,
    measured: list[str] | None,
    dimension: str,
    ratings: tuple[Rating, ...],
    fields: tuple[str, tuple[str, ...]],
    add: Callable[[str, str], None],
) -> None:
    """A declared dimension the question measures, levels on the scale, two distinct raters."""
    where, level_fields = fields
    declared = {d.id for d in rubric.dimensions}
    if dimension not in declared:
        add(where, f"unknown dimension {dimension!r}; declared: {', '.join(sorted(declared))}")
    elif measured is not None and dimension not in measured:
        add(where, f"question {question_id!r} does not measure {dimension!r}; it measures: {', '.join(measured)}")
    scale = rubric.scale
    for rating, field in zip(ratings, level_fields, strict=True):
        if not scale.min <= rating.level <= scale.max:
            add(field, f"level {rating.level} is off the scale {scale.min}..{scale.max}")
    names = [r.rater for r in ratings]
    if len(ratings) == 2 and names[0] and names[0] == names[1]:
        add(where, f"both ratings are by rater {names[0]!r}; a second rating must be by a different rater")
    if any(CONTROL_CHARACTERS.search(name) for name in names):
        add(where, "a rater name contains a NUL or other control character")


def _answer(raw: _Raw) -> GoldAnswer:
    return GoldAnswer(
        line=raw.line,
        candidate_id=raw.candidate_id,
        question_id=raw.question_id,
        text=raw.text,
        ratings=tuple(GoldRating(dimension_id=d, ratings=r) for d, r, _, _ in raw.ratings),
    )


def _digest(answers: Sequence[GoldAnswer]) -> str:
    """``sha256:`` of the gold's content in a canonical order, without line numbers."""
    content = sorted(
        (
            a.candidate_id,
            a.question_id,
            a.text,
            sorted((r.dimension_id, [(x.rater, x.level) for x in r.ratings]) for r in a.ratings),
        )
        for a in answers
    )
    return "sha256:" + hashlib.sha256(msgspec.json.encode(content)).hexdigest()
