"""The ``screening`` command: score answer files, validate and show rubrics.

Other packages add subcommands through the ``screening.commands`` entry-point group: each
entry is a ``register(subparsers)`` function. The web service's (``serve``, ``keys``, ``db``)
come that way, so the engine never imports it; when a plugin cannot load (its extra is not
installed), the engine's own commands still work.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import msgspec

from screening.calibration.cli import register as register_calibration
from screening.commands import CommandPlugins, load_command_plugins
from screening.encoder import BACKENDS
from screening.errors import InputLineError, InvalidRubric, ScreeningError
from screening.fairness_cli import register as register_fairness
from screening.inputs import validate_answers
from screening.paths import builtin_rubrics_dir, default_cache_dir
from screening.report import CandidateAnswers, CandidateReport
from screening.rubric import Rubric, RubricLibrary, load_rubric, rubric_warnings
from screening.table import render_table
from screening.wire_errors import msgspec_error_location

if TYPE_CHECKING:
    from screening.commands import Subcommands

__all__ = ["main", "read_candidates", "resolve_rubric"]


def resolve_rubric(id_or_path: str, version: str | None = None) -> Rubric:
    """A rubric file path, or the id of a built-in rubric."""
    path = Path(id_or_path)
    if path.suffix == ".toml" or path.is_file():
        return load_rubric(path)
    return RubricLibrary.from_folder(builtin_rubrics_dir()).get(id_or_path, version)


def _nul_field(candidate: CandidateAnswers) -> str | None:
    """The first field holding a NUL character (no stored or scored text may)."""
    if "\x00" in candidate.candidate_id:
        return "candidate_id"
    for index, answer in enumerate(candidate.answers):
        for name in ("question_id", "text"):
            if "\x00" in getattr(answer, name):
                return f"answers[{index}].{name}"
    return None


def read_candidates(lines: Sequence[str | bytes], rubric: Rubric) -> list[CandidateAnswers]:
    """Decode and check every line; raise :class:`InputLineError` at the first bad one.

    Lines given as bytes must be UTF-8; nesting is bounded by the typed decoder (a line is one object of
    known shape), and NUL characters are refused by field.
    """
    decoder = msgspec.json.Decoder(CandidateAnswers)
    candidates: list[CandidateAnswers] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            raise InputLineError(number, "(line)", f"not valid UTF-8 (byte {exc.start})") from exc
        if not line.strip():
            continue
        try:
            candidate = decoder.decode(line)
        except msgspec.ValidationError as exc:
            field, message = msgspec_error_location(str(exc))
            raise InputLineError(number, field or "(line)", message) from exc
        except msgspec.DecodeError as exc:
            raise InputLineError(number, "(json)", f"not valid JSON: {exc}") from exc
        if field := _nul_field(candidate):
            raise InputLineError(number, field, "contains a NUL character")
        problems = validate_answers(rubric, candidate)
        if problems:
            raise InputLineError(number, problems[0].location, problems[0].message)
        if candidate.candidate_id in seen:
            raise InputLineError(
                number,
                "candidate_id",
                f"{candidate.candidate_id!r} already appears on line {seen[candidate.candidate_id]}",
            )
        seen[candidate.candidate_id] = number
        candidates.append(candidate)
    return candidates


@contextlib.contextmanager
def _atomic_output(path: Path | None) -> Iterator[IO[str]]:
    """Write to a temporary file beside ``path`` and move it into place only on success."""
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _write_reports(reports: Sequence[CandidateReport], out: IO[str], fmt: str) -> None:
    if fmt == "table":
        out.write(render_table(reports))
        return
    encoder = msgspec.json.Encoder()
    for report in reports:
        out.write(encoder.encode(report).decode("utf-8") + "\n")


def _cmd_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from screening.engine import build_scorer, method_named

    rubric = resolve_rubric(args.rubric, args.rubric_version)
    lines = Path(args.input).read_bytes().splitlines()
    candidates = read_candidates(lines, rubric)
    scorer = build_scorer(args.model, cache_dir=args.cache_dir, method=method_named(args.method), backend=args.backend)
    with tqdm(total=len(candidates), unit="candidate", file=sys.stderr, disable=len(candidates) < 2) as bar:
        reports = scorer.score_many(rubric, candidates, on_progress=bar.update)
    with _atomic_output(args.out) as out:
        _write_reports(reports, out, args.format)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.paths:
        try:
            rubric = load_rubric(path)
        except InvalidRubric as exc:
            failed += 1
            print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem.location}: {problem.message}", file=sys.stderr)
            continue
        print(
            f"{path}: ok ({rubric.id} {rubric.version}, {len(rubric.questions)} questions, "
            f"{len(rubric.dimensions)} dimensions, {len(rubric.references)} reference responses)"
        )
        for warning in rubric_warnings(rubric):
            print(f"  warning: {warning.location}: {warning.message}")
    return 1 if failed else 0


def _cmd_show(args: argparse.Namespace) -> int:
    from screening.rubric import rubric_fingerprint

    rubric = resolve_rubric(args.rubric, args.rubric_version)
    scale = rubric.scale
    print(f"{rubric.title} ({rubric.id} {rubric.version}, {rubric.locale})")
    print(f"fingerprint {rubric_fingerprint(rubric)}")
    print(
        f"scale {scale.min}..{scale.max}: "
        + "; ".join(f"{scale.min + i} {label}" for i, label in enumerate(scale.labels))
    )
    print("dimensions:")
    for d in rubric.dimensions:
        print(f"  {d.id} (weight {d.weight:g}): {d.name}")
    print("questions:")
    for q in rubric.questions:
        measures = ", ".join(f"{m.dimension} (weight {m.weight:g})" for m in q.measures)
        count = sum(1 for r in rubric.references if r.question == q.id)
        print(f"  {q.id} [{q.setting}] measures {measures}; {count} references")
        print(f"    {q.prompt}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from screening.consistency import held_out_levels
    from screening.engine import build_scorer, method_named

    rubric = resolve_rubric(args.rubric)
    scorer = build_scorer(args.model, cache_dir=args.cache_dir, method=method_named(args.method), backend=args.backend)
    indices = [i for i, r in enumerate(rubric.references) if args.question in (None, r.question)]
    with tqdm(total=len(indices), unit="reference", file=sys.stderr) as bar:
        results = held_out_levels(scorer, rubric, indices, on_progress=bar.update)
    off = [r for r in results if not r.within_one]
    for r in off:
        level = "-" if r.held_out_level is None else f"{r.held_out_level:.2f}"
        print(f"references[{r.index}] {r.question}/{r.dimension} level {r.level} -> {level} ({r.status}): {r.text}")
    share = 1 - len(off) / len(results) if results else 1.0
    print(f"{len(results) - len(off)} of {len(results)} references ({share:.0%}) land within one level when held out")
    return 0


def _cmd_list(_: argparse.Namespace) -> int:
    for rubric in RubricLibrary.from_folder(builtin_rubrics_dir()):
        print(f"{rubric.id}\t{rubric.version}\t{rubric.title}")
    return 0


def _cmd_model_build(args: argparse.Namespace) -> int:
    from screening.behaviour_model import BEHAVIOUR_MODEL
    from screening.engine import open_encoder

    encoder = open_encoder(BEHAVIOUR_MODEL, args.cache_dir or default_cache_dir(), backend="torch")
    print(f"{encoder.model_id}: weights sha256 {encoder.weights_sha256}")
    if not args.no_export:
        _export_and_print(BEHAVIOUR_MODEL, args.cache_dir)
    return 0


def _cmd_model_export(args: argparse.Namespace) -> int:
    from screening.behaviour_model import BEHAVIOUR_MODEL

    _export_and_print(args.model or BEHAVIOUR_MODEL, args.cache_dir)
    return 0


def _export_and_print(model: str, cache_dir: Path | None) -> None:
    from screening.engine import export_model
    from screening.onnx_export import read_onnx_export

    model_id, folder = export_model(model, cache_dir or default_cache_dir())
    info = read_onnx_export(folder)
    assert info is not None  # export_model returns a finished export
    for backend, sha256 in info.graphs_sha256.items():
        print(f"{model_id} [{backend}]: graph sha256 {sha256} ({folder})")


def _add_model_options(command: argparse.ArgumentParser) -> None:
    """The encoder model and embedding cache options of the commands that score."""
    command.add_argument(
        "--model",
        default=os.environ.get("SCREENING_MODEL") or None,
        help="sentence-transformers model name or folder (default: $SCREENING_MODEL or the method's own encoder)",
    )
    command.add_argument(
        "--method",
        default=os.environ.get("SCREENING_METHOD") or None,
        help="versioned scoring method, e.g. screening.anchor-regression.v1 (default: $SCREENING_METHOD or v2)",
    )
    command.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("SCREENING_ENCODER_BACKEND") or None,
        help="encoder runtime: torch, onnx (fp32) or onnx-int8 (default: $SCREENING_ENCODER_BACKEND or torch)",
    )
    command.add_argument(
        "--cache-dir", type=Path, help="embedding cache folder (default: $SCREENING_CACHE_DIR or ~/.cache)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with the subcommands of every plugin that loads."""
    return _parser_and_plugins()[0]


def _parser_and_plugins() -> tuple[argparse.ArgumentParser, Subcommands, CommandPlugins]:
    """The argument parser, its subcommands, and which plugins added (or could not add) which."""
    parser = argparse.ArgumentParser(
        prog="screening", description="Score situational-judgement answers against rubrics."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    score = commands.add_parser("score", help="score a JSONL file of candidates' answers")
    score.add_argument(
        "input", help='JSONL: {"candidate_id": ..., "answers": [{"question_id": ..., "text": ...}]} per line'
    )
    score.add_argument("--rubric", required=True, help="a built-in rubric id or a rubric .toml path")
    score.add_argument("--rubric-version", help="pin a version of a built-in rubric")
    score.add_argument("--out", type=Path, help="write here (atomically) instead of stdout")
    score.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    _add_model_options(score)
    score.set_defaults(handler=_cmd_score)

    rubric = commands.add_parser("rubric", help="validate, show or list rubrics")
    rubric_commands = rubric.add_subparsers(dest="rubric_command", required=True)
    validate = rubric_commands.add_parser("validate", help="check rubric files and print every problem")
    validate.add_argument("paths", nargs="+", type=Path)
    validate.set_defaults(handler=_cmd_validate)
    show = rubric_commands.add_parser("show", help="print a rubric's dimensions and questions")
    show.add_argument("rubric", help="a built-in rubric id or a rubric .toml path")
    show.add_argument("--rubric-version")
    show.set_defaults(handler=_cmd_show)
    check = rubric_commands.add_parser("check", help="score each reference with itself held out; list those off by >1")
    check.add_argument("rubric", help="a built-in rubric id or a rubric .toml path")
    check.add_argument("--question", help="only this question's references")
    _add_model_options(check)
    check.set_defaults(handler=_cmd_check)
    listing = rubric_commands.add_parser("list", help="list built-in rubrics")
    listing.set_defaults(handler=_cmd_list)

    model = commands.add_parser("model", help="build the models the scoring methods need")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    build = model_commands.add_parser(
        "build", help="build the behaviour encoder of method v2 (once, about 5 minutes) and export it to ONNX"
    )
    build.add_argument("--cache-dir", type=Path, help="cache folder (default: $SCREENING_CACHE_DIR or ~/.cache)")
    build.add_argument("--no-export", action="store_true", help="skip the ONNX export (fp32 and int8)")
    build.set_defaults(handler=_cmd_model_build)
    export = model_commands.add_parser(
        "export", help="export an encoder to ONNX, fp32 and int8, into the cache (once; for --backend onnx*)"
    )
    export.add_argument("--model", help="model name or folder (default: the behaviour encoder of method v2)")
    export.add_argument("--cache-dir", type=Path, help="cache folder (default: $SCREENING_CACHE_DIR or ~/.cache)")
    export.set_defaults(handler=_cmd_model_export)

    register_calibration(commands)
    register_fairness(commands)

    return parser, commands, load_command_plugins(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors print one clear message and exit non-zero."""
    parser, commands, plugins = _parser_and_plugins()
    argv = sys.argv[1:] if argv is None else list(argv)
    unavailable = plugins.unavailable_command_error(argv, commands)
    if unavailable:
        print(f"error: {unavailable}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ImportError as exc:
        missing_extra = plugins.missing_extra_error(args.command, exc)
        if missing_extra is None:
            raise
        print(f"error: {missing_extra}", file=sys.stderr)
        return 2
    except ScreeningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
