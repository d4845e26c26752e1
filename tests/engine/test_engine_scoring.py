"""Scoring as a whole: determinism, provenance, input checks, other scales, batches."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from screening.engine import default_model
from screening.errors import InvalidInput
from screening.manifest import load_manifest
from screening.method import DEFAULT_METHOD
from screening.report import Answer, CandidateAnswers, CandidateReport
from screening.rubric import Rubric, parse_rubric, rubric_fingerprint

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples" / "candidates.jsonl"


@pytest.fixture(scope="module")
def example_candidates() -> list[CandidateAnswers]:
    decoder = msgspec.json.Decoder(CandidateAnswers)
    return [decoder.decode(line) for line in EXAMPLES.read_text("utf-8").splitlines() if line.strip()]


def test_same_input_gives_byte_identical_reports(scorer, default_rubric, example_candidates) -> None:
    first = [msgspec.json.encode(r) for r in scorer.score_many(default_rubric, example_candidates)]
    second = [msgspec.json.encode(r) for r in scorer.score_many(default_rubric, example_candidates)]
    assert first == second
    one = example_candidates[0]
    assert msgspec.json.encode(scorer.score(default_rubric, one)) == msgspec.json.encode(
        scorer.score(default_rubric, one)
    )


def test_reports_name_what_made_them(scorer, default_rubric, example_candidates) -> None:
    report = scorer.score(default_rubric, example_candidates[0])
    p = report.provenance
    assert (p.rubric_id, p.rubric_version) == (default_rubric.id, default_rubric.version)
    assert p.rubric_fingerprint == rubric_fingerprint(default_rubric)
    assert p.model_id == default_model(DEFAULT_METHOD)
    assert re.fullmatch(r"[0-9a-f]{64}", p.model_weights_sha256), p.model_weights_sha256
    entry = load_manifest().get(p.model_id)
    if entry is not None:
        assert p.model_weights_sha256 == entry.weights_sha256
    assert p.method == DEFAULT_METHOD.method_id
    assert p.method.startswith("screening.") and re.search(r"\.v\d+$", p.method)
    assert "spacy" in p.text_pipeline
    assert p.engine_version
    # The provenance is part of the encoded report.
    decoded = msgspec.json.decode(msgspec.json.encode(report))
    assert decoded["provenance"]["rubric_fingerprint"] == p.rubric_fingerprint
    assert decoded["provenance"]["model_weights_sha256"] == p.model_weights_sha256


def test_example_candidates_are_scored_and_ordered(scorer, default_rubric, example_candidates) -> None:
    reports = scorer.score_many(default_rubric, example_candidates)
    assert [r.candidate_id for r in reports] == [c.candidate_id for c in example_candidates]
    for report, candidate in zip(reports, example_candidates, strict=True):
        assert [a.question_id for a in report.answers] == [a.question_id for a in candidate.answers]
        assert [d.dimension_id for d in report.dimensions] == [d.id for d in default_rubric.dimensions]
        assert report.scale.min == default_rubric.scale.min and report.scale.max == default_rubric.scale.max
        if report.overall.level is not None:
            assert default_rubric.scale.min <= report.overall.level <= default_rubric.scale.max
            assert 0.0 <= report.overall.score <= 100.0
            assert 0.0 <= report.overall.confidence <= 1.0


def test_a_candidate_report_does_not_depend_on_the_batch(scorer, default_rubric, example_candidates) -> None:
    together = scorer.score_many(default_rubric, example_candidates)
    for candidate, batched in zip(example_candidates, together, strict=True):
        alone = scorer.score(default_rubric, candidate)
        for a, b in zip(alone.answers, batched.answers, strict=True):
            assert [r.code for r in a.reasons] == [r.code for r in b.reasons]
            for da, db in zip(a.dimensions, b.dimensions, strict=True):
                if da.level is None or db.level is None:
                    assert da.level == db.level
                else:
                    assert abs(da.level - db.level) <= 0.011, (candidate.candidate_id, a.question_id, da, db)


def test_the_strong_example_candidate_outscores_the_deflecting_one(scorer, default_rubric, example_candidates) -> None:
    by_id = {r.candidate_id: r for r in scorer.score_many(default_rubric, example_candidates)}
    strong, weak = by_id["cand-001"], by_id["cand-002"]
    assert strong.overall.level is not None and weak.overall.level is not None
    assert strong.overall.level - weak.overall.level >= 1.0, (strong.overall, weak.overall)


@pytest.mark.parametrize(
    ("answers", "where"),
    [
        ((Answer(question_id="no-such-question", text="I would help."),), "answers[0].question_id"),
        (
            (Answer(question_id="broken-gift", text="I would help."), Answer(question_id="broken-gift", text="Again.")),
            "answers[1].question_id",
        ),
        ((), "answers"),
    ],
    ids=["unknown-question", "answered-twice", "no-answers"],
)
def test_answers_that_do_not_fit_the_rubric_are_refused(scorer, default_rubric, answers, where: str) -> None:
    with pytest.raises(InvalidInput) as info:
        scorer.score(default_rubric, CandidateAnswers(candidate_id="c", answers=answers))
    assert [p.location for p in info.value.problems] == [where]
    assert info.value.problems[0].message


def test_candidate_input_rejects_unknown_fields() -> None:
    with pytest.raises(msgspec.ValidationError, match="anwsers"):
        msgspec.json.decode(b'{"candidate_id": "c", "answers": [], "anwsers": []}', type=CandidateAnswers)


# ---------------------------------------------------------------- other scales


def _rescaled(default_rubric: Rubric, low: int, high: int, render_toml) -> Rubric:
    """Two questions of the default rubric with their references' levels mapped onto low..high."""
    keep = ("broken-gift", "missed-callback")
    questions = [q for q in default_rubric.questions if q.id in keep]
    measured = {m.dimension for q in questions for m in q.measures}
    old = default_rubric.scale

    def level(value: int) -> int:
        return round(low + (value - old.min) * (high - low) / old.span)

    refs = [
        {"question": r.question, "dimension": r.dimension, "level": level(r.level), "text": r.text}
        for r in default_rubric.references
        if r.question in keep
    ]
    data = {
        "id": f"rescaled-{low}-{high}",
        "version": "1",
        "title": "Rescaled",
        "scale": {"min": low, "max": high, "labels": [f"L{n}" for n in range(low, high + 1)]},
        "dimensions": [msgspec.to_builtins(d) for d in default_rubric.dimensions if d.id in measured],
        "questions": [msgspec.to_builtins(q) for q in questions],
        "references": refs,
    }
    return parse_rubric(render_toml(data), source=f"rescaled {low}..{high}")


STRONG_GIFT = (
    "I'd apologise straight away and tell her I'll handle it myself from start to finish. "
    "I would book a replacement on same-day delivery so it reaches her before the party, "
    "and I'd ring her back personally once it's delivered."
)
WEAK_GIFT = (
    "That's the courier's problem, not ours. I'd give her the courier's number and tell her to make a claim "
    "with them, then end the call."
)


@pytest.mark.parametrize(("low", "high"), [(0, 2), (0, 10)])
def test_scoring_on_another_scale(scorer, default_rubric, render_toml, low: int, high: int) -> None:
    rubric = _rescaled(default_rubric, low, high, render_toml)
    strong, weak = scorer.score_many(
        rubric,
        [
            CandidateAnswers(candidate_id="strong", answers=(Answer(question_id="broken-gift", text=STRONG_GIFT),)),
            CandidateAnswers(candidate_id="weak", answers=(Answer(question_id="broken-gift", text=WEAK_GIFT),)),
        ],
    )
    for report in (strong, weak):
        assert isinstance(report, CandidateReport)
        assert (report.scale.min, report.scale.max, len(report.scale.labels)) == (low, high, high - low + 1)
        answer = report.answers[0]
        assert answer.status == "scored", answer.reasons
        for dim in answer.dimensions:
            assert dim.level is not None and low <= dim.level <= high
            assert dim.label in rubric.scale.labels
        assert report.overall.level is not None and low <= report.overall.level <= high
        assert report.overall.score == pytest.approx((report.overall.level - low) / (high - low) * 100, abs=0.1)
    gap = strong.overall.level - weak.overall.level
    assert gap >= 0.25 * (high - low), f"strong {strong.overall.level} vs weak {weak.overall.level} on {low}..{high}"
