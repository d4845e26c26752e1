"""HR calibration: human-rated answers (gold), agreement with the model, and calibrated rubric versions.

- :mod:`~screening.calibration.gold`: the gold file (JSONL or CSV), read and validated against a rubric.
- :mod:`~screening.calibration.agreement`: agreement figures with bootstrap intervals.
- :mod:`~screening.calibration.report`: before / after (cross-validated) agreement, rater ceiling, lint.
- :mod:`~screening.calibration.fit`: a new rubric version with the gold as anchors, and its TOML.
- :mod:`~screening.calibration.what_if`: how stored screenings would move under a calibrated version.

Nothing here imports the web service; the API calls :func:`parse_gold`, :func:`calibration_report`,
:func:`calibrated_rubric` and :func:`what_if`. Names are imported on first use, so the command line stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CalibrationError",
    "CalibrationReport",
    "GoldAnswer",
    "GoldProblem",
    "GoldRating",
    "GoldSet",
    "InvalidGold",
    "Rating",
    "StoredScreening",
    "WhatIfReport",
    "calibrated_rubric",
    "calibration_report",
    "parse_gold",
    "read_gold",
    "rubric_toml",
    "what_if",
    "write_rubric_toml",
]

_HOME = {
    "CalibrationError": "errors",
    "GoldProblem": "errors",
    "InvalidGold": "errors",
    "GoldAnswer": "gold",
    "GoldRating": "gold",
    "GoldSet": "gold",
    "Rating": "gold",
    "parse_gold": "gold",
    "read_gold": "gold",
    "calibrated_rubric": "fit",
    "rubric_toml": "fit",
    "write_rubric_toml": "fit",
    "CalibrationReport": "report",
    "calibration_report": "report",
    "StoredScreening": "what_if",
    "WhatIfReport": "what_if",
    "what_if": "what_if",
}


def __getattr__(name: str) -> Any:
    """The public names, imported from their module on first use."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
