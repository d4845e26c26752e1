"""Calibrated rubric versions: the gold's rated answers added to a rubric as anchors.

Each rated (answer, dimension) becomes a reference at its human level (the mean of its
raters, rounded half up to the scale); answers with the same text for the same question and
dimension are merged (the mean of their levels), and one that repeats an existing reference
leaves that reference as it is. The new version keeps every original reference, records the
calibration in its ``calibration`` table (base version and fingerprint, gold digest, counts,
and the API's calibration id) and in a line of its ``description``, and so has a fingerprint
of its own: every score made with it names it in its provenance.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import tomli_w

from screening.calibration.errors import CalibrationError
from screening.calibration.gold import GoldAnswer, GoldSet, normalised_text, round_level
from screening.errors import InvalidRubric
from screening.rubric import CalibrationSource, Reference, Rubric, Version, parse_rubric, rubric_fingerprint

__all__ = ["calibrated_rubric", "calibration_note", "gold_anchors", "rubric_toml", "with_anchors", "write_rubric_toml"]


def gold_anchors(
    rubric: Rubric, answers: Iterable[GoldAnswer], *, exclude_texts: frozenset[str] = frozenset()
) -> tuple[Reference, ...]:
    """The rated answers as references at their human levels (texts in ``exclude_texts``, normalised, left out)."""
    existing = {(r.question, r.dimension, normalised_text(r.text)) for r in rubric.references}
    merged: dict[tuple[str, str, str], tuple[str, list[float]]] = {}
    for answer in answers:
        norm = normalised_text(answer.text)
        if norm in exclude_texts:
            continue
        for rating in answer.ratings:
            key = (answer.question_id, rating.dimension_id, norm)
            if key not in existing:
                merged.setdefault(key, (answer.text.strip(), []))[1].append(rating.level)
    return tuple(
        Reference(question=q, dimension=d, level=round_level(sum(levels) / len(levels), rubric.scale), text=text)
        for (q, d, _), (text, levels) in merged.items()
    )


def with_anchors(
    rubric: Rubric, answers: Iterable[GoldAnswer], version: str, *, exclude_texts: frozenset[str] = frozenset()
) -> Rubric:
    """``rubric`` under ``version`` with the rated ``answers`` added as anchors (no record of where from)."""
    anchors = gold_anchors(rubric, answers, exclude_texts=exclude_texts)
    return msgspec.structs.replace(rubric, version=version, references=rubric.references + anchors)


def calibration_note(rubric: Rubric, gold: GoldSet, version: str, anchors: int) -> str:
    """The line a calibrated version's description carries about where it came from."""
    candidates = len(gold.candidate_ids)
    return (
        f"Calibrated: version {version} is {rubric.id} {rubric.version} ({rubric_fingerprint(rubric)}) "
        f"with {anchors} anchors from {len(gold.answers)} human-rated answers of {candidates} candidates "
        f"({gold.rating_count} ratings, {gold.second_ratings} with a second rater; gold {gold.digest})."
    )


def calibrated_rubric(rubric: Rubric, gold: GoldSet, version: str, calibration_id: str | None = None) -> Rubric:
    """A new version of ``rubric``: its references plus every rated answer of ``gold`` as an anchor.

    ``calibration_id`` (the API's record of this calibration) is kept in the version's ``calibration``.

    Raises :class:`CalibrationError` when ``gold`` was validated against another rubric version,
    or ``version`` is not a valid, new version string.
    """
    if (gold.rubric_id, gold.rubric_version) != (rubric.id, rubric.version):
        raise CalibrationError(
            f"the gold was checked against {gold.rubric_id} {gold.rubric_version}, not {rubric.id} {rubric.version}"
        )
    try:
        msgspec.convert(version, type=Version)
    except msgspec.ValidationError as exc:
        raise CalibrationError(f"version {version!r}: {exc}") from None
    if version == rubric.version:
        raise CalibrationError(
            f"version {version!r} is the rubric's own; a calibrated rubric is a new version (the old one stays)"
        )
    calibrated = with_anchors(rubric, gold.answers, version)
    anchors = len(calibrated.references) - len(rubric.references)
    note = calibration_note(rubric, gold, version, anchors)
    description = f"{rubric.description.rstrip()}\n\n{note}" if rubric.description.strip() else note
    source = CalibrationSource(
        base_version=rubric.version,
        base_fingerprint=rubric_fingerprint(rubric),
        gold_digest=gold.digest,
        anchors=anchors,
        answers=len(gold.answers),
        candidates=len(gold.candidate_ids),
        calibration_id=calibration_id,
    )
    calibrated = msgspec.structs.replace(calibrated, description=description, calibration=source)
    rubric_toml(calibrated)  # every calibrated rubric is one the validator accepts, and round-trips
    return calibrated


def _without_none(value: Any) -> Any:
    """Builtins without ``None`` values (TOML has no null; an absent field is its default)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


def rubric_toml(rubric: Rubric) -> str:
    """``rubric`` as TOML that :func:`~screening.rubric.parse_rubric` reads back to the same fingerprint."""
    header = f"# {rubric.id} {rubric.version}: written by `screening calibrate fit`. Edit as a new version.\n"
    text = header + tomli_w.dumps(_without_none(msgspec.to_builtins(rubric)))
    try:
        again = parse_rubric(text, source=f"{rubric.id} {rubric.version}")
    except InvalidRubric as exc:
        raise CalibrationError(f"the calibrated rubric does not validate: {exc}") from exc
    if rubric_fingerprint(again) != rubric_fingerprint(rubric):
        raise CalibrationError("the calibrated rubric's TOML does not read back to the same rubric")
    return text


def write_rubric_toml(rubric: Rubric, path: Path | str) -> None:
    """Write ``rubric``'s TOML to ``path`` atomically; an existing file is never overwritten."""
    path = Path(path)
    text = rubric_toml(rubric)
    if path.exists():
        raise CalibrationError(f"{path} exists; it is not overwritten (choose a new file name)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # a rubric is a shared document, not a private temporary file
        try:
            os.link(temp, path)  # fails if the path appeared meanwhile: never a replacement
        except FileExistsError:
            raise CalibrationError(f"{path} exists; it is not overwritten (choose a new file name)") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
