"""Guards: answers that must go to a human instead of getting a confident score.

Text guards run before encoding (empty, not English, a keyword list, too short, copied
from the scenario); similarity guards after it (a near-copy of a reference response,
off-topic). Each returns a :class:`~screening.report.Reason` or ``None``.
"""

from __future__ import annotations

import re

import numpy as np

from screening.method import MethodConfig
from screening.prepared import PreparedQuestion
from screening.report import Reason
from screening.text import TextAnalysis, ngram_overlap

__all__ = ["FUNCTION_WORDS", "NO_BEHAVIOUR", "UNSCORABLE", "non_answer", "similarity_guards", "text_guards"]

# Reasons after which no level is computed at all (there is nothing to compare).
UNSCORABLE = frozenset({"empty", "not_english", "non_answer"})
# Reasons that mean the answer describes no behaviour at all: it is held at the scale's minimum.
NO_BEHAVIOUR = frozenset({"keyword_list"})

# Words that carry grammar: prose has many of them, a list of keywords almost none.
FUNCTION_WORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "us",
        "our",
        "you",
        "your",
        "he",
        "him",
        "his",
        "she",
        "her",
        "they",
        "them",
        "their",
        "it",
        "its",
        "the",
        "a",
        "an",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "and",
        "or",
        "but",
        "so",
        "if",
        "then",
        "that",
        "this",
        "would",
        "will",
        "'d",
        "'ll",
        "can",
        "could",
        "should",
        "is",
        "are",
        "was",
        "be",
        "been",
        "am",
        "do",
        "did",
        "have",
        "has",
        "had",
        "not",
        "n't",
    ]
)


# Whole answers that say the candidate has no answer.
_NON_ANSWER = re.compile(
    r"^(i )?(really )?(do ?n[o']?t|dont) know|^no (idea|clue|comment)|^(i'?m )?not sure|^dunno|^idk|^pass$|^n/?a$"
    r"|^nothing$|^(i )?(can'?t|cannot) (say|answer)|^(i )?have no (idea|clue)"
)
NON_ANSWER_MAX_WORDS = 8
RIGHT_QUOTE = chr(0x2019)


def non_answer(analysis: TextAnalysis) -> bool:
    """Whether the answer only says the candidate has no answer ("I don't know", "no idea")."""
    text = " ".join(analysis.text.lower().replace(RIGHT_QUOTE, "'").split()).strip(" .!?")
    return analysis.word_count <= NON_ANSWER_MAX_WORDS and bool(_NON_ANSWER.search(text))


def text_guards(analysis: TextAnalysis, question: PreparedQuestion, config: MethodConfig) -> list[Reason]:
    """Guards that need only the text: at most the first reason that applies, most basic first."""
    qid = question.question_id
    if not analysis.text.strip() or analysis.word_count == 0:
        return [Reason(code="empty", detail="The answer is empty.", question_id=qid)]
    if not analysis.looks_english:
        return [
            Reason(
                code="not_english",
                detail=f"Only {analysis.english_share:.0%} of the words look English; "
                "the answer may be in another language or gibberish.",
                question_id=qid,
            )
        ]
    if non_answer(analysis):
        return [Reason(code="non_answer", detail="The answer says the candidate has no answer.", question_id=qid)]
    reasons: list[Reason] = []
    function_share = sum(1 for w in analysis.lemmas if w in FUNCTION_WORDS) / max(len(analysis.lemmas), 1)
    if analysis.word_count >= 3 and function_share < config.keyword_list_function_share:
        reasons.append(
            Reason(code="keyword_list", detail="The answer reads as a list of words, not sentences.", question_id=qid)
        )
    if analysis.word_count < config.min_words:
        reasons.append(
            Reason(
                code="too_short",
                detail=f"{analysis.word_count} word(s); at least {config.min_words} are needed to judge.",
                question_id=qid,
            )
        )
    overlap = ngram_overlap(analysis.lemmas, question.prompt_lemmas)
    if overlap >= config.scenario_overlap:
        reasons.append(
            Reason(
                code="copied_from_scenario",
                detail=f"{overlap:.0%} of the answer's word sequences repeat the scenario text.",
                question_id=qid,
            )
        )
    return reasons


def similarity_guards(
    analysis: TextAnalysis,
    answer_embedding: np.ndarray,
    relevance: float,
    question: PreparedQuestion,
    config: MethodConfig,
) -> list[Reason]:
    """Guards that need the answer's embedding: near-copies of a reference, off-topic answers."""
    qid = question.question_id
    reasons: list[Reason] = []
    refs = question.all_references
    if len(refs.texts):
        similarities = refs.embeddings @ answer_embedding
        best = int(np.argmax(similarities))
        # How much of each reference reappears in the answer (a copy with padding still counts).
        overlaps = [ngram_overlap(lemmas, analysis.lemmas) for lemmas in question.reference_lemmas]
        most = int(np.argmax(overlaps))
        copied_text = analysis.word_count >= config.min_words and overlaps[most] >= config.copied_text_overlap
        if similarities[best] >= config.copied_reference_similarity or copied_text:
            index = most if copied_text else best
            reasons.append(
                Reason(
                    code="copied_reference",
                    detail=f"The answer is a near-copy of a level-{int(refs.levels[index])} reference response "
                    f"(similarity {float(similarities[index]):.2f}, {overlaps[index]:.0%} of its word sequences reused).",
                    question_id=qid,
                )
            )
    floor = question.off_topic_floor(config)
    if relevance < floor:
        reasons.append(
            Reason(
                code="off_topic",
                detail=f"No sentence is close to any reference response for this question "
                f"(best similarity {relevance:.2f}, below {floor:.2f}, half the similarity its references have to each other).",
                question_id=qid,
            )
        )
    return reasons
