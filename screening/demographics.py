"""Candidates' demographic self-identification, for adverse-impact checks only.

Self-identification is optional and kept apart from answers and reports: nothing here is
an input to scoring, and no report, export or webhook carries it. The categories are those
of EEO-1 and NYC Local Law 144 bias audits; ``declined`` means the candidate chose not to
say, and an absent value (``None``, an empty CSV cell, a candidate with no record) means
unknown. Both are counted in the adverse-impact report, never silently dropped.

A demographics file is CSV (header ``candidate_id,sex,race_ethnicity``) or JSONL (one
:class:`Demographics` object a line). Reading it is bounded (file size, line length, number
of problems listed) and names every problem by line and field.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Final, Literal, get_args

import msgspec
from msgspec import Meta

from screening.errors import Problem, ScreeningError
from screening.wire_errors import msgspec_error_location

__all__ = [
    "MAX_DEMOGRAPHICS_BYTES",
    "MAX_LINE_CHARS",
    "MAX_LISTED_PROBLEMS",
    "RACE_ETHNICITY_CATEGORIES",
    "SEX_CATEGORIES",
    "Demographics",
    "DemographicsFormat",
    "InvalidDemographics",
    "RaceEthnicity",
    "Sex",
    "load_demographics",
    "read_demographics",
]

Sex = Literal["female", "male", "other", "declined"]
"""Sex as a bias audit groups it: ``other`` is any other identity (non-binary included)."""

RaceEthnicity = Literal[
    "hispanic_or_latino",
    "white",
    "black_or_african_american",
    "native_hawaiian_or_pacific_islander",
    "asian",
    "american_indian_or_alaska_native",
    "two_or_more_races",
    "declined",
]
"""The EEO-1 race/ethnicity categories (Hispanic or Latino first, as EEO-1 asks), or ``declined``."""

DemographicsFormat = Literal["csv", "jsonl"]

SEX_CATEGORIES: Final[tuple[str, ...]] = tuple(c for c in get_args(Sex) if c != "declined")
RACE_ETHNICITY_CATEGORIES: Final[tuple[str, ...]] = tuple(c for c in get_args(RaceEthnicity) if c != "declined")

MAX_DEMOGRAPHICS_BYTES: Final = 64 * 1024 * 1024
MAX_LINE_CHARS: Final = 1_000
MAX_LISTED_PROBLEMS: Final = 200

_FIELDS: Final = ("candidate_id", "sex", "race_ethnicity")
_ALLOWED: Final[dict[str, tuple[str, ...]]] = {"sex": get_args(Sex), "race_ethnicity": get_args(RaceEthnicity)}


class Demographics(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One candidate's self-identification; ``None`` is unknown, ``"declined"`` chose not to say."""

    candidate_id: Annotated[str, Meta(min_length=1, max_length=200)]
    sex: Sex | None = None
    race_ethnicity: RaceEthnicity | None = None


class InvalidDemographics(ScreeningError):
    """A demographics file with problems; ``problems`` lists each (``line N: field``), at most
    :data:`MAX_LISTED_PROBLEMS` of them, and ``more`` counts the rest.
    """

    code = "invalid-demographics"

    def __init__(self, source: str, problems: Sequence[Problem], more: int = 0) -> None:
        self.source = source
        self.problems = tuple(problems)
        self.more = more
        lines = [f"{source}: {p}" for p in self.problems]
        if more:
            lines.append(f"{source}: ... and {more} more problem(s)")
        super().__init__("\n".join(lines))


class _Problems:
    """Collects problems up to a bound, counting those beyond it."""

    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.more = 0

    def add(self, line: int, field: str, message: str) -> None:
        if len(self.listed) < MAX_LISTED_PROBLEMS:
            self.listed.append(Problem(location=f"line {line}: {field}", message=message))
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.listed)


def _text(number: int, raw: str | bytes, problems: _Problems) -> str | None:
    """The line as text, or ``None`` (with a problem) when it is not UTF-8, too long or holds a NUL."""
    try:
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        problems.add(number, "(line)", f"not valid UTF-8 (byte {exc.start})")
        return None
    if number == 1:
        line = line.removeprefix("\ufeff")
    if len(line) > MAX_LINE_CHARS:
        problems.add(number, "(line)", f"longer than {MAX_LINE_CHARS} characters")
        return None
    if "\x00" in line:
        problems.add(number, "(line)", "contains a NUL character")
        return None
    return line


def _record_from_csv(number: int, header: Sequence[str], cells: Sequence[str], problems: _Problems) -> dict | None:
    if len(cells) != len(header):
        problems.add(number, "(line)", f"{len(cells)} cell(s), the header has {len(header)}")
        return None
    record: dict[str, str | None] = {}
    ok = True
    for name, cell in zip(header, cells, strict=True):
        value = cell.strip()
        if name == "candidate_id":
            if not value or len(value) > 200:
                problems.add(number, name, "must be 1 to 200 characters")
                ok = False
            record[name] = value
        elif value and value not in _ALLOWED[name]:
            problems.add(number, name, f"{value[:40]!r} is not one of {', '.join(_ALLOWED[name])} (empty: unknown)")
            ok = False
        else:
            record[name] = value or None
    return record if ok else None


def _csv_header(number: int, line: str, problems: _Problems) -> list[str] | None:
    header = [cell.strip() for cell in next(csv.reader([line]), [])]
    unknown = [name for name in header if name not in _FIELDS]
    for name in unknown:
        problems.add(number, name[:40] or "(empty)", f"unknown column; the columns are {', '.join(_FIELDS)}")
    if "candidate_id" not in header:
        problems.add(number, "candidate_id", "the header has no candidate_id column")
    twice = sorted({n for n in header if header.count(n) > 1})
    for name in twice:
        problems.add(number, name, "column named twice")
    return None if unknown or twice or "candidate_id" not in header else header


def _read_csv(lines: Iterable[tuple[int, str]], problems: _Problems) -> Iterable[tuple[int, Demographics]]:
    header: list[str] | None = None
    for number, line in lines:
        if header is None:
            header = _csv_header(number, line, problems)
            if header is None:
                return
            continue
        try:
            cells = next(csv.reader([line], strict=True), [])
        except csv.Error as exc:
            problems.add(number, "(csv)", f"not valid CSV: {exc}")
            continue
        record = _record_from_csv(number, header, cells, problems)
        if record is not None:
            yield number, Demographics(**record)


def _read_jsonl(lines: Iterable[tuple[int, str]], problems: _Problems) -> Iterable[tuple[int, Demographics]]:
    decoder = msgspec.json.Decoder(Demographics)
    for number, line in lines:
        try:
            yield number, decoder.decode(line)
        except msgspec.ValidationError as exc:
            field, message = msgspec_error_location(str(exc))
            problems.add(number, field or "(line)", message)
        except msgspec.DecodeError as exc:
            problems.add(number, "(json)", f"not valid JSON: {exc}")


def read_demographics(
    lines: Sequence[str | bytes], fmt: DemographicsFormat, source: str = "demographics"
) -> dict[str, Demographics]:
    """Decode every line of a CSV or JSONL demographics file into ``{candidate_id: Demographics}``.

    Blank lines are skipped; a candidate named twice is a problem. Raises
    :class:`InvalidDemographics` listing every problem found (by line and field).
    """
    problems = _Problems()
    texts = ((n, t) for n, raw in enumerate(lines, start=1) if (t := _text(n, raw, problems)) is not None)
    nonblank = ((n, t) for n, t in texts if t.strip())
    records = _read_csv(nonblank, problems) if fmt == "csv" else _read_jsonl(nonblank, problems)
    found: dict[str, Demographics] = {}
    seen: dict[str, int] = {}
    for number, record in records:
        if record.candidate_id in seen:
            problems.add(number, "candidate_id", f"already given on line {seen[record.candidate_id]}")
        else:
            seen[record.candidate_id] = number
            found[record.candidate_id] = record
    if problems:
        raise InvalidDemographics(source, problems.listed, problems.more)
    return found


def load_demographics(path: Path, fmt: DemographicsFormat | None = None) -> dict[str, Demographics]:
    """Read a demographics file of at most :data:`MAX_DEMOGRAPHICS_BYTES`; the format is
    ``fmt``, else ``csv`` for a ``.csv`` name and JSONL otherwise.
    """
    size = path.stat().st_size
    if size > MAX_DEMOGRAPHICS_BYTES:
        problem = Problem(location="(file)", message=f"{size} bytes; at most {MAX_DEMOGRAPHICS_BYTES} are read")
        raise InvalidDemographics(str(path), [problem])
    chosen: DemographicsFormat = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    return read_demographics(path.read_bytes().splitlines(), chosen, source=str(path))
