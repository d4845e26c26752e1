"""Errors of HR calibration: a gold file's problems (each with its line and field), and requests
that cannot be carried out (too few candidates to cross-validate, a version that is not new).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from screening.errors import Problem, ScreeningError

__all__ = ["CalibrationError", "GoldProblem", "InvalidGold"]


class GoldProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong with a gold file: the line (1-based; 0 for the file as a whole), the field, what."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        """Render as ``line N: field: message``."""
        return f"line {self.line}: {self.field}: {self.message}" if self.line else f"{self.field}: {self.message}"

    def as_problem(self) -> Problem:
        """The engine's generic :class:`~screening.errors.Problem` (location ``line N: field``)."""
        return Problem(location=f"line {self.line}: {self.field}" if self.line else self.field, message=self.message)


class InvalidGold(ScreeningError):
    """A gold file has problems; ``problems`` lists every one found (up to a bound)."""

    code = "invalid-gold"

    def __init__(self, source: str, problems: Sequence[GoldProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        listing = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in gold file:\n{listing}")


class CalibrationError(ScreeningError):
    """A calibration that cannot be made as asked (the message says what would fix it)."""

    code = "invalid-calibration"
