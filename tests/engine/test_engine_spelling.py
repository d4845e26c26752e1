"""The safe typo corrector: negations, contractions and real words are never turned into other words."""

from __future__ import annotations

import pytest

from screening.spelling import CONTRACTIONS, SpellingCorrector


@pytest.fixture(scope="module")
def speller() -> SpellingCorrector:
    return SpellingCorrector()


@pytest.mark.parametrize(("written", "expected"), [("dont", "don't"), ("wouldnt", "wouldn't"), ("cant", "can't")])
def test_contractions_without_apostrophe_become_the_contraction(speller, written: str, expected: str) -> None:
    text, corrections = speller.correct(f"I {written} leave her waiting")
    assert text == f"I {expected} leave her waiting"
    assert corrections == ((written, expected),)


@pytest.mark.parametrize(
    "text",
    [
        "I cannot promise that",  # cannon
        "I would never do that",
        "nothing nobody nowhere without",
        "I didn't and I won't",
        "the solute dissolved",  # a real word, not salute
        "a whorl of colour",  # a real word; its neighbour is offensive
        "Evans and McKenzie at Tesco",  # capitalised names
    ],
)
def test_negations_contractions_real_words_and_names_are_untouched(speller, text: str) -> None:
    assert speller.correct(text) == (text, ())


def test_an_ambiguous_typo_is_left_alone_unless_the_rubric_names_one_reading(speller) -> None:
    assert speller.correct("the circuts are open") == ("the circuts are open", ())
    fixed, corrections = speller.correct("the circuts are open", frozenset({"circuits"}))
    assert fixed == "the circuits are open" and corrections == (("circuts", "circuits"),)


def test_a_plain_typo_is_corrected_and_reported(speller) -> None:
    assert speller.correct("the custmer is angry") == ("the customer is angry", (("custmer", "customer"),))


def test_a_correction_never_produces_an_offensive_word(speller) -> None:
    for typo in ("whorw", "shite", "bitcj"):
        _, corrections = speller.correct(f"a {typo} here")
        assert all(c not in {"whore", "shit", "bitch"} for _, c in corrections), corrections


def test_every_contraction_keeps_its_negation() -> None:
    negated = {k: v for k, v in CONTRACTIONS.items() if k.endswith("nt")}
    assert negated and all(v.endswith("n't") for v in negated.values())
