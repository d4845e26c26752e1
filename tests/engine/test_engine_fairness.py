"""Adverse-impact report: UGESP selection rates, LL144 scoring rates, intersections, unknowns,
small categories, Fisher's exact test, Cohen's d, no candidate ids out, demographics files, CLI.

No model is loaded: the reports are real ``CandidateReport`` structs built here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest
import scipy.stats

from screening.demographics import Demographics, InvalidDemographics, load_demographics, read_demographics
from screening.fairness import (
    AdverseImpactReport,
    GroupingResult,
    ScoredCandidate,
    adverse_impact,
    cohens_d,
    render_text,
    scored_candidate,
    to_csv,
    to_json,
)
from screening.report import (
    CandidateAnswers,
    CandidateReport,
    DimensionScore,
    Overall,
    Provenance,
    ScaleInfo,
)

DIMENSIONS = ("ownership", "empathy")


def _report(candidate_id: str, level: float | None, dims: Sequence[float | None] = (3.0, 3.0)) -> CandidateReport:
    """A valid CandidateReport with the given overall level (score = level on 0-100 of a 1..5 scale)."""
    score = None if level is None else (level - 1) / 4 * 100
    return CandidateReport(
        candidate_id=candidate_id,
        status="scored" if level is not None else "needs_review",
        reasons=(),
        overall=Overall(level=level, score=score, label=None, confidence=0.8),
        dimensions=tuple(
            DimensionScore(
                dimension_id=d,
                name=d.title(),
                level=v,
                label=None,
                confidence=0.8,
                answers_scored=1,
                answers_expected=1,
            )
            for d, v in zip(DIMENSIONS, dims, strict=True)
        ),
        answers=(),
        scale=ScaleInfo(min=1, max=5, labels=("1", "2", "3", "4", "5")),
        provenance=Provenance(
            rubric_id="customer-service-attitude",
            rubric_version="2.0.0",
            rubric_fingerprint="f" * 64,
            model_id="m",
            model_weights_sha256="0" * 64,
            method="screening.stacked-levels.v2",
            text_pipeline="t",
            engine_version="0.1.0",
        ),
    )


def _candidate(candidate_id: str, level: float | None, dims: Sequence[float | None] = (3.0, 3.0)) -> ScoredCandidate:
    return scored_candidate(_report(candidate_id, level, dims))


def _grouping(report: AdverseImpactReport, name: str) -> GroupingResult:
    return next(g for g in report.groupings if g.grouping == name)


def _category(report: AdverseImpactReport, grouping: str, category: str):
    return next(c for c in _grouping(report, grouping).categories if c.category == category)


def _eeoc() -> tuple[list[ScoredCandidate], dict[str, Demographics]]:
    """EEOC's worked example: 80 of group A with 48 selected, 40 of group B with 12 selected."""
    scores, demographics = [], {}
    for sex, n, selected in (("male", 80, 48), ("female", 40, 12)):
        for i in range(n):
            cid = f"secret-{sex}-{i:03d}"
            scores.append(_candidate(cid, 4.0 if i < selected else 2.0))
            demographics[cid] = Demographics(candidate_id=cid, sex=sex, race_ethnicity="white" if i % 2 else "asian")
    return scores, demographics


# ---------------------------------------------------------------- rates and ratios


def test_eeoc_worked_example_impact_ratio_is_one_half() -> None:
    scores, demographics = _eeoc()
    report = adverse_impact(scores, demographics, cut=3.5, dimensions=DIMENSIONS)
    male, female = _category(report, "sex", "male"), _category(report, "sex", "female")
    assert (male.n, male.selection.count, male.selection.rate) == (80, 48, 0.6)
    assert (female.n, female.selection.count, female.selection.rate) == (40, 12, 0.3)
    assert _grouping(report, "sex").selection_reference == "male"
    assert female.selection.impact_ratio == pytest.approx(0.5)
    assert female.selection.four_fifths_flag is True
    assert male.selection.impact_ratio == 1.0 and male.selection.four_fifths_flag is False
    assert report.candidates == 120 and report.cut == 3.5


def test_fisher_p_is_scipys_on_the_same_table() -> None:
    scores, demographics = _eeoc()
    female = _category(adverse_impact(scores, demographics, cut=3.5, dimensions=()), "sex", "female")
    expected = scipy.stats.fisher_exact([[12, 28], [48, 32]]).pvalue
    assert female.selection.fisher_p == pytest.approx(expected, rel=1e-12)
    assert female.selection.small_sample is False


def test_small_samples_are_warned() -> None:
    scores = [_candidate(f"c{i}", 4.0 if i % 2 else 2.0) for i in range(20)]
    demographics = {c.candidate_id: Demographics(candidate_id=c.candidate_id, sex="female" if i < 10 else "male")
                    for i, c in enumerate(scores)}  # fmt: skip
    report = adverse_impact(scores, demographics, cut=3.0, dimensions=())
    assert all(c.selection.small_sample and c.scoring.small_sample for c in _grouping(report, "sex").categories)


def test_ll144_scoring_rate_is_the_share_above_the_sample_median() -> None:
    female_levels, male_levels = (1.4, 1.8, 2.2, 2.6, 4.6), (3.0, 3.4, 3.8, 4.2, 5.0)
    scores = [_candidate(f"f{i}", lv) for i, lv in enumerate(female_levels)]
    scores += [_candidate(f"m{i}", lv) for i, lv in enumerate(male_levels)]
    scores.append(_candidate("nobody-knows", 3.2))  # unknown sex; it sits at the median of all 11
    demographics = {c.candidate_id: Demographics(candidate_id=c.candidate_id, sex="female") for c in scores[:5]}
    demographics |= {c.candidate_id: Demographics(candidate_id=c.candidate_id, sex="male") for c in scores[5:10]}
    report = adverse_impact(scores, demographics, cut=None, dimensions=())
    assert report.median_score == pytest.approx(55.0)  # level 3.2 on 1..5
    female, male = _category(report, "sex", "female"), _category(report, "sex", "male")
    assert (female.scoring.count, female.scoring.rate) == (1, 0.2)  # only 4.6 is above
    assert (male.scoring.count, male.scoring.rate) == (4, 0.8)  # 3.0 is not
    assert female.scoring.impact_ratio == pytest.approx(0.25) and female.scoring.four_fifths_flag
    assert female.selection is None and _grouping(report, "sex").unknown == 1


def test_intersections_and_unknowns_are_counted_not_dropped() -> None:
    people = [
        ("a", "female", "white", 4.0),
        ("b", "female", "white", 2.0),
        ("c", "female", "asian", 4.0),
        ("d", "male", "white", 4.0),
        ("e", "male", None, 4.0),  # intersection unknown
        ("f", "declined", "white", 2.0),  # declined in sex and in the intersection
        ("g", None, None, 2.0),
    ]
    scores = [_candidate(cid, level) for cid, *_, level in people]
    scores += [_candidate("h", 3.0), _candidate("no-level", None)]  # h has no record; no-level has no score
    demographics = {cid: Demographics(candidate_id=cid, sex=s, race_ethnicity=r) for cid, s, r, _ in people}
    report = adverse_impact(scores, demographics, cut=3.5, dimensions=(), exclude_small=False)
    assert (report.candidates, report.without_score) == (8, 1)
    sex, race, both = (_grouping(report, g) for g in ("sex", "race_ethnicity", "sex_race_ethnicity"))
    assert (sex.unknown, sex.declined) == (2, 1)
    assert (race.unknown, race.declined) == (3, 0)
    assert (both.unknown, both.declined) == (3, 1)
    assert [c.category for c in both.categories] == ["female/white", "female/asian", "male/white"]
    assert [(c.n, c.selection.count) for c in both.categories] == [(2, 1), (1, 1), (1, 1)]
    for group in (sex, race, both):
        assert sum(c.n for c in group.categories) + group.unknown + group.declined == report.candidates


def test_categories_under_two_percent_are_marked_and_left_out_of_the_ratios() -> None:
    scores = [_candidate(f"c{i}", 4.0 if i % 2 else 2.0) for i in range(99)]
    scores.append(_candidate("lonely", 5.0))
    demographics = {c.candidate_id: Demographics(candidate_id=c.candidate_id, race_ethnicity="white") for c in scores}
    demographics["lonely"] = Demographics(candidate_id="lonely", race_ethnicity="american_indian_or_alaska_native")
    report = adverse_impact(scores, demographics, cut=3.5, dimensions=())
    small = _category(report, "race_ethnicity", "american_indian_or_alaska_native")
    assert small.small and small.share == pytest.approx(0.01) and small.selection.rate == 1.0
    assert small.selection.impact_ratio is None and small.selection.fisher_p is None
    assert report.small_excluded_from_ratios and _grouping(report, "race_ethnicity").selection_reference == "white"
    assert not _category(report, "race_ethnicity", "white").small
    kept = adverse_impact(scores, demographics, cut=3.5, dimensions=(), exclude_small=False)
    assert not kept.small_excluded_from_ratios
    assert _grouping(kept, "race_ethnicity").selection_reference == "american_indian_or_alaska_native"
    assert _category(kept, "race_ethnicity", "white").selection.impact_ratio == pytest.approx(49 / 99)


def test_cohens_d_on_a_hand_example() -> None:
    assert cohens_d([1, 2, 3], [3, 4, 5]) == pytest.approx(-2.0)  # means 2 and 4, both SDs 1
    assert cohens_d([2, 4], [1, 1, 4]) == pytest.approx((3 - 2) / ((2 + 6) / 3) ** 0.5)
    assert cohens_d([1], [2, 3]) is None and cohens_d([2, 2], [2, 2]) is None
    scores = [_candidate(f"f{i}", 3.0, (v, 3.0)) for i, v in enumerate((1, 2, 3))]
    scores += [_candidate(f"m{i}", 3.0, (v, None)) for i, v in enumerate((3, 4, 5))]
    demographics = {c.candidate_id: Demographics(candidate_id=c.candidate_id, sex="female") for c in scores[:3]}
    demographics |= {c.candidate_id: Demographics(candidate_id=c.candidate_id, sex="male") for c in scores[3:]}
    female = _category(adverse_impact(scores, demographics, cut=None, dimensions=DIMENSIONS), "sex", "female")
    ownership, empathy = female.dimension_gaps
    assert (ownership.mean, ownership.mean_rest, ownership.n, ownership.n_rest) == (2.0, 4.0, 3, 3)
    assert ownership.cohens_d == pytest.approx(-2.0)
    assert (empathy.n, empathy.n_rest, empathy.cohens_d) == (3, 0, None)


# ---------------------------------------------------------------- no candidate data out


def test_no_candidate_id_in_any_rendering() -> None:
    scores, demographics = _eeoc()
    report = adverse_impact(scores, demographics, cut=3.5, dimensions=DIMENSIONS)
    outputs = [to_json(report).decode(), to_csv(report), render_text(report)]
    for output in outputs:
        assert "secret" not in output
        assert not any(c.candidate_id in output for c in scores)
    decoded = json.loads(outputs[0])
    assert decoded["candidates"] == 120 and msgspec.json.decode(outputs[0].encode(), type=AdverseImpactReport)
    rows = list(csv.DictReader(io.StringIO(outputs[1])))
    assert {r["kind"] for r in rows} == {"category", "unknown", "declined"}
    female = next(r for r in rows if r["grouping"] == "sex" and r["category"] == "female")
    assert (female["selection_impact_ratio"], female["selection_four_fifths_flag"]) == ("0.5", "true")


def test_demographic_data_is_never_in_a_candidate_report_or_its_input() -> None:
    demographic_fields = set(Demographics.__struct_fields__) - {"candidate_id"}
    structs = [CandidateReport, CandidateAnswers, Overall, DimensionScore, Provenance, ScaleInfo]
    assert not demographic_fields & {f for s in structs for f in s.__struct_fields__}
    line = {"candidate_id": "c", "answers": [{"question_id": "q", "text": "t"}], "sex": "female"}
    with pytest.raises(msgspec.ValidationError, match="sex"):
        msgspec.json.decode(json.dumps(line), type=CandidateAnswers)


# ---------------------------------------------------------------- demographics files


def test_demographics_csv_and_jsonl_are_read() -> None:
    csv_lines = ["\ufeffcandidate_id,sex,race_ethnicity", "a,female,white", "b,,declined", "", "c,male,"]
    found = read_demographics(csv_lines, "csv")
    assert found["a"] == Demographics(candidate_id="a", sex="female", race_ethnicity="white")
    assert (found["b"].sex, found["b"].race_ethnicity, found["c"].race_ethnicity) == (None, "declined", None)
    jsonl = [b'{"candidate_id": "a", "sex": "other"}', b'{"candidate_id": "b", "race_ethnicity": "two_or_more_races"}']
    assert read_demographics(jsonl, "jsonl")["a"].sex == "other"


def test_bad_demographics_lines_are_each_named_by_line_and_field() -> None:
    lines = [
        "candidate_id,sex,race_ethnicity",
        "a,female,white",
        "b,femal,white",
        ",male,asian",
        "a,male,asian",
        "c,male,latino",
        'd,"male,asian',
        "e,male",
        b"f,\xff,white",
    ]
    with pytest.raises(InvalidDemographics) as caught:
        read_demographics(lines, "csv", source="demo.csv")
    named = [str(p) for p in caught.value.problems]
    expected = [
        "line 3: sex",
        "line 4: candidate_id",
        "line 5: candidate_id",
        "line 6: race_ethnicity",
        "line 7: (csv)",
        "line 8: (line)",
        "line 9: (line)",
    ]
    assert len(named) == len(expected)
    for where in expected:
        assert any(p.startswith(where + ":") for p in named), (where, named)
    assert "already given on line 2" in str(caught.value) and "demo.csv: line 3: sex:" in str(caught.value)


def test_bad_demographics_header_and_jsonl_fields_are_named() -> None:
    with pytest.raises(InvalidDemographics, match=r"line 1: race: unknown column"):
        read_demographics(["candidate_id,sex,race", "a,male,white"], "csv")
    jsonl = ['{"candidate_id": "a", "sex": "f"}', "{", '{"candidate_id": "b", "mood": 1}', '{"sex": "male"}']
    with pytest.raises(InvalidDemographics) as caught:
        read_demographics(jsonl, "jsonl")
    assert [p.location for p in caught.value.problems] == [
        "line 1: sex",
        "line 2: (json)",
        "line 3: mood",
        "line 4: candidate_id",
    ]


def test_a_demographics_file_too_large_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    import screening.demographics as module

    path = tmp_path / "demo.csv"
    path.write_text("candidate_id,sex\na,male\n", encoding="utf-8")
    monkeypatch.setattr(module, "MAX_DEMOGRAPHICS_BYTES", 10)
    with pytest.raises(InvalidDemographics, match="at most 10"):
        load_demographics(path)


# ---------------------------------------------------------------- CLI


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    scores, demographics = _eeoc()
    reports = tmp_path / "reports.jsonl"
    encoder = msgspec.json.Encoder()
    lines = [encoder.encode(_report(c.candidate_id, c.level)).decode() for c in scores]
    lines.append(encoder.encode(_report("secret-review", None)).decode())
    reports.write_text("\n".join(lines) + "\n", encoding="utf-8")
    demo = tmp_path / "demo.csv"
    rows = [f"{d.candidate_id},{d.sex or ''},{d.race_ethnicity or ''}" for d in demographics.values()]
    demo.write_text("candidate_id,sex,race_ethnicity\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return reports, demo


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_cli_report_end_to_end(files: tuple[Path, Path], capsys, fmt: str) -> None:
    from screening.cli import main

    reports, demo = files
    code = main(["fairness", "report", "--reports", str(reports), "--demographics", str(demo), "--cut", "3.5",
                 "--format", fmt])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "secret" not in out
    if fmt == "json":
        report = msgspec.json.decode(out.encode(), type=AdverseImpactReport)
        assert (report.candidates, report.without_score) == (120, 1)
        assert _category(report, "sex", "female").selection.impact_ratio == pytest.approx(0.5)
        assert [g.dimension_id for g in _category(report, "sex", "male").dimension_gaps] == list(DIMENSIONS)
    elif fmt == "csv":
        assert out.startswith("grouping,kind,category,n,")
    else:
        assert "female" in out and "0.50 *" in out


def test_cli_problems_are_one_line_each_exit_2_no_traceback(run_cli, files: tuple[Path, Path], tmp_path: Path) -> None:
    reports, _ = files
    with reports.open("a", encoding="utf-8") as handle:
        handle.write('{"candidate_id": "x"}\n')
    demo = tmp_path / "demo.jsonl"
    demo.write_text('{"candidate_id": "a", "sex": "f"}\n{"candidate_id": "b", "race_ethnicity": "x"}\n', "utf-8")
    result = run_cli("fairness", "report", "--reports", reports, "--demographics", demo, "--cut", "9")
    assert result.returncode == 2 and "Traceback" not in result.stderr and not result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 4, result.stderr
    assert f"{reports}: line 122: status:" in lines[0]
    assert f"{demo}: line 1: sex:" in lines[1] and f"{demo}: line 2: race_ethnicity:" in lines[2]
    assert "--cut: 9 is not a level" in lines[3]
