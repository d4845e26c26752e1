"""The engine's error tree.

ScreeningError
├── InvalidRubric          a rubric file or upload has problems (all of them listed)
├── RubricNotFound         no rubric with that id (or version) is known
├── InvalidInput           a candidate's answers do not fit the rubric (unknown question ids, ...)
├── InputLineError         a line of an input file cannot be decoded (names line and field)
├── ModelError             the encoder model cannot be loaded or does not match its manifest
└── InvalidMethod          no scoring method with that versioned id

Every error carries a stable ``code`` and a message that says what was given and what
would fix it. The web layer maps these to HTTP problem details; the engine never
imports HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

__all__ = [
    "InputLineError",
    "InvalidInput",
    "InvalidMethod",
    "InvalidRubric",
    "ModelError",
    "Problem",
    "RubricNotFound",
    "ScreeningError",
]


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong with an input, and where it is (a dotted path, or a line)."""

    location: str
    message: str

    def __str__(self) -> str:
        """Render as ``location: message``."""
        return f"{self.location}: {self.message}"


class ScreeningError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "screening-error"


class InvalidRubric(ScreeningError):
    """A rubric has one or more problems; ``problems`` lists every one found."""

    code = "invalid-rubric"

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        listing = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in rubric:\n{listing}")


class RubricNotFound(ScreeningError):
    """No rubric with the given id (and version) is known."""

    code = "rubric-not-found"

    def __init__(self, rubric_id: str, available: Sequence[str], version: str | None = None) -> None:
        self.rubric_id = rubric_id
        self.version = version
        self.available = tuple(available)
        wanted = f"{rubric_id!r} version {version!r}" if version else repr(rubric_id)
        choices = ", ".join(self.available) or "none"
        super().__init__(f"No rubric {wanted}. Available: {choices}")


class InvalidInput(ScreeningError):
    """Candidate answers that do not fit the rubric; ``problems`` names each field."""

    code = "invalid-input"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class InputLineError(ScreeningError):
    """A line of a JSONL input file that cannot be used."""

    code = "invalid-input-line"

    def __init__(self, line_number: int, field: str, message: str) -> None:
        self.line_number = line_number
        self.field = field
        super().__init__(f"line {line_number}: {field}: {message}")


class ModelError(ScreeningError):
    """The encoder model cannot be loaded, or its weights do not match the manifest."""

    code = "model-error"


class InvalidMethod(ScreeningError):
    """No scoring method has this versioned id."""

    code = "invalid-method"

    def __init__(self, given: str, known: Sequence[str]) -> None:
        self.given = given
        super().__init__(f"No scoring method {given!r}. Available: {', '.join(known)}.")
