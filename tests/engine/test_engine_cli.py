"""The ``screening`` command, run as a real subprocess (``python -m screening.cli``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from screening.paths import builtin_rubrics_dir
from screening.rubric import RubricLibrary, load_rubric, rubric_fingerprint

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "candidates.jsonl"
DEFAULT_ID = "customer-service-attitude"

GOOD_LINE = {
    "candidate_id": "c1",
    "answers": [{"question_id": "broken-gift", "text": "I'd sort out a replacement myself today."}],
}


def _line(**changes) -> str:
    return json.dumps({**GOOD_LINE, **changes})


# ---------------------------------------------------------------- scoring (loads the model)


@pytest.fixture(scope="module")
def two_runs(run_cli, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli-out")
    outs = (folder / "first.jsonl", folder / "second.jsonl")
    for out in outs:
        result = run_cli("score", EXAMPLES, "--rubric", DEFAULT_ID, "--out", out)
        assert result.returncode == 0, result.stderr
    return outs


def test_two_cli_runs_write_byte_identical_files(two_runs) -> None:
    first, second = two_runs
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_size > 0


def test_the_example_file_is_scored(two_runs, default_rubric) -> None:
    lines = two_runs[0].read_text("utf-8").splitlines()
    inputs = [json.loads(line) for line in EXAMPLES.read_text("utf-8").splitlines() if line.strip()]
    reports = [json.loads(line) for line in lines]
    assert [r["candidate_id"] for r in reports] == [c["candidate_id"] for c in inputs]
    for report, candidate in zip(reports, inputs, strict=True):
        assert report["status"] in {"scored", "needs_review"}
        assert [a["question_id"] for a in report["answers"]] == [a["question_id"] for a in candidate["answers"]]
        p = report["provenance"]
        assert (p["rubric_id"], p["rubric_version"]) == (default_rubric.id, default_rubric.version)
        assert p["rubric_fingerprint"] == rubric_fingerprint(default_rubric)
        assert len(p["model_weights_sha256"]) == 64 and p["method"]
    assert any(r["overall"]["level"] is not None for r in reports)


def test_table_format_prints_a_table(run_cli) -> None:
    result = run_cli("score", EXAMPLES, "--rubric", DEFAULT_ID, "--format", "table")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[:4] == ["candidate", "status", "level", "score"]
    rubric = load_rubric(builtin_rubrics_dir() / f"{DEFAULT_ID}.toml")
    assert header[4:] == [d.id for d in rubric.dimensions]
    ids = [json.loads(line)["candidate_id"] for line in EXAMPLES.read_text("utf-8").splitlines() if line.strip()]
    rows = lines[1 : 1 + len(ids)]
    assert [row.split()[0] for row in rows] == ids
    for row in rows:
        assert row.split()[1] in {"scored", "needs_review"}
        assert len(row.split()) == len(header)


# ---------------------------------------------------------------- input errors (before the model loads)


# The four input mistakes of the issue, each run as a real process. Two write to a fresh
# --out path, two to an --out file left by an earlier run: neither may be written.
ERROR_CASES = [
    pytest.param(
        [_line(), '{"candidate_id": "c2", "answers": [', _line(candidate_id="c3")], 2, "json", False, id="bad-json"
    ),
    pytest.param(
        [_line(), json.dumps({"candidate_id": "c2", "answers": [{"question_id": "broken-gift"}]})],
        2,
        "text",
        True,
        id="missing-field",
    ),
    pytest.param(
        [
            _line(),
            _line(candidate_id="c2"),
            _line(candidate_id="c3", answers=[{"question_id": "broken-gfit", "text": "I'd help."}]),
        ],
        3,
        "question_id",
        False,
        id="unknown-question",
    ),
    pytest.param([_line(), _line(candidate_id="c2"), _line()], 3, "candidate_id", True, id="duplicate-candidate"),
]
PREVIOUS = b'{"candidate_id": "earlier run"}\n'


@pytest.mark.parametrize(("lines", "line_number", "field", "existing"), ERROR_CASES)
def test_a_bad_input_line_is_named_and_nothing_is_written(
    run_cli, tmp_path: Path, lines, line_number: int, field: str, existing: bool
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out_dir = tmp_path / "out"
    out = out_dir / "reports.jsonl"
    if existing:
        out_dir.mkdir()
        out.write_bytes(PREVIOUS)
        before = out.stat().st_mtime_ns
    result = run_cli("score", source, "--rubric", DEFAULT_ID, "--out", out)
    assert result.returncode != 0
    assert f"line {line_number}" in result.stderr, result.stderr
    assert field in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    if existing:
        assert out.read_bytes() == PREVIOUS and out.stat().st_mtime_ns == before
        assert [p.name for p in out_dir.iterdir()] == ["reports.jsonl"], "no temporary file may be left behind"
    else:
        assert not out.exists()
        assert not out_dir.exists() or not any(out_dir.iterdir()), "no temporary file may be left behind"


# More input mistakes, through the same main() in this process (each subprocess pays ~5 s
# of imports, so only the cases the issue names run as separate processes).
MORE_CASES = [
    pytest.param([json.dumps({"candidate_id": "c1"})], 1, "answers", id="missing-answers"),
    pytest.param(
        [_line(), json.dumps({**GOOD_LINE, "candidate_id": "c2", "score": 5})], 2, "score", id="unknown-field"
    ),
    pytest.param([_line(), "", "[1, 2]"], 3, "line 3", id="not-an-object-after-a-blank-line"),
    pytest.param([_line(), _line(candidate_id="c2", answers=[])], 2, "answers", id="no-answers"),
    pytest.param(
        [_line(answers=[{"question_id": "broken-gift", "text": "a"}, {"question_id": "broken-gift", "text": "b"}])],
        1,
        "answers[1].question_id",
        id="question-answered-twice",
    ),
]


@pytest.mark.parametrize(("lines", "line_number", "field"), MORE_CASES)
def test_more_bad_lines_are_named(tmp_path: Path, capsys, lines, line_number: int, field: str) -> None:
    from screening.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "reports.jsonl"
    code = main(["score", str(source), "--rubric", DEFAULT_ID, "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert f"line {line_number}" in err and field in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


HOSTILE_LINES = [
    (b"[" * 10_000 + b"]" * 10_000, "(line)"),
    (b'{"candidate_id": "c\xff", "answers": []}', "not valid UTF-8"),
    (b'{"candidate_id": "c\\u0000", "answers": [{"question_id": "broken-gift", "text": "hi"}]}', "candidate_id"),
    (b'{"candidate_id": "c", "answers": [{"question_id": "broken-gift", "text": "hi\\u0000"}]}', "answers[0].text"),
]


@pytest.mark.parametrize(("line", "named"), HOSTILE_LINES)
def test_hostile_input_lines_are_named_not_tracebacks(tmp_path: Path, capsys, line: bytes, named: str) -> None:
    from screening.cli import main

    source = tmp_path / "in.jsonl"
    source.write_bytes(line + b"\n")
    code = main(["score", str(source), "--rubric", DEFAULT_ID])
    err = capsys.readouterr().err
    assert code != 0 and "line 1" in err and named in err, err


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("a = " + "[" * 3_000 + "]" * 3_000, "nested deeper"),
        ("title = 'x'\n" + ".".join(["k"] * 40_000) + " = 1", "dotted key"),
        ("k" * 1_000 + " = 1", "key longer"),
    ],
)
def test_hostile_rubric_toml_is_refused_by_line_before_parsing(tmp_path: Path, capsys, toml: str, message: str) -> None:
    from screening.cli import main

    path = tmp_path / "hostile.toml"
    path.write_text(toml, encoding="utf-8")
    code = main(["rubric", "validate", str(path)])
    captured = capsys.readouterr()
    printed = captured.err + captured.out
    assert code != 0 and message in printed and "line " in printed, printed


def test_a_missing_input_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    from screening.cli import main

    code = main(["score", str(tmp_path / "nope.jsonl"), "--rubric", DEFAULT_ID])
    err = capsys.readouterr().err
    assert code != 0 and "nope.jsonl" in err


# ---------------------------------------------------------------- rubric commands


def test_rubric_show_prints_the_default_rubric(run_cli, default_rubric) -> None:
    result = run_cli("rubric", "show", DEFAULT_ID)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert default_rubric.title in out and default_rubric.version in out
    assert rubric_fingerprint(default_rubric) in out
    for dimension in default_rubric.dimensions:
        assert dimension.id in out
    for question in default_rubric.questions:
        assert question.id in out and question.prompt in out


def test_an_unknown_rubric_id_lists_the_available_ones(run_cli) -> None:
    result = run_cli("rubric", "show", "no-such-rubric")
    assert result.returncode != 0
    assert "no-such-rubric" in result.stderr
    available = RubricLibrary.from_folder(builtin_rubrics_dir()).ids()
    assert available
    for rubric_id in available:
        assert rubric_id in result.stderr
    assert "Traceback" not in result.stderr


def test_score_with_an_unknown_rubric_id_lists_the_available_ones(tmp_path: Path, capsys) -> None:
    from screening.cli import main

    code = main(["score", str(EXAMPLES), "--rubric", "no-such-rubric", "--out", str(tmp_path / "out.jsonl")])
    err = capsys.readouterr().err
    assert code != 0 and "no-such-rubric" in err
    for rubric_id in RubricLibrary.from_folder(builtin_rubrics_dir()).ids():
        assert rubric_id in err
    assert not (tmp_path / "out.jsonl").exists()


def test_rubric_list_names_the_built_in_rubrics(capsys) -> None:
    from screening.cli import main

    assert main(["rubric", "list"]) == 0
    out = capsys.readouterr().out
    for rubric in RubricLibrary.from_folder(builtin_rubrics_dir()):
        assert f"{rubric.id}\t{rubric.version}" in out


def test_validate_accepts_the_default_rubric(run_cli) -> None:
    result = run_cli("rubric", "validate", builtin_rubrics_dir() / f"{DEFAULT_ID}.toml")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_validate_prints_every_problem_with_its_location(
    run_cli, tmp_path: Path, make_rubric_dict, render_toml
) -> None:
    data = make_rubric_dict()
    data["references"].append({"question": "late-parcel", "dimension": "ownership", "level": 8, "text": "Off scale."})
    data["references"].append({"question": "lost-parcel", "dimension": "ownership", "level": 3, "text": "Unknown."})
    data["questions"][1]["measures"].append({"dimension": "patience"})
    data["dimensions"].append({"id": "humour", "name": "Humour", "description": "Jokes."})
    broken = tmp_path / "broken.toml"
    broken.write_text(render_toml(data), encoding="utf-8")
    syntax = tmp_path / "syntax.toml"
    syntax.write_text('id = "x"\ntitle = \n', encoding="utf-8")
    good = builtin_rubrics_dir() / f"{DEFAULT_ID}.toml"

    result = run_cli("rubric", "validate", good, broken, syntax)
    assert result.returncode != 0
    err = result.stderr
    for location in (
        "references[6] (late-parcel/ownership/8).level",
        "references[7] (lost-parcel/ownership/3).question",
        "questions[1] (rude-caller).measures[1].dimension",
        "dimensions[2] (humour)",
    ):
        assert location in err, err
    assert f"{broken}: 4 problem(s)" in err
    assert str(syntax) in err and "toml:" in err and "line 2" in err
    assert f"{good}: ok" in result.stdout  # the good file is still checked and reported


def test_score_refuses_an_invalid_rubric_file(tmp_path: Path, capsys, make_rubric_dict, render_toml) -> None:
    from screening.cli import main

    data = make_rubric_dict()
    data["dimensions"][0]["weight"] = -1
    rubric_path = tmp_path / "bad.toml"
    rubric_path.write_text(render_toml(data), encoding="utf-8")
    source = tmp_path / "in.jsonl"
    source.write_text(_line(answers=[{"question_id": "late-parcel", "text": "I'd chase it."}]) + "\n", encoding="utf-8")
    code = main(["score", str(source), "--rubric", str(rubric_path), "--out", str(tmp_path / "out.jsonl")])
    assert code != 0
    assert "dimensions[0] (ownership).weight" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


# ---------------------------------------------------------------- plugin commands (entry points)


def test_the_api_commands_come_from_the_entry_point_group() -> None:
    from importlib.metadata import entry_points

    from screening.cli import build_parser
    from screening.commands import COMMAND_GROUP

    assert "api" in entry_points(group=COMMAND_GROUP).names, "reinstall: pip install -e . --no-deps"
    subcommands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert {"score", "rubric", "model", "serve", "db", "keys"} <= set(subcommands)


def test_the_engine_never_imports_the_api_package() -> None:
    import ast

    engine = Path(__file__).resolve().parents[2] / "screening"
    for source in engine.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "api" or n.startswith("api.") for n in names), f"{source.name} imports {names}"


def test_a_plugin_that_cannot_import_is_one_line_naming_its_extra(monkeypatch, capsys) -> None:
    from importlib.metadata import EntryPoint

    import screening.commands
    from screening.cli import main

    broken = EntryPoint(name="api", value="screening_no_such_plugin.cli:register", group="screening.commands")
    monkeypatch.setattr(screening.commands, "entry_points", lambda group: [broken])
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'serve'" in err and "attitude-screening[api]" in err, err
    assert "Traceback" not in err
    assert main(["rubric", "list"]) == 0  # the engine's own commands still work
    assert DEFAULT_ID in capsys.readouterr().out


def test_a_plugin_command_missing_a_module_is_one_line_naming_its_extra(monkeypatch, capsys) -> None:
    import sys

    from screening.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the api extra were not installed
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'serve' needs the 'api' extra" in err and "[api]" in err, err
