"""Style and negation variants of reference responses, for fitting (never for scoring).

The behaviour encoder's fine-tune learns from them that filler, politeness, typos and a
restated scenario do not change a level, and that denying a strong answer's actions
mirrors it. (Fitting the stacked model on negated variants as well was measured: it
compressed the levels and cost 0.13 Spearman on the independent set, so it is not done.)
"""

from __future__ import annotations

import random
import re

__all__ = ["FILLER", "negate_actions", "restated_scenario", "with_typos"]

# Generic filler: politeness formulas and statements of values that describe no action.
FILLER = (
    "Thank you so much for your patience, I really appreciate it.",
    "I always believe that people come first in everything I do.",
    "Honestly, this kind of situation happens sometimes.",
    "I would sincerely apologise for any inconvenience caused.",
    "I think good communication is the key to everything.",
    "Everyone deserves to be treated well, that is one of my personal values.",
)
_NEGATABLE = re.compile(r"\b(I'd|I would|I will|I'll)\s+(?!not\b|never\b)")
_NEGATED = {"I'd": "I wouldn't ", "I would": "I would not ", "I will": "I will not ", "I'll": "I won't "}


def with_typos(text: str, rng: random.Random) -> str:
    """``text`` with about one word in eight misspelt by a swap, and apostrophes dropped."""
    words = text.split()
    for _ in range(max(1, len(words) // 8)):
        index = rng.randrange(len(words))
        word = words[index]
        if len(word) > 3 and word.isalpha():
            j = rng.randrange(len(word) - 1)
            words[index] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words).replace("n't", "nt").replace("'", "")


def negate_actions(text: str, limit: int = 2) -> str | None:
    """The first ``limit`` (0: every) first-person actions denied ("I'd call her" -> "I wouldn't call her"), or ``None``."""
    changed, count = _NEGATABLE.subn(lambda m: _NEGATED[m.group(1)], text, count=limit)
    return changed if count else None


def restated_scenario(prompt: str) -> str:
    """The prompt's situation without its closing question, as a candidate would restate it."""
    sentences = [p.strip() for p in re.split(r"(?<=[.!?])\s+", prompt) if p.strip() and not p.strip().endswith("?")]
    text = " ".join(sentences)
    return text[:1].lower() + text[1:] if text else ""
