"""Method v2 specifics with the real model: perturbation families on independently written
pairs, few-shot rubrics, native outcomes, per-level probabilities, v1 still selectable.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import msgspec
import numpy as np
import pytest

from screening.method import METHOD_V1, METHOD_V2
from screening.paths import builtin_rubrics_dir
from screening.report import Answer, CandidateAnswers
from screening.rubric import parse_rubric

FAMILIES = builtin_rubrics_dir() / "heldout" / "customer-service-attitude-families.jsonl"
# The share of each family's pairs that must behave: style must not move a level, negation
# must. Floors sit just under the rates measured on this set (see README), so a regression
# fails; politeness, padding and verbosity are v2's known weak spots, not a target met.
FLOORS = {
    "negation": 0.95,
    "copied-scenario": 0.9,
    "platitudes": 0.85,
    "typos": 0.85,
    "non-native": 0.8,
    "denial-of-bad": 0.7,
    "keyword-stuffing": 0.6,
    "padding": 0.6,
    "verbose-vs-concise": 0.6,
    "politeness": 0.4,
}


def _mean_level(report) -> float:
    return float(np.mean([d.level for d in report.answers[0].dimensions if d.level is not None]))


def test_perturbation_families_hold_their_floors(scorer, default_rubric) -> None:
    pairs = [json.loads(line) for line in FAMILIES.read_text(encoding="utf-8").splitlines() if line.strip()]
    candidates = [
        CandidateAnswers(
            candidate_id=f"{p['id']}-{side}", answers=(Answer(question_id=p["question_id"], text=p[side]),)
        )
        for p in pairs
        for side in ("a", "b")
    ]
    reports = iter(scorer.score_many(default_rubric, candidates))
    passed: dict[str, list[bool]] = defaultdict(list)
    for pair in pairs:
        a, b = _mean_level(next(reports)), _mean_level(next(reports))
        intended = np.mean(list(pair["levels_b"].values())) - np.mean(list(pair["levels_a"].values()))
        moved = b - a
        ok = abs(moved) < 0.5 if intended == 0 else (np.sign(moved) == np.sign(intended) and abs(moved) >= 0.5)
        passed[pair["family"]].append(bool(ok))
    rates = {family: sum(v) / len(v) for family, v in passed.items()}
    assert set(rates) == set(FLOORS)
    below = {f: round(r, 2) for f, r in rates.items() if r < FLOORS[f]}
    assert not below, f"families below their floor: {below} (all: {rates})"


def test_a_question_with_one_model_answer_is_scored_and_orders_answers(scorer, default_rubric) -> None:
    """HR add a question with one model answer per dimension to a rubric: the shared model scores it."""
    question = "missed-callback"
    kept, seen = [], set()
    for ref in default_rubric.references:
        if ref.question != question:
            kept.append(ref)
        elif ref.level == default_rubric.scale.max and ref.dimension not in seen:
            seen.add(ref.dimension)
            kept.append(ref)
    rubric = msgspec.structs.replace(default_rubric, version="2.0.0-one-model-answer", references=tuple(kept))
    strong = (
        "At 3pm I'd ring the customer as promised and tell them honestly that finance hasn't come back yet. "
        "I'd chase finance myself, give the customer a new time, and call again as soon as I have the answer."
    )
    weak = "I'd wait for finance to get back to me. If the customer rings again I'd tell them it's being processed."
    reports = scorer.score_many(
        rubric,
        [
            CandidateAnswers(candidate_id=n, answers=(Answer(question_id=question, text=t),))
            for n, t in (("s", strong), ("w", weak))
        ],
    )
    strong_level, weak_level = (_mean_level(r) for r in reports)
    assert strong_level > weak_level + 0.5, (strong_level, weak_level)
    scorer.forget(rubric)


def test_per_level_probabilities_sum_to_one_and_give_the_level(score_answer, default_rubric) -> None:
    report = score_answer("broken-gift", "I'd apologise, send a replacement by same-day courier and call her back.")
    scale = default_rubric.scale
    for dimension in report.dimensions:
        p = dimension.probabilities
        assert p is not None and len(p) == scale.max - scale.min + 1
        assert abs(sum(p) - 1) < 1e-3
        expected = sum(level * q for level, q in zip(range(scale.min, scale.max + 1), p, strict=True))
        assert abs(expected - dimension.level) <= 1.0 + dimension.red_flag_penalty  # denials may mirror a sentence


@pytest.mark.parametrize("text", ["I don't know.", "no idea", "Not sure what I would do", "dunno"])
def test_a_non_answer_is_its_own_outcome_and_goes_to_a_person(score_answer, text: str) -> None:
    report = score_answer("broken-gift", text)
    assert report.status == "needs_review" and report.outcome == "non_answer"
    assert any(r.code == "non_answer" for r in report.reasons)
    assert all(d.level is None for d in report.dimensions)


def test_denying_what_a_good_answer_does_is_a_contradiction(score_answer) -> None:
    report = score_answer(
        "missed-callback",
        "I would not call the customer back at 3pm. I wouldn't tell them the refund is delayed, they can wait.",
    )
    assert report.outcome == "contradiction", [(d.dimension_id, d.level, d.outcome) for d in report.dimensions]
    assert any(d.negations for d in report.dimensions)


def test_outcome_tagged_references_are_learned_as_outcomes(scorer, render_toml, make_rubric_dict) -> None:
    data = make_rubric_dict()
    for question in ("late-parcel", "rude-caller"):
        for text in ("I have no idea what I would do here.", "Not sure, I don't really know, sorry."):
            data["references"].append(
                {
                    "question": question,
                    "dimension": "empathy",
                    "level": 1,
                    "text": f"{text} ({question})",
                    "outcome": "non_answer",
                }
            )
    rubric = parse_rubric(render_toml(data))
    report = scorer.score(
        rubric,
        CandidateAnswers(
            candidate_id="c",
            answers=(Answer(question_id="rude-caller", text="Honestly I have no idea what I'd do, sorry about that."),),
        ),
    )
    dimension = report.answers[0].dimensions[0]
    assert dimension.outcome == "non_answer", (dimension.level, dimension.probabilities)


def test_method_v1_stays_selectable_and_names_itself(cache_dir: Path, render_toml, make_rubric_dict) -> None:
    from screening.engine import build_scorer

    v1 = build_scorer(cache_dir=cache_dir, method=METHOD_V1)
    rubric = parse_rubric(render_toml(make_rubric_dict()))
    report = v1.score(
        rubric,
        CandidateAnswers(
            candidate_id="c",
            answers=(Answer(question_id="late-parcel", text="I'd sort it out myself and call her back today."),),
        ),
    )
    assert report.provenance.method == METHOD_V1.method_id != METHOD_V2.method_id
    assert report.provenance.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert report.answers[0].dimensions[0].probabilities is None
    assert msgspec.json.encode(report) == msgspec.json.encode(
        v1.score(
            rubric,
            CandidateAnswers(
                candidate_id="c",
                answers=(Answer(question_id="late-parcel", text="I'd sort it out myself and call her back today."),),
            ),
        )
    )
