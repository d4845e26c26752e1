"""Spelling correction of plain typos, so that spelling is not mistaken for attitude.

A lowercase word that is not a common English word is replaced by its most frequent
common neighbour one edit away (a swap, a missing, extra or wrong letter). Capitalised
words (names, places) and short words are left alone. Every correction is reported.
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from pathlib import Path

import msgspec

__all__ = ["COMMON_WORD_LOGPROB", "SpellingCorrector", "common_english_words"]

# Words at least this frequent (log-probability in spaCy's English lexeme table) are common English.
COMMON_WORD_LOGPROB = -15.0
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_MIN_LENGTH = 3


@cache
def common_english_words() -> dict[str, float]:
    """Frequent English words and their log-probabilities, from ``spacy-lookups-data``."""
    import spacy_lookups_data

    path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lexeme_prob.json.gz"
    with gzip.open(path, "rb") as handle:
        table: dict[str, float] = msgspec.json.decode(handle.read())
    return {word: logprob for word, logprob in table.items() if logprob >= COMMON_WORD_LOGPROB and word.islower()}


def _edits(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    inserts = {a + c + b for a, b in splits for c in _LETTERS}
    return deletes | swaps | replaces | inserts


class SpellingCorrector:
    """Corrects words one edit away from a common English word."""

    def __init__(self, frequencies: dict[str, float] | None = None) -> None:
        self.frequencies = frequencies if frequencies is not None else common_english_words()

    def word(self, word: str) -> str | None:
        """The correction of one lowercase word, or ``None`` when it needs none or has none."""
        if len(word) < _MIN_LENGTH or word in self.frequencies or not word.isalpha():
            return None
        candidates = [(self.frequencies[c], c) for c in _edits(word) if c in self.frequencies]
        return max(candidates)[1] if candidates else None

    def correct(self, text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """``text`` with typos corrected, and the ``(written, corrected)`` pairs."""
        corrections: list[tuple[str, str]] = []

        def replace(match: re.Match[str]) -> str:
            written = match.group(0)
            if not written.islower():
                return written
            fixed = self.word(written)
            if fixed is None:
                return written
            corrections.append((written, fixed))
            return fixed

        return _WORD.sub(replace, text), tuple(corrections)
