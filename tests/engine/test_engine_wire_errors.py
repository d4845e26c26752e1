"""One reading of msgspec validation messages: the bad value's path and the bare message."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from screening.report import CandidateAnswers
from screening.wire_errors import join_path, msgspec_error_location


class Limits(msgspec.Struct, forbid_unknown_fields=True):
    port: Annotated[int, msgspec.Meta(ge=1)]


def _error(data: object, kind: type) -> str:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(data, type=kind)
    return str(info.value)


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        pytest.param({"candidate_id": "c", "answers": [{"question_id": "q", "text": 5}]}, "answers[0].text", "Expected `str`", id="wrong-type"),
        pytest.param({"candidate_id": "c", "answers": [{"question_id": "q"}]}, "answers[0].text", "missing required field", id="missing-field"),
        pytest.param({"candidate_id": "c", "answers": [], "score": 5}, "score", "unknown field `score`", id="top-level-unknown-field"),
        pytest.param({"candidate_id": "c", "answers": [{"question_id": "q", "text": "t", "mood": 1}]}, "answers[0].mood", "unknown field", id="nested-unknown-field"),
        pytest.param([1], "", "Expected `object`", id="not-an-object"),
    ],
)  # fmt: skip
def test_the_path_and_message_of_real_errors(data, path: str, fragment: str) -> None:
    message = _error(data, CandidateAnswers)
    found, bare = msgspec_error_location(message)
    assert found == path
    assert fragment in bare and " - at " not in bare


def test_a_constraint_error_names_the_field() -> None:
    assert msgspec_error_location(_error({"port": 0}, Limits)) == ("port", "Expected `int` >= 1")


def test_a_message_already_stripped_of_its_location_is_read_within_a_given_path() -> None:
    assert msgspec_error_location("Object contains unknown field `mood`", within="answers[0]") == (
        "answers[0].mood",
        "Object contains unknown field `mood`",
    )
    assert msgspec_error_location("Expected `str`, got `int`", within="answers[0].text")[0] == "answers[0].text"


def test_paths_join_fields_and_indexes() -> None:
    assert join_path("references[3] (q/d/5)", "level") == "references[3] (q/d/5).level"
    assert join_path("answers", "[1]") == "answers[1]"
    assert join_path("", "x") == "x" and join_path("x", "") == "x"
