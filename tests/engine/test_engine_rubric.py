"""Rubric format: strict validation with located, complete error lists; fingerprint; other scales.

No model is needed here: rubrics are small TOML texts built by the ``make_rubric_dict``
fixture, broken in exactly one place (or several, on purpose).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from screening.errors import InvalidRubric, RubricNotFound
from screening.paths import builtin_rubrics_dir
from screening.rubric import Rubric, RubricLibrary, load_rubric, parse_rubric, rubric_fingerprint, rubric_warnings

Mutation = Callable[[dict[str, Any]], None]


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRubric) as info:
        parse_rubric(text, source="test.toml")
    assert info.value.problems, "InvalidRubric must list at least one problem"
    return [(p.location, p.message) for p in info.value.problems]


def test_minimal_rubric_is_valid(make_rubric_dict, render_toml) -> None:
    rubric = parse_rubric(render_toml(make_rubric_dict()))
    assert isinstance(rubric, Rubric)
    assert [q.id for q in rubric.questions] == ["late-parcel", "rude-caller"]
    assert len(rubric.references) == 6


def test_default_rubric_is_valid() -> None:
    rubric = load_rubric(builtin_rubrics_dir() / "customer-service-attitude.toml")
    assert rubric.id == "customer-service-attitude"
    assert (rubric.scale.min, rubric.scale.max) == (1, 5)
    assert len(rubric.references) > 100


def test_toml_syntax_error_is_reported_with_its_line(make_rubric_dict, render_toml) -> None:
    text = render_toml(make_rubric_dict()) + 'oops = "unterminated\n'
    problems = _problems(text)
    assert len(problems) == 1
    location, message = problems[0]
    assert location == "toml"
    line_number = text.count("\n")  # the broken line is the last one
    assert re.search(rf"line {line_number}\b", message), message


def _add_dimension(d: dict[str, Any], ident: str) -> None:
    d["dimensions"].append({"id": ident, "name": ident.title(), "description": "Another attitude."})


def _append_reference(d: dict[str, Any], **fields: Any) -> None:
    d["references"].append({"question": "late-parcel", "dimension": "ownership", "level": 3, "text": "Text.", **fields})


# Each case breaks ONE thing. (id, mutation, location fragments, message fragments)
SINGLE_MISTAKES: list[tuple[str, Mutation, tuple[str, ...], tuple[str, ...]]] = [
    (
        "unknown-field-typo",
        lambda d: d["dimensions"][1].update(wieght=2.0),
        ("dimensions[1]", "empathy"),
        ("wieght",),
    ),
    (
        "unknown-top-level-field",
        lambda d: d.update(tittle="Typo"),
        (),
        ("tittle",),
    ),
    (
        "level-off-the-scale",
        lambda d: _append_reference(d, level=6),
        ("references[6]", "level"),
        ("6", "1..5"),
    ),
    (
        "negative-level",
        lambda d: _append_reference(d, level=-1),
        ("references[6]", "level"),
        ("-1",),
    ),
    (
        "duplicate-dimension-id",
        lambda d: _add_dimension(d, "empathy"),
        ("dimensions",),
        ("duplicate", "empathy"),
    ),
    (
        "duplicate-question-id",
        lambda d: d["questions"].append(dict(d["questions"][0])),
        ("questions",),
        ("duplicate", "late-parcel"),
    ),
    (
        "measures-undeclared-dimension",
        lambda d: d["questions"][1]["measures"].append({"dimension": "patience"}),
        ("questions[1]", "rude-caller", "measures[1]", "dimension"),
        ("patience",),
    ),
    (
        "no-reference-for-a-measure",
        lambda d: d.update(
            references=[
                r for r in d["references"] if not (r["question"] == "late-parcel" and r["dimension"] == "empathy")
            ]
        ),
        ("questions[0]", "late-parcel", "measures[1]"),
        ("no reference response", "empathy"),
    ),
    (
        "every-reference-at-one-level",
        lambda d: d.update(references=[dict(r, level=5) for r in d["references"]]),
        ("references",),
        ("one level",),
    ),
    (
        "outcome-above-the-minimum",
        lambda d: _append_reference(d, level=3, outcome="contradiction"),
        ("references[6]", "outcome"),
        ("minimum",),
    ),
    (
        "zero-dimension-weight",
        lambda d: d["dimensions"][0].update(weight=0),
        ("dimensions[0]", "ownership", "weight"),
        (),
    ),
    (
        "negative-dimension-weight",
        lambda d: d["dimensions"][1].update(weight=-0.5),
        ("dimensions[1]", "empathy", "weight"),
        (),
    ),
    (
        "zero-measure-weight",
        lambda d: d["questions"][0]["measures"][1].update(weight=0.0),
        ("questions[0]", "late-parcel", "measures[1]", "weight"),
        (),
    ),
    (
        "negative-measure-weight",
        lambda d: d["questions"][1]["measures"][0].update(weight=-2),
        ("questions[1]", "rude-caller", "measures[0]", "weight"),
        (),
    ),
    (
        "too-few-labels",
        lambda d: d["scale"]["labels"].pop(),
        ("scale.labels",),
        ("4", "5"),
    ),
    (
        "too-many-labels",
        lambda d: d["scale"]["labels"].append("level 6"),
        ("scale.labels",),
        ("6", "5"),
    ),
    (
        "reference-to-unknown-question",
        lambda d: _append_reference(d, question="lost-parcel"),
        ("references[6]", "question"),
        ("lost-parcel",),
    ),
    (
        "reference-for-unmeasured-dimension",
        lambda d: _append_reference(d, question="rude-caller", dimension="ownership"),
        ("references[6]", "dimension"),
        ("rude-caller", "ownership"),
    ),
    (
        "duplicate-reference-text",
        lambda d: _append_reference(d, text=d["references"][0]["text"], level=4),
        ("references[6]", "text"),
        ("duplicate",),
    ),
    (
        "duplicate-reference-text-differs-only-in-case-and-spaces",
        lambda d: _append_reference(d, text="  " + d["references"][0]["text"].upper().replace(" ", "   "), level=4),
        ("references[6]", "text"),
        ("duplicate",),
    ),
    (
        "declared-dimension-nobody-measures",
        lambda d: _add_dimension(d, "patience"),
        ("dimensions[2]", "patience"),
        ("no question measures",),
    ),
]


@pytest.mark.parametrize(("mutate", "where", "what"), [pytest.param(m, w, x, id=i) for i, m, w, x in SINGLE_MISTAKES])
def test_each_mistake_gives_one_located_error(make_rubric_dict, render_toml, mutate, where, what) -> None:
    data = make_rubric_dict()
    mutate(data)
    problems = _problems(render_toml(data))
    assert len(problems) == 1, f"expected exactly one problem, got: {problems}"
    location, message = problems[0]
    for fragment in where:
        assert fragment in location, f"{fragment!r} not in location {location!r} ({message})"
    for fragment in what:
        assert fragment in message, f"{fragment!r} not in message {message!r} ({location})"
    assert message.strip(), "the message must say what is wrong"


def test_the_error_message_lists_every_location(make_rubric_dict, render_toml) -> None:
    data = make_rubric_dict()
    data["references"][0]["level"] = 9
    data["questions"][1]["measures"].append({"dimension": "patience"})
    with pytest.raises(InvalidRubric) as info:
        parse_rubric(render_toml(data), source="team/rubric.toml")
    text = str(info.value)
    assert "team/rubric.toml" in text
    for problem in info.value.problems:
        assert problem.location in text
        assert problem.message in text


def test_several_semantic_mistakes_are_all_reported(make_rubric_dict, render_toml) -> None:
    data = make_rubric_dict()
    data["questions"].append(dict(data["questions"][1]))  # duplicate question id rude-caller
    data["questions"][0]["measures"].append({"dimension": "patience"})  # undeclared dimension
    data["references"][1]["level"] = 7  # off the scale
    _append_reference(data, question="lost-parcel")  # unknown question
    data["scale"]["labels"].pop()  # 4 labels for 5 levels
    _add_dimension(data, "humour")  # declared, never measured
    locations = [loc for loc, _ in _problems(render_toml(data))]
    expected = [
        "questions",
        "questions[0] (late-parcel).measures[2].dimension",
        "references[1]",
        "references[6]",
        "scale.labels",
        "dimensions[2] (humour)",
    ]
    for fragment in expected:
        assert any(fragment in loc for loc in locations), f"{fragment!r} missing from {locations}"


def test_several_field_mistakes_are_all_reported(make_rubric_dict, render_toml) -> None:
    data = make_rubric_dict()
    data["dimensions"][0]["wieght"] = 1.0
    data["dimensions"][1]["weight"] = 0
    data["questions"][1]["measures"][0]["weight"] = -1
    data["references"][3]["levl"] = 2
    problems = _problems(render_toml(data))
    locations = [loc for loc, _ in problems]
    assert len(problems) == 4, problems
    assert any("dimensions[0]" in loc for loc in locations)
    assert any("dimensions[1]" in loc and "weight" in loc for loc in locations)
    assert any("questions[1]" in loc and "measures[0].weight" in loc for loc in locations)
    assert any("references[3]" in loc for loc in locations)
    assert any("wieght" in msg for _, msg in problems)
    assert any("levl" in msg for _, msg in problems)


def test_field_and_cross_field_mistakes_in_one_file_are_all_reported(make_rubric_dict, render_toml) -> None:
    """A typo in one place must not hide a broken reference elsewhere: HR fixes a file once."""
    data = make_rubric_dict()
    data["dimensions"][0]["wieght"] = 1.0  # field mistake
    data["questions"].append(dict(data["questions"][1]))  # duplicate question id
    _append_reference(data, question="lost-parcel")  # unknown question
    problems = _problems(render_toml(data))
    text = "\n".join(f"{loc}: {msg}" for loc, msg in problems)
    assert "wieght" in text, text
    assert any(loc == "questions" and "rude-caller" in msg for loc, msg in problems), text
    assert any("references[6]" in loc and "lost-parcel" in msg for loc, msg in problems), text


def test_load_rubric_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRubric) as info:
        load_rubric(tmp_path / "nope.toml")
    assert info.value.problems[0].location == "file"
    assert "nope.toml" in str(info.value)


# ---------------------------------------------------------------- fingerprint


def test_fingerprint_is_stable_for_the_same_content(make_rubric_dict, render_toml) -> None:
    text = render_toml(make_rubric_dict())
    first = rubric_fingerprint(parse_rubric(text))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)
    assert rubric_fingerprint(parse_rubric(text)) == first
    # Same content, different layout: comments, blank lines, the order of top-level keys.
    reordered = (
        "# a comment\n\n"
        + "\n".join(reversed(text.split("\n[", 1)[0].splitlines()))
        + "\n\n["
        + text.split("\n[", 1)[1]
    )
    assert parse_rubric(reordered) == parse_rubric(text)
    assert rubric_fingerprint(parse_rubric(reordered)) == first


def test_fingerprint_changes_when_a_reference_text_changes(make_rubric_dict, render_toml) -> None:
    data = make_rubric_dict()
    before = rubric_fingerprint(parse_rubric(render_toml(data)))
    data["references"][3]["text"] += " Then I'd check back."
    assert rubric_fingerprint(parse_rubric(render_toml(data))) != before


def test_fingerprint_changes_with_a_level_or_weight(make_rubric_dict, render_toml) -> None:
    data = make_rubric_dict()
    base = rubric_fingerprint(parse_rubric(render_toml(data)))
    data["references"].append({**data["references"][0], "level": 4, "text": "A new level-4 reference."})
    with_ref = rubric_fingerprint(parse_rubric(render_toml(data)))
    data["references"][-1]["level"] = 3
    relevelled = rubric_fingerprint(parse_rubric(render_toml(data)))
    data["dimensions"][0]["weight"] = 2.0
    reweighted = rubric_fingerprint(parse_rubric(render_toml(data)))
    assert len({base, with_ref, relevelled, reweighted}) == 4


def test_default_rubric_fingerprint_survives_msgspec_round_trip() -> None:
    rubric = load_rubric(builtin_rubrics_dir() / "customer-service-attitude.toml")
    copy = msgspec.json.decode(msgspec.json.encode(rubric), type=Rubric)
    assert rubric_fingerprint(copy) == rubric_fingerprint(rubric)
    changed = msgspec.structs.replace(
        rubric,
        references=(
            msgspec.structs.replace(rubric.references[0], text=rubric.references[0].text + "!"),
            *rubric.references[1:],
        ),
    )
    assert rubric_fingerprint(changed) != rubric_fingerprint(rubric)


# ---------------------------------------------------------------- other scales


@pytest.mark.parametrize(("low", "high"), [(0, 2), (0, 10), (1, 7)])
def test_other_scales_validate(make_rubric_dict, render_toml, low: int, high: int) -> None:
    data = make_rubric_dict(low, high)
    _append_reference(data, level=(low + high) // 2, text="A middle answer.")
    rubric = parse_rubric(render_toml(data))
    assert (rubric.scale.min, rubric.scale.max) == (low, high)
    assert len(rubric.scale.labels) == high - low + 1
    assert rubric.scale.midpoint == (low + high) / 2


@pytest.mark.parametrize(("low", "high"), [(0, 2), (0, 10)])
def test_other_scales_check_their_own_ends_and_labels(make_rubric_dict, render_toml, low: int, high: int) -> None:
    data = make_rubric_dict(low, high)
    data["references"] = [r for r in data["references"] if not (r["question"] == "rude-caller" and r["level"] == low)]
    _append_reference(data, level=high + 1, text="Off the top.")
    data["scale"]["labels"].pop()
    problems = _problems(render_toml(data))
    text = "\n".join(f"{loc}: {msg}" for loc, msg in problems)
    assert any("references[5]" in loc and "level" in loc and f"{low}..{high}" in msg for loc, msg in problems), text
    assert any(loc == "scale.labels" for loc, _ in problems), text


def test_a_scale_with_min_not_below_max_is_an_error(make_rubric_dict, render_toml) -> None:
    data = make_rubric_dict()
    data["scale"]["min"] = 5
    locations = [loc for loc, _ in _problems(render_toml(data))]
    assert "scale" in locations


# ---------------------------------------------------------------- library


def test_library_finds_rubrics_by_id_and_names_the_available_ones(
    tmp_path: Path, make_rubric_dict, render_toml
) -> None:
    v1 = make_rubric_dict()
    v2 = make_rubric_dict()
    v2["version"] = "1.10.0"
    v1["version"] = "1.9.0"
    (tmp_path / "a.toml").write_text(render_toml(v1))
    (tmp_path / "b.toml").write_text(render_toml(v2))
    library = RubricLibrary.from_folder(tmp_path)
    assert library.ids() == ["mini"]
    assert library.get("mini").version == "1.10.0"  # newest by version order, not by text
    assert library.get("mini", "1.9.0").version == "1.9.0"
    with pytest.raises(RubricNotFound) as info:
        library.get("maxi")
    assert "maxi" in str(info.value) and "mini" in str(info.value)


def test_missing_levels_are_a_warning_not_an_error(make_rubric_dict, render_toml) -> None:
    """One model answer per question is enough to be accepted; the gaps are listed as warnings."""
    data = make_rubric_dict()
    data["references"] = [r for r in data["references"] if not (r["question"] == "late-parcel" and r["level"] == 1)]
    before = {w.location: w.message for w in rubric_warnings(parse_rubric(render_toml(make_rubric_dict())))}
    after = {w.location: w.message for w in rubric_warnings(parse_rubric(render_toml(data)))}
    changed = {location for location in after if after[location] != before.get(location)}
    assert changed == {"questions[0] (late-parcel).measures[0]", "questions[0] (late-parcel).measures[1]"}
    assert all("level(s) 1, " in after[location] for location in changed)
    assert all("level(s) 2, " in message for message in before.values())
