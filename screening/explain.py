"""Plain-language rationales a recruiter can read, kept apart from the scoring itself."""

from __future__ import annotations

from collections.abc import Sequence

from screening.report import Evidence, NegationHit, RedFlagHit
from screening.rubric import Scale

__all__ = ["rationale", "shorten"]


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def rationale(
    dimension_name: str,
    level: float,
    scale: Scale,
    evidence: Sequence[Evidence],
    negations: Sequence[NegationHit],
    red_flags: Sequence[RedFlagHit],
) -> str:
    """One line: the level and label, the sentence that carried it, and what pulled it down."""
    parts = [f"{dimension_name} {level:.1f} of {scale.max} ({scale.label(level)})"]
    if evidence:
        top = evidence[0]
        where = "the whole answer" if top.sentence_index is None else f'"{shorten(top.text)}"'
        if top.matches:
            parts.append(f"carried by {where}, closest to level-{top.matches[0].level} reference responses")
        else:
            parts.append(f"carried by {where}")
    if negations:
        parts.append(f"{len(negations)} sentence(s) deny a good behaviour and earned no credit for it")
    if red_flags:
        parts.append(f'red flag: "{shorten(red_flags[0].text, 60)}" resembles "{shorten(red_flags[0].example, 60)}"')
    return "; ".join(parts) + "."
