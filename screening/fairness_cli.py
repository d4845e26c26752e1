"""``screening fairness report``: the adverse-impact report of scored candidates, from files.

The reports file is the output of ``screening score`` (one ``CandidateReport`` JSON a line);
the demographics file is CSV or JSONL (:mod:`screening.demographics`). Every problem of
either file is printed as one line (``FILE: line N: FIELD: what is wrong``), exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple

import msgspec

from screening.errors import Problem
from screening.wire_errors import msgspec_error_location

if TYPE_CHECKING:
    from screening.commands import Subcommands
    from screening.fairness import ScoredCandidate

__all__ = ["MAX_REPORT_LINE_BYTES", "ReportsRead", "read_scored_reports", "register"]

MAX_REPORT_LINE_BYTES: Final = 16 * 1024 * 1024
_MAX_LISTED: Final = 200


class ReportsRead(NamedTuple):
    """What the reports file held: candidates, dimension ids in order, rubric ids, scale."""

    candidates: list[ScoredCandidate]
    dimensions: list[str]
    rubrics: list[str]
    scale: tuple[int, int] | None


def _lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """``(number, line)`` of a file read line by line; ``None`` for a line over the length bound."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if len(line) > MAX_REPORT_LINE_BYTES:
                yield number, None
            else:
                yield number, line


def read_scored_reports(path: Path, problems: list[Problem]) -> ReportsRead:
    """Decode ``screening score``'s JSONL output into scored candidates; each bad line adds a
    problem (by line and field) to ``problems``. All reports must be of one rubric.
    """
    from screening.fairness import scored_candidate
    from screening.report import CandidateReport

    decoder = msgspec.json.Decoder(CandidateReport)
    candidates: list[ScoredCandidate] = []
    dimensions: dict[str, None] = {}
    rubrics: dict[str, int] = {}
    seen: dict[str, int] = {}
    scale: tuple[int, int] | None = None

    def add(number: int, field: str, message: str) -> None:
        problems.append(Problem(location=f"{path}: line {number}: {field}", message=message))

    for number, raw in _lines(path):
        if raw is None:
            add(number, "(line)", f"longer than {MAX_REPORT_LINE_BYTES} bytes")
            continue
        if not raw.strip():
            continue
        try:
            report = decoder.decode(raw)
        except msgspec.ValidationError as exc:
            field, message = msgspec_error_location(str(exc))
            add(number, field or "(line)", message)
            continue
        except msgspec.DecodeError as exc:
            add(number, "(json)", f"not a CandidateReport JSON line: {exc}")
            continue
        if report.candidate_id in seen:
            add(number, "candidate_id", f"the candidate of line {seen[report.candidate_id]} again")
            continue
        seen[report.candidate_id] = number
        rubrics.setdefault(report.provenance.rubric_id, number)
        scale = scale or (report.scale.min, report.scale.max)
        dimensions.update(dict.fromkeys(d.dimension_id for d in report.dimensions))
        candidates.append(scored_candidate(report))
    if len(rubrics) > 1:
        listing = ", ".join(f"{rubric!r} (from line {line})" for rubric, line in rubrics.items())
        add(min(rubrics.values()), "provenance.rubric_id", f"reports of more than one rubric: {listing}")
    return ReportsRead(candidates=candidates, dimensions=list(dimensions), rubrics=list(rubrics), scale=scale)


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems[:_MAX_LISTED]:
        print(f"error: {problem}", file=sys.stderr)
    if len(problems) > _MAX_LISTED:
        print(f"error: ... and {len(problems) - _MAX_LISTED} more problem(s)", file=sys.stderr)


def _cmd_report(args: argparse.Namespace) -> int:
    from screening.demographics import InvalidDemographics, load_demographics
    from screening.fairness import adverse_impact, render_text, to_csv, to_json

    problems: list[Problem] = []
    read = read_scored_reports(args.reports, problems)
    try:
        demographics = load_demographics(args.demographics)
    except InvalidDemographics as exc:
        demographics = {}
        problems += [Problem(location=f"{exc.source}: {p.location}", message=p.message) for p in exc.problems]
        if exc.more:
            problems.append(Problem(location=exc.source, message=f"... and {exc.more} more problem(s)"))
    cut = args.cut
    if cut is not None and (not math.isfinite(cut) or (read.scale and not read.scale[0] <= cut <= read.scale[1])):
        scale = f" {read.scale[0]}..{read.scale[1]}" if read.scale else ""
        problems.append(Problem(location="--cut", message=f"{cut:g} is not a level on the rubric's scale{scale}"))
    if problems:
        _print_problems(problems)
        return 2
    report = adverse_impact(
        read.candidates, demographics, cut=cut, dimensions=read.dimensions, exclude_small=not args.keep_small
    )
    if args.format == "json":
        sys.stdout.write(to_json(report).decode("utf-8") + "\n")
    elif args.format == "csv":
        sys.stdout.write(to_csv(report))
    else:
        sys.stdout.write(render_text(report))
    return 0


def register(subparsers: Subcommands) -> None:
    """Add ``fairness report`` to the ``screening`` command."""
    fairness = subparsers.add_parser("fairness", help="adverse-impact checks of scored candidates")
    commands = fairness.add_subparsers(dest="fairness_command", required=True)
    report = commands.add_parser(
        "report",
        help="selection and scoring rates, impact ratios and dimension gaps by sex and race/ethnicity",
    )
    report.add_argument("--reports", type=Path, required=True, help="JSONL output of `screening score`")
    report.add_argument(
        "--demographics",
        type=Path,
        required=True,
        help="CSV (candidate_id,sex,race_ethnicity) or JSONL self-identification; kept apart from the reports",
    )
    report.add_argument("--cut", type=float, help="selected when the overall level is at least this (rubric scale)")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    report.add_argument(
        "--keep-small",
        action="store_true",
        help="keep categories under 2%% of the sample in the impact ratios (LL144 lets them be excluded)",
    )
    report.set_defaults(handler=_cmd_report)
