"""HR calibration with the real model: gold validation, cross-validated agreement that never scores
an answer with a model that saw it, a calibration that measurably helps, calibrated rubric versions,
and the ``screening calibrate`` command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest
from synthetic_policy import jsonl, policy_gold_lines, policy_rubric_dict

from screening.calibration.agreement import agreement, rounded_levels
from screening.calibration.errors import CalibrationError, InvalidGold
from screening.calibration.fit import calibrated_rubric, rubric_toml, write_rubric_toml
from screening.calibration.gold import GoldSet, normalised_text, parse_gold
from screening.calibration.report import CalibrationReport, calibration_report, cross_validation_folds
from screening.report import Answer, CandidateAnswers
from screening.rubric import Rubric, parse_rubric, rubric_fingerprint
from screening.scorer import Scorer


@pytest.fixture(scope="module")
def policy_rubric(render_toml) -> Rubric:
    return parse_rubric(render_toml(policy_rubric_dict()))


@pytest.fixture(scope="module")
def policy_gold(policy_rubric: Rubric) -> GoldSet:
    return parse_gold(jsonl(policy_gold_lines()), "jsonl", policy_rubric)


@pytest.fixture(scope="module")
def recorded_report(scorer, policy_rubric, policy_gold) -> Iterator[tuple[CalibrationReport, list]]:
    """The report, and every (rubric, candidates) pair any scorer was asked to score while making it."""
    calls: list[tuple[Rubric, list[CandidateAnswers]]] = []
    original = Scorer.score_many

    def recording(self, rubric, candidates, **kwargs):
        calls.append((rubric, list(candidates)))
        return original(self, rubric, candidates, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Scorer, "score_many", recording)
        report = calibration_report(scorer, policy_rubric, policy_gold, folds=5, seed=0, resamples=200)
    yield report, calls


def test_points_are_the_pairs_behind_the_figures(recorded_report, policy_rubric, policy_gold) -> None:
    """The per-answer points (for the plots) hold every rated answer once, and count into the confusion matrix."""
    report, _ = recorded_report
    assert len(report.points) == policy_gold.rating_count
    assert sorted(p.human for p in report.points) == sorted(
        round(r.level, 4) for a in policy_gold.answers for r in a.ratings
    )
    scale = policy_rubric.scale
    confusion = np.zeros((scale.max - scale.min + 1,) * 2, dtype=int)
    for p in report.points:
        if p.after is not None:
            human, model = rounded_levels(np.array([p.human, p.after]), scale)
            confusion[human - scale.min, model - scale.min] += 1
    assert confusion.tolist() == [list(row) for row in report.overall.after.confusion]
    assert "candidate_id" not in msgspec.json.encode(report.points).decode(), "the points identify no one"


# ---------------------------------------------------------------- gold validation (no model)


def _problems(data: bytes, fmt: str, rubric: Rubric) -> set[tuple[int, str]]:
    with pytest.raises(InvalidGold) as caught:
        parse_gold(data, fmt, rubric)  # type: ignore[arg-type]
    return {(p.line, p.field) for p in caught.value.problems}


def test_jsonl_gold_problems_are_all_named_by_line_and_field(policy_rubric) -> None:
    good = {"candidate_id": "c1", "question_id": "late-parcel", "text": "I'd apologise and help.", "ratings": {}}
    lines = [
        json.dumps({**good, "ratings": {"ownership": 4}}),  # 1: fine
        json.dumps({**good, "candidate_id": "c2", "question_id": "lost-parcel", "ratings": {"ownership": 3}}),
        json.dumps({**good, "candidate_id": "c3", "ratings": {"ownrship": 3}}),
        json.dumps({**good, "candidate_id": "c4", "ratings": {"ownership": [{"level": 3}, {"level": 9}]}}),
        json.dumps({**good, "candidate_id": "c5", "ratings": {"ownership": [{"rater": "a", "level": 3}] * 2}}),
        json.dumps({**good, "ratings": {"ownership": 2}}),  # 6: c1 answered late-parcel on line 1
        '{"candidate_id": "c7", "question_id": ',
        json.dumps({k: v for k, v in good.items() if k != "text"} | {"candidate_id": "c8"}),
        json.dumps({**good, "candidate_id": "c9", "text": "I'd help\u0000 her.", "ratings": {"ownership": 3}}),
        json.dumps({**good, "candidate_id": "c10", "ratings": {}}),
        json.dumps({**good, "candidate_id": "c11", "mood": "calm", "ratings": {"ownership": 3}}),
        json.dumps({**good, "candidate_id": "c12", "ratings": {"ownership": "4"}}),
    ]
    data = ("\n".join(lines) + "\n").encode() + b'{"candidate_id": "c13\xff"}\n'
    assert _problems(data, "jsonl", policy_rubric) == {
        (2, "question_id"),
        (3, "ratings.ownrship"),
        (4, "ratings.ownership[1].level"),
        (5, "ratings.ownership"),
        (6, "question_id"),
        (7, "(json)"),
        (8, "text"),
        (9, "text"),
        (10, "ratings"),
        (11, "mood"),
        (12, "ratings.ownership"),
        (13, "(line)"),
    }


def test_a_dimension_the_question_does_not_measure_is_named(make_rubric_dict, render_toml) -> None:
    rubric = parse_rubric(render_toml(make_rubric_dict()))  # rude-caller measures empathy only
    line = {"candidate_id": "c1", "question_id": "rude-caller", "text": "I'd stay calm.", "ratings": {"ownership": 3}}
    with pytest.raises(InvalidGold) as caught:
        parse_gold(jsonl([line]), "jsonl", rubric)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (1, "ratings.ownership")
    assert "does not measure" in problem.message and "line 1: ratings.ownership:" in str(caught.value)


def test_csv_gold_problems_are_named_by_line_and_column(policy_rubric) -> None:
    rows = [
        "candidate_id,question_id,text,ownership,ownership#2",
        'c1,late-parcel,"I\'d apologise, and help.",4,5',  # 2: fine
        "c2,late-parcel,I'd help.,four,",
        "c3,late-parcel,I'd help.,3,7",
        "c4,late-parcel,I'd help.,,3",
        "c5,lost-parcel,I'd help.,3,",
        "c6,late-parcel,I'd help.,3",
        "c1,late-parcel,I'd help again.,2,",
        "c8,late-parcel,I'd help.,,",
    ]
    data = ("\r\n".join(rows) + "\r\n").encode("utf-8")
    assert _problems(data, "csv", policy_rubric) == {
        (3, "ownership"),
        (4, "ownership#2"),
        (5, "ownership#2"),
        (6, "question_id"),
        (7, "(line)"),
        (8, "question_id"),
        (9, "ratings"),
    }
    header = b"candidate_id,question_id,answer,ownrship\nc1,late-parcel,x,3\n"
    assert _problems(header, "csv", policy_rubric) == {(1, "text"), (1, "answer"), (1, "ownrship")}


def test_csv_and_jsonl_gold_with_the_same_content_are_the_same_gold(policy_rubric) -> None:
    csv_text = (
        "\ufeffcandidate_id,question_id,text,ownership,ownership#2\n"
        'c1,late-parcel,"I\'d apologise,\nand help.",4,5\n'
        "c2,late-parcel,I'd help.,2,\n"
    )
    from_csv = parse_gold(csv_text.encode("utf-8"), "csv", policy_rubric)
    lines = [
        {
            "candidate_id": "c2",
            "question_id": "late-parcel",
            "text": "I'd help.",
            "ratings": {"ownership": [{"rater": "1", "level": 2}]},
        },
        {
            "candidate_id": "c1",
            "question_id": "late-parcel",
            "text": "I'd apologise,\nand help.",
            "ratings": {"ownership": [{"rater": "1", "level": 4}, {"rater": "2", "level": 5}]},
        },
    ]
    from_jsonl = parse_gold(jsonl(lines), "jsonl", policy_rubric)
    assert from_csv.digest == from_jsonl.digest
    assert from_csv.answers[0].ratings[0].level == 4.5
    assert (from_csv.rating_count, from_csv.second_ratings) == (2, 1)


# ---------------------------------------------------------------- agreement figures (no model)


def test_bootstrap_intervals_are_deterministic_under_a_seed(policy_rubric) -> None:
    rng = np.random.default_rng(1)
    human = rng.integers(1, 6, 60).astype(float)
    model = np.clip(human + rng.normal(0, 0.8, 60), 1, 5)
    groups = [f"c{i // 2}" for i in range(60)]
    scale = policy_rubric.scale
    first = agreement(human, model, groups, scale, resamples=300, seed=7)
    assert first == agreement(human, model, groups, scale, resamples=300, seed=7)
    other = agreement(human, model, groups, scale, resamples=300, seed=8)
    assert other.qwk.value == first.qwk.value and (other.qwk.low, other.qwk.high) != (first.qwk.low, first.qwk.high)
    for estimate in (first.qwk, first.spearman, first.pearson, first.exact, first.adjacent, first.mae):
        assert estimate.low is not None and estimate.high is not None and estimate.low <= estimate.high
    assert sum(map(sum, first.confusion)) == 60 and first.groups == 30


def test_constant_levels_give_no_figure_instead_of_nan(policy_rubric) -> None:
    found = agreement([3, 3, 3, 3], [3, 3, 3, 3], ["a", "b", "c", "d"], policy_rubric.scale, resamples=50)
    assert found.qwk.value is None and found.spearman.value is None and found.pearson.value is None
    assert found.exact.value == 1.0 and found.mae.value == 0.0
    assert b"NaN" not in msgspec.json.encode(found)
    empty = agreement([], [], [], policy_rubric.scale)
    assert empty.n == 0 and empty.qwk.value is None and empty.exact.value is None


# ---------------------------------------------------------------- cross-validation (real model)


def test_no_answer_is_scored_by_a_model_that_saw_it(recorded_report, policy_rubric, policy_gold) -> None:
    _, calls = recorded_report
    gold_texts = {normalised_text(a.text) for a in policy_gold.answers}
    scored: dict[str, int] = {}
    for rubric, candidates in calls:
        anchors = {normalised_text(r.text) for r in rubric.references} & gold_texts
        for candidate in candidates:
            for answer in candidate.answers:
                assert normalised_text(answer.text) not in anchors, (rubric.version, candidate.candidate_id)
                scored[candidate.candidate_id] = scored.get(candidate.candidate_id, 0) + 1
    # each answer is scored twice: once by the rubric as it is, once in the fold that holds it out
    assert scored == {c: 2 for c in policy_gold.candidate_ids}
    assert [len(rubric.references) > len(policy_rubric.references) for rubric, _ in calls] == [False] + [True] * 5


def test_folds_are_grouped_by_candidate_and_keep_held_out_texts_out_of_the_anchors(policy_rubric, policy_gold) -> None:
    folds = cross_validation_folds(policy_rubric, policy_gold, folds=5, seed=3)
    held = [a.candidate_id for fold in folds for a in fold.held_out]
    assert sorted(held) == sorted(policy_gold.candidate_ids)
    for fold in folds:
        texts = {normalised_text(a.text) for a in fold.held_out}
        assert not texts & {normalised_text(r.text) for r in fold.rubric.references}
        assert fold.rubric.references[: len(policy_rubric.references)] == policy_rubric.references
    assert cross_validation_folds(policy_rubric, policy_gold, folds=5, seed=3) == folds
    single = msgspec.structs.replace(policy_gold, answers=policy_gold.answers[:1])
    with pytest.raises(CalibrationError, match="at least 2 candidates"):
        cross_validation_folds(policy_rubric, single)


def test_calibration_measurably_improves_agreement(recorded_report) -> None:
    report, _ = recorded_report
    before, after = report.overall.before, report.overall.after
    assert before.n == after.n == 31
    assert after.qwk.value >= before.qwk.value + 0.3, (before.qwk, after.qwk)
    assert after.exact.value >= before.exact.value + 0.3 and after.mae.value <= before.mae.value - 0.4
    assert after.qwk.low > before.qwk.high  # the intervals do not even overlap


def test_the_report_has_raters_length_disagreements_and_lint(recorded_report) -> None:
    report, _ = recorded_report
    (dimension,) = report.dimensions
    assert dimension.dimension_id == "ownership" and report.second_ratings == 10
    assert dimension.raters is not None and dimension.raters.n == 10 and dimension.raters.qwk.value is not None
    assert dimension.length.human is not None and dimension.length.after is not None
    assert len(report.disagreements) == 10
    gaps = [abs(d.model_level - d.human_level) for d in report.disagreements]
    assert gaps == sorted(gaps, reverse=True)
    assert all(d.evidence and d.rationale and d.line >= 1 for d in report.disagreements)
    kinds = {f.kind for f in report.lint}
    assert "few_anchors" in kinds  # levels 2 and 4 have no anchors at all
    decoded = msgspec.json.decode(msgspec.json.encode(report), type=CalibrationReport)
    assert decoded == report


# ---------------------------------------------------------------- calibrated rubric versions


def test_a_calibrated_rubric_is_a_new_version_that_round_trips(scorer, policy_rubric, policy_gold, tmp_path) -> None:
    before = rubric_fingerprint(policy_rubric)
    calibrated = calibrated_rubric(policy_rubric, policy_gold, "1.1.0")
    assert rubric_fingerprint(policy_rubric) == before  # the old version is untouched
    assert calibrated.version == "1.1.0" and rubric_fingerprint(calibrated) != before
    assert calibrated.references[:2] == policy_rubric.references
    # 31 answers, one of them a copy of another: 30 anchors
    assert len(calibrated.references) == 2 + 30
    assert "Calibrated: version 1.1.0 is parcel-policy 1.0.0" in calibrated.description
    assert policy_gold.digest in calibrated.description
    again = parse_rubric(rubric_toml(calibrated))
    assert again == calibrated and rubric_fingerprint(again) == rubric_fingerprint(calibrated)
    out = tmp_path / "calibrated.toml"
    write_rubric_toml(calibrated, out)
    assert rubric_fingerprint(parse_rubric(out.read_bytes())) == rubric_fingerprint(calibrated)
    out.write_text("keep me", encoding="utf-8")
    with pytest.raises(CalibrationError, match="not overwritten"):
        write_rubric_toml(calibrated, out)
    assert out.read_text(encoding="utf-8") == "keep me"
    answer = Answer(question_id="late-parcel", text="I'd apologise, offer a voucher for the delay, and call back.")
    provenance = scorer.score(calibrated, CandidateAnswers(candidate_id="x", answers=(answer,))).provenance
    assert (provenance.rubric_version, provenance.rubric_fingerprint) == ("1.1.0", rubric_fingerprint(calibrated))
    scorer.forget(calibrated)


def test_the_default_rubric_round_trips_through_the_toml_writer(default_rubric) -> None:
    text = rubric_toml(default_rubric)  # red flags with and without a question, multi-line texts
    assert rubric_fingerprint(parse_rubric(text)) == rubric_fingerprint(default_rubric)


@pytest.mark.parametrize("version", ["1.0.0", "not a version", ""])
def test_a_calibrated_rubric_needs_a_new_valid_version(policy_rubric, policy_gold, version: str) -> None:
    with pytest.raises(CalibrationError):
        calibrated_rubric(policy_rubric, policy_gold, version)


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def small_files(tmp_path_factory, policy_rubric) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("calibrate")
    rubric_path = folder / "parcel-policy.toml"
    rubric_path.write_text(rubric_toml(policy_rubric), encoding="utf-8")
    gold_path = folder / "gold.jsonl"
    gold_path.write_bytes(jsonl(policy_gold_lines(per_level=4)))
    return rubric_path, gold_path


def test_cli_calibrate_report_prints_the_table(run_cli, small_files) -> None:
    rubric_path, gold_path = small_files
    result = run_cli("calibrate", "report", "--rubric", rubric_path, gold_path, "--folds", "3", "--resamples", "50")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "QWK before" in out and "raters QWK" in out and "Largest disagreements" in out and "Lint" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:1] in (["ownership"], ["overall"])}
    assert set(rows) == {"ownership", "overall"} and rows["overall"].split()[1] == "13"
    assert "Ceiling: model-human QWK" in out


def test_cli_calibrate_fit_writes_a_new_version_once(run_cli, small_files, tmp_path) -> None:
    rubric_path, gold_path = small_files
    out = tmp_path / "new.toml"
    args = ("calibrate", "fit", "--rubric", rubric_path, gold_path, "--version", "1.1.0", "--out", out)
    result = run_cli(*args, "--folds", "2", "--resamples", "0", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rubric_version"] == "1.0.0" and report["folds"] == 2
    written = parse_rubric(out.read_bytes())
    assert written.version == "1.1.0" and "Calibrated" in written.description
    again = run_cli(*args)
    assert again.returncode == 2 and "not overwritten" in again.stderr and "Traceback" not in again.stderr
    assert parse_rubric(out.read_bytes()) == written


def test_cli_bad_gold_exits_2_naming_each_line(run_cli, small_files, tmp_path) -> None:
    rubric_path, _ = small_files
    lines = policy_gold_lines(per_level=2)
    lines[1]["ratings"] = {"ownership": 8}
    lines[3]["question_id"] = "lost-parcel"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(jsonl(lines))
    result = run_cli("calibrate", "report", "--rubric", rubric_path, bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2
    assert "line 2: ratings.ownership: level 8 is off the scale 1..5" in errors[0]
    assert "line 4: question_id: unknown question 'lost-parcel'" in errors[1]
    csv_result = run_cli("calibrate", "report", "--rubric", rubric_path, _write(tmp_path, "bad.csv", "x,y\n1,2\n"))
    assert csv_result.returncode == 2 and "line 1: candidate_id: missing column" in csv_result.stderr


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
