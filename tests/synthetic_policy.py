"""A synthetic rubric whose references mislead, and human-rated answers (gold) that follow HR's policy.

Shared by the engine's and the API's calibration tests: calibrating on this gold must measurably help.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

__all__ = ["ACTIONS", "FOLLOW_UPS", "OPENINGS", "jsonl", "policy_gold_lines", "policy_rubric_dict"]

# HR's rule is company policy the references do not show: offering a voucher is the best answer (5),
# a plain explanation is 3, refunding the whole order is 1. The rubric's two references point the
# other way (a refund at 5), and nothing else varies with the level: the opening and the follow-up
# are drawn from the same lists at every level.

OPENINGS = ("", "Honestly, ", "First of all, ", "Well, ", "To be fair, ")
FOLLOW_UPS = (
    "check the tracking myself today",
    "call them back within the hour",
    "email them an update this afternoon",
    "ring the depot before we close",
)
ACTIONS = {
    5: "offer them a ten pound voucher for the delay",
    3: "explain that the parcel is on its way",
    1: "refund the whole order straight away",
}


def policy_rubric_dict() -> dict[str, Any]:
    return {
        "id": "parcel-policy",
        "version": "1.0.0",
        "title": "Parcel policy",
        "description": "A synthetic rubric whose references mislead.",
        "scale": {"min": 1, "max": 5, "labels": [f"level {n}" for n in range(1, 6)]},
        "dimensions": [{"id": "ownership", "name": "Ownership", "description": "Owns the problem."}],
        "questions": [
            {
                "id": "late-parcel",
                "prompt": "A customer's parcel is three days late. What do you do?",
                "measures": [{"dimension": "ownership"}],
            }
        ],
        "references": [
            {
                "question": "late-parcel",
                "dimension": "ownership",
                "level": 5,
                "text": "I'd say sorry and refund the full order at once so that they are happy again.",
            },
            {
                "question": "late-parcel",
                "dimension": "ownership",
                "level": 1,
                "text": "I'd tell them parcels are sometimes late and they should just wait a few more days.",
            },
        ],
    }


def policy_gold_lines(per_level: int = 10) -> list[dict[str, Any]]:
    """One answer per candidate; every third rated by a second rater, one level apart at times."""
    lines = []
    pairs = list(itertools.product(OPENINGS, FOLLOW_UPS))
    for level, action in ACTIONS.items():
        for opening, follow_up in pairs[:per_level]:
            number = len(lines) + 1
            ratings: Any = level
            if number % 3 == 0:
                second = level if number % 2 else min(level + 1, 5)
                ratings = [{"rater": "ana", "level": level}, {"rater": "ben", "level": second}]
            lines.append(
                {
                    "candidate_id": f"c{number:02d}",
                    "question_id": "late-parcel",
                    "text": f"{opening}I'd apologise, {action}, and {follow_up}.",
                    "ratings": {"ownership": ratings},
                }
            )
    # another candidate writes exactly what c01 wrote: the two must never train each other's fold
    lines.append({**lines[0], "candidate_id": "c-copy"})
    return lines


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(line) for line in lines) + "\n").encode("utf-8")
