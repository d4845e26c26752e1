"""Rubric types, loading, strict validation and fingerprint.

A rubric is a TOML file that decodes with msgspec into the frozen Structs below. Loading
never stops at the first mistake: every problem is collected with its location
(``questions[2] (broken-gift).measures[0].dimension``) and raised together as
:class:`~screening.errors.InvalidRubric`.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from screening.errors import InvalidRubric, Problem, RubricNotFound
from screening.forbidden_characters import CONTROL_CHARACTERS, paths_matching
from screening.toml_limits import toml_limit_problems
from screening.wire_errors import join_path, msgspec_error_location

__all__ = [
    "CalibrationSource",
    "Dimension",
    "Measure",
    "Question",
    "RedFlagSet",
    "Reference",
    "Rubric",
    "RubricLibrary",
    "Scale",
    "load_rubric",
    "parse_rubric",
    "rubric_fingerprint",
    "rubric_warnings",
]

Slug = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
Version = Annotated[str, Meta(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$", max_length=32)]
Locale = Annotated[str, Meta(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
Weight = Annotated[float, Meta(gt=0, le=100)]
Text = Annotated[str, Meta(min_length=1, max_length=4000)]
ScaleEnd = Annotated[int, Meta(ge=0, le=100)]


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base for rubric parts: immutable values, and unknown fields are typos, not data."""


class Scale(_Spec):
    """The integer range of levels and a label for each level, lowest first."""

    min: ScaleEnd
    max: ScaleEnd
    labels: tuple[Text, ...]

    @property
    def midpoint(self) -> float:
        """The middle of the scale."""
        return (self.min + self.max) / 2

    @property
    def span(self) -> int:
        """Distance from the lowest to the highest level."""
        return self.max - self.min

    def label(self, level: float) -> str:
        """The label of the level nearest to ``level``."""
        index = min(max(round(level) - self.min, 0), len(self.labels) - 1)
        return self.labels[index]

    def clamp(self, level: float) -> float:
        """``level`` kept inside the scale."""
        return min(max(level, float(self.min)), float(self.max))


class Dimension(_Spec):
    """An attitude the rubric measures."""

    id: Slug
    name: Text
    description: Text
    weight: Weight = 1.0


class Measure(_Spec):
    """A dimension that one question measures, with its weight in that dimension's score."""

    dimension: Slug
    weight: Weight = 1.0


class Question(_Spec):
    """A situational-judgement scenario and the dimensions it measures."""

    id: Slug
    prompt: Text
    measures: tuple[Measure, ...]
    setting: str = ""


Outcome = Literal["contradiction", "irrelevant", "non_answer"]


class Reference(_Spec, omit_defaults=True):
    """A behaviourally anchored example answer at one level of one dimension of one question.

    ``outcome`` marks an example at the scale's minimum that is not merely weak: one that
    contradicts a good answer, is on the subject but no answer, or is a non-answer ("I don't
    know"). Method v2 learns these as outcomes of their own.
    """

    question: Slug
    dimension: Slug
    level: int
    text: Text
    outcome: Outcome | None = None


class RedFlagSet(_Spec):
    """Anti-pattern examples that pull a dimension down; for one question or, if unset, all."""

    dimension: Slug
    texts: tuple[Text, ...]
    question: Slug | None = None


Digest = Annotated[str, Meta(pattern=r"^sha256:[0-9a-f]{64}$")]
Count = Annotated[int, Meta(ge=0, le=10_000_000)]


class CalibrationSource(_Spec, omit_defaults=True):
    """Where a calibrated version came from: the base version, the gold, and the calibration's id."""

    base_version: Version
    base_fingerprint: Digest
    gold_digest: Digest
    anchors: Count
    answers: Count
    candidates: Count
    calibration_id: Annotated[str, Meta(pattern=r"^[0-9A-Za-z_-]+$", max_length=64)] | None = None


class Rubric(_Spec):
    """An HR-owned rubric: scale, dimensions, questions, reference responses and red flags.

    ``calibration`` is set on versions made from human-rated answers (``screening calibrate fit``
    or the calibration API); every score made with such a version names it in its provenance.
    """

    id: Slug
    version: Version
    title: Text
    scale: Scale
    dimensions: tuple[Dimension, ...]
    questions: tuple[Question, ...]
    references: tuple[Reference, ...]
    locale: Locale = "en"
    description: str = ""
    red_flags: tuple[RedFlagSet, ...] = ()
    calibration: CalibrationSource | None = None

    def dimension(self, dimension_id: str) -> Dimension:
        """The dimension with this id."""
        return next(d for d in self.dimensions if d.id == dimension_id)

    def question(self, question_id: str) -> Question:
        """The question with this id."""
        return next(q for q in self.questions if q.id == question_id)

    def references_for(self, question_id: str, dimension_id: str) -> tuple[Reference, ...]:
        """Reference responses of one question for one dimension."""
        return tuple(r for r in self.references if r.question == question_id and r.dimension == dimension_id)

    def red_flags_for(self, question_id: str, dimension_id: str) -> tuple[str, ...]:
        """Red-flag examples that apply to one dimension of one question."""
        return tuple(
            text
            for flags in self.red_flags
            if flags.dimension == dimension_id and flags.question in (None, question_id)
            for text in flags.texts
        )


_LISTS = ("dimensions", "questions", "references", "red_flags")


def rubric_fingerprint(rubric: Rubric) -> str:
    """``sha256:`` hash of the rubric's canonical JSON: same content, same fingerprint.

    An absent ``calibration`` is left out, so rubrics written before the field existed keep theirs.
    """
    content = msgspec.to_builtins(rubric, order="sorted")
    if content["calibration"] is None:
        del content["calibration"]
    canonical = msgspec.json.encode(content, order="sorted")
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def load_rubric(path: Path | str) -> Rubric:
    """Read and validate a rubric file; raise :class:`InvalidRubric` listing every problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRubric(str(path), [Problem(location="file", message=exc.strerror or str(exc))]) from exc
    return parse_rubric(data, source=str(path))


def parse_rubric(data: bytes | str, source: str = "<rubric>") -> Rubric:
    """Decode and validate rubric TOML; raise :class:`InvalidRubric` listing every problem."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if limits := toml_limit_problems(text):
        raise InvalidRubric(source, limits)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRubric(source, [Problem(location="toml", message=str(exc))]) from exc
    except RecursionError as exc:
        raise InvalidRubric(source, [Problem(location="toml", message="nested too deeply to parse")]) from exc
    if control := paths_matching(raw, CONTROL_CHARACTERS, root="toml"):
        message = "contains a NUL or other control character, which no rubric text may"
        raise InvalidRubric(source, [Problem(location=path, message=message) for path in control[:20]])
    problems = list(_structural_problems(raw))
    partial, incomplete = _valid_part(raw) if problems else (msgspec.convert(raw, type=Rubric), frozenset())
    if partial is not None:
        malformed = {
            item.get("id")
            for name in ("dimensions", "questions")
            for item in (raw.get(name) if isinstance(raw.get(name), list) else [])
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        }
        problems += _semantic_problems(partial, known_elsewhere=malformed - {None}, incomplete=incomplete)
    if problems:
        raise InvalidRubric(source, problems)
    assert partial is not None  # no problems means the whole rubric converted
    return partial


def _valid_part(raw: dict[str, Any]) -> tuple[Rubric | None, frozenset[str]]:
    """The rubric made of the items that are well-formed, so cross-field rules can still be
    checked when some items are not (``None`` when the top level itself is malformed), and
    the names of the lists that lost items.
    """
    item_types = {"dimensions": Dimension, "questions": Question, "references": Reference, "red_flags": RedFlagSet}
    kept: dict[str, Any] = {}
    for name, kind in item_types.items():
        items = raw.get(name)
        if isinstance(items, list):
            kept[name] = [item for item in items if _convert_problem(item, kind, "") is None]
    incomplete = frozenset(name for name, items in kept.items() if len(items) != len(raw[name]))
    try:
        return msgspec.convert({**raw, **kept}, type=Rubric), incomplete
    except msgspec.ValidationError:
        return None, incomplete


def _convert_problem(raw: Any, kind: type, prefix: str) -> Problem | None:
    try:
        msgspec.convert(raw, type=kind)
    except msgspec.ValidationError as exc:
        path, message = msgspec_error_location(str(exc))
        return Problem(location=join_path(prefix, path) or "rubric", message=message)
    return None


def _item_label(name: str, index: int, item: Any) -> str:
    ident = item.get("id") if isinstance(item, dict) else None
    if name == "references" and isinstance(item, dict):
        ident = "/".join(str(item.get(k, "?")) for k in ("question", "dimension", "level"))
    return f"{name}[{index}]" + (f" ({ident})" if ident else "")


def _structural_problems(raw: dict[str, Any]) -> Iterator[Problem]:
    """Type, field and constraint problems: each list item is checked on its own."""
    item_types = {"dimensions": Dimension, "questions": Question, "references": Reference, "red_flags": RedFlagSet}
    top = {k: ([] if k in _LISTS and isinstance(v, list) else v) for k, v in raw.items()}
    problem = _convert_problem(top, Rubric, "")
    if problem:
        yield problem
    for name in _LISTS:
        items = raw.get(name)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            problem = _convert_problem(item, item_types[name], _item_label(name, index, item))
            if problem:
                yield problem


def _duplicates(values: Iterable[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def _semantic_problems(
    rubric: Rubric, known_elsewhere: frozenset[str] | set[str] = frozenset(), incomplete: frozenset[str] = frozenset()
) -> Iterator[Problem]:
    """Cross-field rules: references, ids, scale ends and weights that must agree.

    ``known_elsewhere`` are ids of items already reported as malformed, and ``incomplete``
    the lists that lost malformed items: rules that would only echo those are skipped.
    """
    yield from _scale_problems(rubric.scale)
    dimension_ids = {d.id for d in rubric.dimensions} | set(known_elsewhere)
    question_ids = {q.id for q in rubric.questions} | set(known_elsewhere)
    for dup in _duplicates(d.id for d in rubric.dimensions):
        yield Problem(location="dimensions", message=f"duplicate dimension id {dup!r}")
    for dup in _duplicates(q.id for q in rubric.questions):
        yield Problem(location="questions", message=f"duplicate question id {dup!r}")
    if not rubric.questions:
        yield Problem(location="questions", message="a rubric needs at least one question")
    measured = {m.dimension for q in rubric.questions for m in q.measures}
    for qi, question in enumerate(rubric.questions):
        yield from _question_problems(rubric, qi, question, dimension_ids, check_ends="references" not in incomplete)
    for di, dimension in enumerate(rubric.dimensions):
        if not math.isfinite(dimension.weight):
            yield Problem(
                location=f"dimensions[{di}] ({dimension.id}).weight", message="weight must be a finite number"
            )
        if dimension.id not in measured and "questions" not in incomplete:
            yield Problem(
                location=f"dimensions[{di}] ({dimension.id})",
                message="no question measures this dimension; remove it or add it to a question's measures",
            )
    yield from _reference_problems(rubric, question_ids)
    if len({r.level for r in rubric.references}) == 1 and "references" not in incomplete:
        yield Problem(
            location="references",
            message="every reference response is at one level; add a weak example answer at a lower level "
            "to any question, so that levels can be learned",
        )
    yield from _red_flag_problems(rubric, dimension_ids, question_ids)


def _question_problems(
    rubric: Rubric, qi: int, question: Question, dimension_ids: set[str], *, check_ends: bool
) -> Iterator[Problem]:
    """A question's measures: present, not repeated, declared, finite, both scale ends covered."""
    where = f"questions[{qi}] ({question.id})"
    if not question.measures:
        yield Problem(location=f"{where}.measures", message="a question must measure at least one dimension")
    for dup in _duplicates(m.dimension for m in question.measures):
        yield Problem(location=f"{where}.measures", message=f"dimension {dup!r} is measured twice")
    for mi, measure in enumerate(question.measures):
        if measure.dimension not in dimension_ids:
            yield Problem(
                location=f"{where}.measures[{mi}].dimension",
                message=f"undeclared dimension {measure.dimension!r}; declared: {', '.join(sorted(dimension_ids))}",
            )
        elif not math.isfinite(measure.weight):
            yield Problem(location=f"{where}.measures[{mi}].weight", message="weight must be a finite number")
        elif check_ends:
            yield from _scale_end_problems(rubric, question.id, measure.dimension, f"{where}.measures[{mi}]")


def _scale_problems(scale: Scale) -> Iterator[Problem]:
    if scale.min >= scale.max:
        yield Problem(location="scale", message=f"min ({scale.min}) must be below max ({scale.max})")
    elif len(scale.labels) != scale.max - scale.min + 1:
        yield Problem(
            location="scale.labels",
            message=f"{len(scale.labels)} labels for {scale.max - scale.min + 1} levels ({scale.min}..{scale.max})",
        )


def _scale_end_problems(rubric: Rubric, question_id: str, dimension_id: str, where: str) -> Iterator[Problem]:
    """A measure needs at least one reference (one model answer is enough)."""
    if not rubric.references_for(question_id, dimension_id):
        yield Problem(
            location=where,
            message=f"no reference response for dimension {dimension_id!r}; add at least one model answer",
        )


def rubric_warnings(rubric: Rubric) -> list[Problem]:
    """Things a valid rubric would score less well with: measures whose references miss levels."""
    warnings = []
    for qi, question in enumerate(rubric.questions):
        for mi, measure in enumerate(question.measures):
            present = {r.level for r in rubric.references_for(question.id, measure.dimension)}
            missing = [level for level in range(rubric.scale.min, rubric.scale.max + 1) if level not in present]
            if present and missing:
                warnings.append(
                    Problem(
                        location=f"questions[{qi}] ({question.id}).measures[{mi}]",
                        message=f"no reference response at level(s) {', '.join(map(str, missing))} for dimension "
                        f"{measure.dimension!r}; it is scored from the other questions' anchors and its own "
                        f"({len(present)} level(s)); add examples at the missing levels to sharpen it",
                    )
                )
    return warnings


def _reference_problems(rubric: Rubric, question_ids: set[str]) -> Iterator[Problem]:
    seen: set[tuple[str, str, str]] = set()
    for ri, ref in enumerate(rubric.references):
        where = f"references[{ri}] ({ref.question}/{ref.dimension}/{ref.level})"
        if ref.question not in question_ids:
            yield Problem(location=f"{where}.question", message=f"unknown question {ref.question!r}")
            continue
        question = next((q for q in rubric.questions if q.id == ref.question), None)
        measured = {m.dimension for m in question.measures} if question else {ref.dimension}
        if ref.dimension not in measured:
            yield Problem(
                location=f"{where}.dimension",
                message=f"question {ref.question!r} does not measure {ref.dimension!r}; "
                f"it measures: {', '.join(sorted(measured))}",
            )
        if ref.outcome is not None and ref.level != rubric.scale.min:
            yield Problem(
                location=f"{where}.outcome",
                message=f"an outcome ({ref.outcome!r}) marks an answer at the scale's minimum ({rubric.scale.min}), "
                f"not at level {ref.level}",
            )
        if not rubric.scale.min <= ref.level <= rubric.scale.max:
            yield Problem(
                location=f"{where}.level",
                message=f"level {ref.level} is off the scale {rubric.scale.min}..{rubric.scale.max}",
            )
        key = (ref.question, ref.dimension, " ".join(ref.text.lower().split()))
        if key in seen:
            yield Problem(location=f"{where}.text", message="duplicate reference text for this question and dimension")
        seen.add(key)


def _red_flag_problems(rubric: Rubric, dimension_ids: set[str], question_ids: set[str]) -> Iterator[Problem]:
    for fi, flags in enumerate(rubric.red_flags):
        where = f"red_flags[{fi}] ({flags.dimension})"
        if flags.dimension not in dimension_ids:
            yield Problem(location=f"{where}.dimension", message=f"undeclared dimension {flags.dimension!r}")
        if flags.question is not None and flags.question not in question_ids:
            yield Problem(location=f"{where}.question", message=f"unknown question {flags.question!r}")
        if not flags.texts:
            yield Problem(location=f"{where}.texts", message="a red-flag set needs at least one example text")


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+-]", version))


class RubricLibrary:
    """Rubrics loaded from a folder of ``*.toml`` files, found by id and optional version."""

    def __init__(self, rubrics: Iterable[Rubric]) -> None:
        self._by_key: dict[tuple[str, str], Rubric] = {}
        for rubric in rubrics:
            self._by_key[(rubric.id, rubric.version)] = rubric

    @classmethod
    def from_folder(cls, folder: Path | str) -> RubricLibrary:
        """Load every ``*.toml`` rubric in ``folder`` (not recursive)."""
        return cls(load_rubric(path) for path in sorted(Path(folder).glob("*.toml")))

    def ids(self) -> list[str]:
        """Known rubric ids, sorted."""
        return sorted({rubric_id for rubric_id, _ in self._by_key})

    def versions(self, rubric_id: str) -> list[Rubric]:
        """All versions of one rubric, oldest first."""
        found = [r for (rid, _), r in self._by_key.items() if rid == rubric_id]
        return sorted(found, key=lambda r: _version_key(r.version))

    def get(self, rubric_id: str, version: str | None = None) -> Rubric:
        """The rubric with this id: the given version, or the newest."""
        versions = self.versions(rubric_id)
        if version is not None:
            versions = [r for r in versions if r.version == version]
        if not versions:
            raise RubricNotFound(rubric_id, self.ids(), version)
        return versions[-1]

    def __iter__(self) -> Iterator[Rubric]:
        """Every rubric, by id then version."""
        for rubric_id in self.ids():
            yield from self.versions(rubric_id)
