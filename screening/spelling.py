"""Safe correction of plain typos, so that spelling is not mistaken for attitude.

A correction that removes a negation or puts an offensive word into a hiring report is
worse than none, so the corrector is conservative:

- contractions written without an apostrophe (``dont``, ``cant``, ``wouldnt``) become the
  contraction (``don't``), never another word; negation words and words with an
  apostrophe are never touched;
- only a lowercase word of four letters or more that no dictionary knows is corrected: the
  82,765-word frequency dictionary of ``symspellpy``, spaCy's English lexicon, and the
  rubric's own words (``protected``);
- the correction is one edit away (symspellpy), starts with the same letter, is common
  (or a word of the rubric), is not on the blocklist of offensive words, and is the clear
  favourite: when two candidates are about as frequent and the rubric names neither,
  nothing is corrected (``circuts`` is not turned into ``circus``).

Every correction is reported.
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from importlib.resources import files
from pathlib import Path

import msgspec

__all__ = ["COMMON_WORD_LOGPROB", "CONTRACTIONS", "SpellingCorrector", "common_english_words"]

# Words at least this frequent (log-probability in spaCy's English lexeme table) are common English.
COMMON_WORD_LOGPROB = -15.0
# symspellpy counts: a correction must be at least this frequent unless the rubric uses it.
_COMMON_COUNT = 1_000_000
# A correction must be this many times more frequent than the runner-up.
_CLEAR_FAVOURITE = 3.0
_MIN_LENGTH = 4
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
CONTRACTIONS = {
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "cant": "can't",
    "couldnt": "couldn't",
    "wont": "won't",
    "wouldnt": "wouldn't",
    "shouldnt": "shouldn't",
    "isnt": "isn't",
    "arent": "aren't",
    "wasnt": "wasn't",
    "werent": "weren't",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hadnt": "hadn't",
    "mustnt": "mustn't",
    "neednt": "needn't",
    "im": "I'm",
    "ive": "I've",
    "youre": "you're",
    "theyre": "they're",
    "thats": "that's",
    "theres": "there's",
    "whats": "what's",
}
_NEVER_TOUCHED = frozenset(
    {"not", "never", "no", "nobody", "nothing", "nowhere", "neither", "nor", "none", "without", "cannot", "nope"}
)
# Offensive words: never produced by a correction (the written word is kept instead).
_BLOCKLIST = frozenset(
    {
        "whore", "slut", "bitch", "bastard", "cunt", "fuck", "fucking", "shit", "dick", "cock", "pussy",
        "nigger", "nigga", "fag", "faggot", "retard", "retarded", "rape", "rapist", "twat", "wanker", "arse",
        "ass", "asshole", "piss", "crap", "tits", "boob", "boobs", "spic", "kike", "chink", "dyke", "tranny",
        "porn", "sex", "sexy", "nazi", "hell", "damn", "idiot", "moron", "stupid", "kill", "dead", "die",
    }
)  # fmt: skip


@cache
def common_english_words() -> dict[str, float]:
    """Frequent English words and their log-probabilities, from ``spacy-lookups-data``."""
    import spacy_lookups_data

    path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lexeme_prob.json.gz"
    with gzip.open(path, "rb") as handle:
        table: dict[str, float] = msgspec.json.decode(handle.read())
    return {word: logprob for word, logprob in table.items() if logprob >= COMMON_WORD_LOGPROB and word.islower()}


@cache
def _symspell():  # -> symspellpy.SymSpell
    from symspellpy import SymSpell

    speller = SymSpell(max_dictionary_edit_distance=1, prefix_length=7)
    dictionary = files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    speller.load_dictionary(str(dictionary), term_index=0, count_index=1)
    return speller


class SpellingCorrector:
    """Corrects plain typos one edit away from a known, common, safe word."""

    def __init__(self) -> None:
        self._speller = _symspell()
        self._known = frozenset(common_english_words()) | frozenset(self._speller.words)

    def word(self, word: str, protected: frozenset[str] = frozenset()) -> str | None:
        """The correction of one lowercase word, or ``None`` when it needs none or has no safe one."""
        if word in CONTRACTIONS:
            return CONTRACTIONS[word]
        if (
            len(word) < _MIN_LENGTH
            or not word.isalpha()
            or word in _NEVER_TOUCHED
            or word in self._known
            or word in protected
        ):
            return None
        from symspellpy import Verbosity

        suggestions = self._speller.lookup(word, Verbosity.ALL, max_edit_distance=1, transfer_casing=False)
        candidates = sorted(
            (
                (s.term in protected, s.count, s.term)
                for s in suggestions
                if s.term != word
                and s.term[0] == word[0]
                and s.term not in _BLOCKLIST
                and (s.count >= _COMMON_COUNT or s.term in protected)
            ),
            reverse=True,
        )
        if not candidates:
            return None
        best = candidates[0]
        if len(candidates) > 1 and candidates[1][0] == best[0] and best[1] < _CLEAR_FAVOURITE * candidates[1][1]:
            return None  # two plausible words: guessing could change the meaning
        return best[2]

    def correct(self, text: str, protected: frozenset[str] = frozenset()) -> tuple[str, tuple[tuple[str, str], ...]]:
        """``text`` with typos corrected, and the ``(written, corrected)`` pairs."""
        corrections: list[tuple[str, str]] = []

        def replace(match: re.Match[str]) -> str:
            written = match.group(0)
            if not written.islower() or "'" in written:
                return written
            fixed = self.word(written, protected)
            if fixed is None:
                return written
            corrections.append((written, fixed))
            return fixed

        return _WORD.sub(replace, text), tuple(corrections)
