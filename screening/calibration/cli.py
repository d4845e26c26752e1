"""``screening calibrate report|fit``: agreement with HR's ratings, and a calibrated rubric version.

``report`` prints the agreement table (``--json``: the full report); ``fit`` prints the same and,
with ``--out``, writes the calibrated rubric as a new version (atomically, never over an existing
file). A gold file's problems are printed one per line, with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from screening.calibration.agreement import Agreement, Estimate
    from screening.calibration.report import CalibrationReport, DimensionAgreement
    from screening.commands import Subcommands

__all__ = ["register", "render_report"]


def register(subparsers: Subcommands) -> None:
    """Add ``calibrate report`` and ``calibrate fit`` to the ``screening`` parser."""
    from screening.cli import _add_model_options

    calibrate = subparsers.add_parser("calibrate", help="agreement with human ratings; calibrated rubric versions")
    commands = calibrate.add_subparsers(dest="calibrate_command", required=True)
    report = commands.add_parser("report", help="agreement of the model with HR's ratings, before and after")
    fit = commands.add_parser("fit", help="the agreement report, and the rubric with the gold as anchors (--out)")
    for command in (report, fit):
        command.add_argument("gold", type=Path, help="human-rated answers: JSONL, or CSV (see rubrics/README.md)")
        command.add_argument("--rubric", required=True, help="a built-in rubric id or a rubric .toml path")
        command.add_argument("--rubric-version", help="pin a version of a built-in rubric")
        command.add_argument("--format", choices=("jsonl", "csv"), help="gold format (default: from the extension)")
        command.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
        command.add_argument("--folds", type=int, default=5, help="cross-validation folds, grouped by candidate")
        command.add_argument("--seed", type=int, default=0, help="seed of the folds and the bootstrap")
        command.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for the intervals")
        _add_model_options(command)
    fit.add_argument("--version", required=True, help="the calibrated rubric's new version, e.g. 2.1.0")
    fit.add_argument("--out", type=Path, help="write the calibrated rubric here (a new file)")
    report.set_defaults(handler=_cmd_report)
    fit.set_defaults(handler=_cmd_fit)


def _cmd_report(args: argparse.Namespace) -> int:
    return _run(args, fit=False)


def _cmd_fit(args: argparse.Namespace) -> int:
    return _run(args, fit=True)


def _run(args: argparse.Namespace, *, fit: bool) -> int:
    import msgspec

    from screening.calibration.errors import CalibrationError, InvalidGold
    from screening.calibration.fit import calibrated_rubric, write_rubric_toml
    from screening.calibration.gold import read_gold
    from screening.calibration.report import calibration_report
    from screening.cli import resolve_rubric
    from screening.engine import build_scorer, method_named
    from screening.rubric import rubric_fingerprint

    if args.folds < 2 or args.resamples < 0:
        print("error: --folds must be at least 2 and --resamples at least 0", file=sys.stderr)
        return 2
    if fit and args.out is not None and args.out.exists():
        print(f"error: {args.out} exists; it is not overwritten (choose a new file name)", file=sys.stderr)
        return 2
    rubric = resolve_rubric(args.rubric, args.rubric_version)
    try:
        gold = read_gold(args.gold, rubric, args.format)
        calibrated = calibrated_rubric(rubric, gold, args.version) if fit else None
    except InvalidGold as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}", file=sys.stderr)
        return 2
    except CalibrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scorer = build_scorer(args.model, cache_dir=args.cache_dir, method=method_named(args.method), backend=args.backend)
    report = calibration_report(
        scorer,
        rubric,
        gold,
        args.folds,
        args.seed,
        resamples=args.resamples,
        on_progress=lambda line: print(line, file=sys.stderr),
    )
    if args.json:
        print(msgspec.json.encode(report).decode("utf-8"))
    else:
        print(render_report(report, str(args.gold)), end="")
    if calibrated is not None:
        added = len(calibrated.references) - len(rubric.references)
        if args.out is None:
            print(f"not written: give --out FILE to save {calibrated.id} {calibrated.version} ({added} anchors added)")
        else:
            write_rubric_toml(calibrated, args.out)
            print(
                f"wrote {args.out}: {calibrated.id} {calibrated.version} ({rubric_fingerprint(calibrated)}), "
                f"{len(rubric.references)} references + {added} anchors from the gold",
                file=sys.stderr if args.json else sys.stdout,
            )
    return 0


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _with_interval(estimate: Estimate) -> str:
    if estimate.low is None or estimate.high is None:
        return _number(estimate.value)
    return f"{_number(estimate.value)} [{estimate.low:.2f}, {estimate.high:.2f}]"


def _change(before: Estimate, after: Estimate) -> str:
    return f"{_number(before.value)}->{_number(after.value)}"


_HEADER = (
    f"{'dimension':<22} {'n':>5}  {'QWK before':<19} {'QWK after':<19} {'Spearman':<11} {'exact':<11} "
    f"{'adjacent':<11} {'MAE':<11} {'raters QWK':<19} length rho HR/before/after"
)


def _row(agreed: DimensionAgreement) -> str:
    before, after = agreed.before, agreed.after
    raters = _with_interval(agreed.raters.qwk) if agreed.raters is not None else "-"
    length = "/".join(_number(v, signed=True) for v in (agreed.length.human, agreed.length.before, agreed.length.after))
    return (
        f"{agreed.dimension_id[:22]:<22} {after.n:>5}  {_with_interval(before.qwk):<19} {_with_interval(after.qwk):<19} "
        f"{_change(before.spearman, after.spearman):<11} {_change(before.exact, after.exact):<11} "
        f"{_change(before.adjacent, after.adjacent):<11} {_change(before.mae, after.mae):<11} {raters:<19} {length}"
    )


def _confusion(agreement: Agreement, low: int) -> list[str]:
    levels = range(low, low + len(agreement.confusion))
    lines = ["HR \\ model " + " ".join(f"{level:>5}" for level in levels)]
    lines += [
        f"{level:>10} " + " ".join(f"{n:>5}" for n in row)
        for level, row in zip(levels, agreement.confusion, strict=True)
    ]
    return lines


def render_report(report: CalibrationReport, gold_name: str = "gold") -> str:
    """The report as a readable table, lint and the largest disagreements."""
    lines = [
        f"{report.rubric_id} {report.rubric_version} ({report.rubric_fingerprint[:19]}...), {report.method}, "
        f"{report.model_id}",
        f"gold {gold_name} ({report.gold_digest[:19]}...): {report.answers} answers of {report.candidates} candidates, "
        f"{report.ratings} ratings ({report.second_ratings} with a second rater); levels {report.scale_min}.."
        f"{report.scale_max}",
        f"before: the rubric as it is. after: {report.folds}-fold cross-validation grouped by candidate (each answer "
        "scored by a version whose gold anchors never included it).",
        f"[low, high]: 95% intervals from {report.resamples} bootstrap resamples of candidates; a->b: before->after. "
        f"Ratings without a model level: {report.unscored_before} before, {report.unscored_after} after.",
        "",
        _HEADER,
        *(_row(d) for d in report.dimensions),
        _row(report.overall),
        "",
    ]
    overall = report.overall
    if overall.raters is not None:
        lines.append(
            f"Ceiling: model-human QWK {_number(overall.after.qwk.value)} (after) vs human-human "
            f"{_number(overall.raters.qwk.value)} on {overall.raters.n} doubly rated answers."
        )
    else:
        lines.append("No answer has a second rating: no human-human ceiling to compare with.")
    lines += ["", "Confusion, all ratings, after (rows: HR level, columns: model level):"]
    lines += ["  " + line for line in _confusion(overall.after, report.scale_min)]
    lines += ["", f"Lint ({len(report.lint)}):"]
    lines += [f"  {f.kind} {f.location}: {f.message}" for f in report.lint] or ["  none"]
    lines += ["", f"Largest disagreements (after, {len(report.disagreements)}):"]
    for d in report.disagreements:
        lines.append(
            f"  line {d.line} {d.candidate_id} {d.question_id}/{d.dimension_id}: HR {d.human_level:g}, "
            f"model {d.model_level:.2f}: {_short(d.text)}"
        )
        lines.append(f"    evidence: {_short(d.evidence) if d.evidence else '-'}; {d.rationale}")
    return "\n".join(lines) + "\n"


def _short(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")
