"""Behaviour tests in the spirit of CheckList, with the real model and real spaCy.

Answers are written here for questions of the default rubric (1-5 scale). Expected
behaviour is stated relative to another score (negation, padding, typos) or to the
scale (keyword lists, paraphrases of level-5 references), never as a hard-coded level.
"""

from __future__ import annotations

import random
import re

import pytest

from screening.paths import builtin_rubrics_dir
from screening.report import Answer, AnswerReport, CandidateAnswers
from screening.rubric import load_rubric

# (question id, strong answer, the same answer negated sentence by sentence)
STRONG_AND_NEGATED = {
    "broken-gift": (
        "I'd apologise straight away and tell her I'll handle it myself from start to finish. "
        "I would call our courier and book a replacement on same-day delivery so it reaches her before the party. "
        "I'd give her my direct number and ring her back personally once it's delivered.",
        "I wouldn't apologise and I wouldn't handle it myself. "
        "I would not call our courier or book a replacement on same-day delivery. "
        "I'd never give her my direct number and I would not ring her back.",
    ),
    "wrong-item-shipped": (
        "I would tell my supervisor straight away that I packed it wrong. "
        "I'd pack the right item myself and get it on today's express van. "
        "I would ask customer service to call the customer before the parcel arrives and apologise honestly.",
        "I would not tell my supervisor that I packed it wrong. "
        "I'd never pack the right item myself or get it on today's express van. "
        "I would not ask customer service to call the customer before the parcel arrives.",
    ),
    "missed-callback": (
        "I would call the customer at 3pm as promised and honestly tell them finance hasn't answered yet. "
        "I'd chase finance in person until I have the answer. "
        "I would ring the customer back myself the moment it's sorted and check the refund has reached them.",
        "I would not call the customer at 3pm as promised or tell them finance hasn't answered yet. "
        "I'd never chase finance in person. "
        "I would not ring the customer back myself or check the refund has reached them.",
    ),
    "sales-needs-figures": (
        "I would put my own work aside and pull the figures together for them straight away. "
        "I'd double-check the numbers, send them well before the meeting and offer to be on hand if the client asks anything.",
        "I would not put my own work aside or pull the figures together for them. "
        "I'd never double-check the numbers or send them before the meeting, and I would not offer to be on hand.",
    ),
    "invoice-query-in-accounts": (
        "I'd tell them I'm happy to help even though I'm in accounts. "
        "I would look up the invoice myself, correct the mistake while they're on the phone and email them the new copy. "
        "I'd call them a few days later to make sure everything is settled.",
        "I wouldn't tell them I'm happy to help, because I'm in accounts. "
        "I would not look up the invoice myself or correct the mistake while they're on the phone. "
        "I'd never call them a few days later to make sure everything is settled.",
    ),
    "hotel-room-given-away": (
        "I'd apologise sincerely and tell the guest this is our mistake and I will sort it out myself. "
        "I would find them a room tonight, either with us or at a good hotel nearby at our cost, and book a taxi to take them there. "
        "I'd call them in the morning to check they slept well and offer them their original room back.",
        "I wouldn't apologise or tell the guest this is our mistake, and I will not sort it out myself. "
        "I would not find them a room tonight or book a taxi to take them anywhere. "
        "I'd never call them in the morning to check they slept well.",
    ),
}
STRONG = {q: pair[0] for q, pair in STRONG_AND_NEGATED.items()}

# Known misses of the method, kept visible (strict: they fail loudly once the engine gets them right).
# Method v2 (stacked levels on the behaviour encoder) reads empathy from attention to the
# person's feelings, which this "strong" answer barely shows: strong on ownership, not on
# every dimension.
LITTLE_EMPATHY = pytest.mark.xfail(
    strict=True, reason="known miss (v2): the strong answer shows little attention to feelings; empathy reads ~2.7"
)
INVOICE_BORDERLINE = pytest.mark.xfail(
    strict=True,
    reason="known miss (v2): 'happy to help even though I'm in accounts' reads as borderline ownership (3.49)",
)
INVOICE_OWNERSHIP = pytest.mark.xfail(
    strict=True,
    reason="known miss (v2): typos in the invoice answer ('etll', 'tehm') move ownership by over half a level",
)


def known_misses(values: list[str], misses: dict[str, pytest.MarkDecorator]) -> list[object]:
    """Parameters with the documented known misses marked."""
    return [pytest.param(v, marks=misses[v]) if v in misses else v for v in values]


UNRELATED = (
    " In my free time I enjoy hiking and baking bread with my two children. The weather has been lovely this week,"
    " sunny and warm, so we had a picnic in the park.",
    " My favourite film is an old science fiction classic. I also play the guitar in a small band on Friday nights.",
)

KEYWORD_LISTS = (
    "ownership empathy customer first teamwork",
    "responsibility care service excellence teamwork honesty",
    "customer satisfaction ownership follow up empathy",
)

# (question, dimension, a paraphrase, in other words, of one of its level-5 references)
PARAPHRASES = [
    (
        "broken-gift",
        "ownership",
        # "I'd tell her I'm dealing with it myself, get a replacement booked on a same-day courier,
        #  and ring her back personally this afternoon to confirm it's on its way."
        "I would let her know that I'm personally taking care of this. I'll arrange for a new one to be sent by "
        "express courier today, and I'll phone her myself later this afternoon to confirm the delivery is on the way.",
    ),
    (
        "missed-callback",
        "sincerity",
        # "I'd ring them on time and tell them the truth: no decision yet, I'm sorry, and I'll call again at a time we agree."
        "At three o'clock I would phone them as promised and be honest that finance hasn't decided yet. "
        "I'd apologise and agree with them on a time when I'll call again.",
    ),
    (
        "wrong-item-shipped",
        "sincerity",
        # "I'd admit it openly to my supervisor rather than waiting to see if anyone notices, and explain exactly what went wrong."
        "I would own up to my manager right away instead of hoping nobody spots it, and be clear about exactly how "
        "the mistake happened.",
    ),
    (
        "invoice-query-in-accounts",
        "service-mindset",
        # "I'd say I'm in accounts but I'll gladly help, and sort out the invoice with them myself.
        #  Anyone who rings us is my customer too."
        "Even though I work in the finance team, I would happily deal with their query and fix the invoice myself. "
        "Whoever calls the company is my customer as well.",
    ),
    (
        "sales-needs-figures",
        "internal-customers",
        # "I'd treat it like a customer request: find out exactly what they need, get the figures over
        #  within the hour and show them where to find them next time."
        "I would handle my colleague like a client: ask precisely which numbers they need, send them across in "
        "less than an hour, and show them how to pull the data themselves in future.",
    ),
]

FOOTBALL = (
    "Last weekend my team won the league match three nil. The striker scored twice in the first half "
    "and the fans sang all the way home from the stadium."
)
NOT_MY_JOB = "That's not my job, I'd tell them to ring the other department."


def levels(report: AnswerReport) -> dict[str, float | None]:
    return {d.dimension_id: d.level for d in report.dimensions}


def reason_codes(report: AnswerReport) -> list[str]:
    return [r.code for r in report.reasons]


def add_typos(text: str, seed: int) -> str:
    """Swap two adjacent letters in every 10th word of at least 4 letters (seeded offset and position)."""
    rng = random.Random(seed)
    words = text.split(" ")
    eligible = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 4]
    offset = rng.randrange(min(10, len(eligible)))
    for k, i in enumerate(eligible):
        if k % 10 != offset:
            continue
        word = words[i]
        spots = [
            j for j in range(len(word) - 1) if word[j].isalpha() and word[j + 1].isalpha() and word[j] != word[j + 1]
        ]
        j = rng.choice(spots)
        words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def test_add_typos_changes_about_one_word_in_ten() -> None:
    text = STRONG["broken-gift"]
    typed = add_typos(text, seed=1)
    assert typed != text
    changed = sum(a != b for a, b in zip(text.split(" "), typed.split(" "), strict=True))
    long_words = sum(1 for w in text.split(" ") if sum(c.isalpha() for c in w) >= 4)
    assert 1 <= changed <= long_words // 10 + 1
    assert add_typos(text, seed=1) == typed  # seeded


# ---------------------------------------------------------------- baseline


@pytest.mark.parametrize("question", list(STRONG))
def test_strong_answer_is_scored_without_reasons(score_answer, question: str) -> None:
    report = score_answer(question, STRONG[question])
    assert report.status == "scored", report.reasons
    assert report.reasons == ()
    assert all(level is not None for level in levels(report).values())


@pytest.mark.parametrize(
    "question",
    known_misses(
        list(STRONG),
        {"broken-gift": LITTLE_EMPATHY, "invoice-query-in-accounts": INVOICE_BORDERLINE},
    ),
)
def test_strong_answer_lands_in_the_top_two_levels(score_answer, default_rubric, question: str) -> None:
    report = score_answer(question, STRONG[question])
    low = {d: lv for d, lv in levels(report).items() if lv is None or lv < 3.5}
    assert not low, f"{question}: dimensions below 3.5 for a strong answer: {low}"


# ---------------------------------------------------------------- negation


@pytest.mark.parametrize(
    "question",
    known_misses(
        list(STRONG_AND_NEGATED),
        {"broken-gift": LITTLE_EMPATHY},
    ),
)
def test_negating_a_strong_answer_lowers_every_dimension_by_a_level(score_answer, question: str) -> None:
    strong, negated = STRONG_AND_NEGATED[question]
    before, after = levels(score_answer(question, strong)), levels(score_answer(question, negated))
    drops = {d: round(before[d] - after[d], 2) for d in before}
    short = {d: drop for d, drop in drops.items() if drop < 1.0}
    assert not short, f"{question}: drops below one level: {short} (strong {before}, negated {after})"


@pytest.mark.parametrize("question", list(STRONG_AND_NEGATED))
def test_negated_strong_sentences_show_up_in_negations(score_answer, question: str) -> None:
    negated = STRONG_AND_NEGATED[question][1]
    report = score_answer(question, negated)
    hits = [hit for d in report.dimensions for hit in d.negations]
    assert hits, f"{question}: no dimension lists a negation for {negated!r}"
    for hit in hits:
        assert hit.text in negated
        assert hit.cues and all(cue.lower() in hit.text.lower() for cue in hit.cues)
        assert hit.level_given <= hit.level_as_matched
        assert hit.reference.text


# ---------------------------------------------------------------- invariance


PADDING_MISS = pytest.mark.xfail(
    strict=True,
    reason="known miss (v2): the hobbies padding lifts one dimension by 0.6-0.8 (shared ridge reads length)",
)


@pytest.mark.parametrize(
    ("question", "extra"),
    [
        pytest.param(
            q,
            e,
            id=f"{name}-{q}",
            marks=[PADDING_MISS] if (q, e) in {("broken-gift", 0), ("hotel-room-given-away", 0)} else [],
        )
        for e, name in enumerate(["hobbies", "film-and-band"])
        for q in STRONG
    ],
)
def test_appending_unrelated_text_barely_moves_a_level(score_answer, question: str, extra: int) -> None:
    before = levels(score_answer(question, STRONG[question]))
    after = levels(score_answer(question, STRONG[question] + UNRELATED[extra]))
    moved = {d: round(abs(after[d] - before[d]), 2) for d in before}
    assert all(m < 0.5 for m in moved.values()), f"{question}: moved {moved} (before {before}, after {after})"


@pytest.mark.parametrize("question", known_misses(list(STRONG), {"invoice-query-in-accounts": INVOICE_OWNERSHIP}))
def test_typos_in_one_word_in_ten_barely_move_a_level(score_answer, question: str) -> None:
    seed = sorted(STRONG).index(question)
    typed = add_typos(STRONG[question], seed)
    assert typed != STRONG[question]
    before, after = levels(score_answer(question, STRONG[question])), levels(score_answer(question, typed))
    moved = {d: round(abs(after[d] - before[d]), 2) for d in before}
    assert all(m < 0.5 for m in moved.values()), f"{question}: moved {moved} for {typed!r}"


# ---------------------------------------------------------------- keyword lists, paraphrases, copies


@pytest.mark.parametrize(
    "keywords", KEYWORD_LISTS, ids=["ownership-empathy", "responsibility-care", "satisfaction-follow-up"]
)
@pytest.mark.parametrize(
    "question", ["broken-gift", "wrong-item-shipped", "sales-needs-figures", "invoice-query-in-accounts"]
)
def test_a_keyword_list_is_flagged_and_not_scored_above_the_midpoint(
    score_answer, default_rubric, question: str, keywords: str
) -> None:
    report = score_answer(question, keywords)
    assert report.status == "needs_review"
    assert any(r.code == "keyword_list" and r.question_id == question for r in report.reasons), report.reasons
    midpoint = default_rubric.scale.midpoint
    high = {d: lv for d, lv in levels(report).items() if lv is not None and lv > midpoint}
    assert not high, f"{question}: {keywords!r} scored above {midpoint} on {high}"


@pytest.mark.parametrize(
    ("question", "dimension", "paraphrase"),
    [
        pytest.param(
            *p,
            id=f"{p[0]}/{p[1]}",
        )
        for p in PARAPHRASES
    ],
)
def test_a_paraphrase_of_a_level_5_reference_lands_in_the_top_two_levels(
    score_answer, default_rubric, question: str, dimension: str, paraphrase: str
) -> None:
    top = [r.text for r in default_rubric.references_for(question, dimension) if r.level == default_rubric.scale.max]
    assert top and paraphrase not in top
    report = score_answer(question, paraphrase)
    level = levels(report)[dimension]
    assert level is not None and level >= 3.5, f"{question}/{dimension}: paraphrase scored {level}"
    assert not any(r.code == "copied_reference" for r in report.reasons), "a paraphrase is not a copy"


def _verbatim_cases() -> list:
    """One reference per question of the default rubric, at level 5, 1 or 3 in turn."""
    rubric = load_rubric(builtin_rubrics_dir() / "customer-service-attitude.toml")
    cases = []
    for index, question in enumerate(rubric.questions):
        level = (5, 1, 3)[index % 3]
        ref = next(r for r in rubric.references if r.question == question.id and r.level == level)
        cases.append(pytest.param(ref.question, ref.text, id=f"{ref.question}/{ref.dimension}/{ref.level}"))
    return cases


@pytest.mark.parametrize(("question", "text"), _verbatim_cases())
def test_a_verbatim_reference_response_is_flagged_as_copied(score_answer, question: str, text: str) -> None:
    report = score_answer(question, text)
    assert report.status == "needs_review"
    assert any(r.code == "copied_reference" and r.question_id == question for r in report.reasons), report.reasons


# ---------------------------------------------------------------- guards


GUARD_CASES = [
    ("broken-gift", "", "empty"),
    ("missed-callback", "   \n\t ", "empty"),
    ("broken-gift", "asdf qwer zxcv", "not_english"),
    ("wrong-item-shipped", "asdf qwer zxcv uiop hjkl vbnm", "not_english"),
    (
        "broken-gift",
        "Je m'excuserais auprès de la cliente et je lui enverrais un nouveau cadeau par coursier aujourd'hui même.",
        "not_english",
    ),
    (
        "missed-callback",
        "J'appellerais le client à quinze heures comme promis et je lui dirais honnêtement que nous n'avons pas encore de réponse.",
        "not_english",
    ),
    (
        "broken-gift",
        "Ich würde mich bei der Kundin entschuldigen und ihr noch heute ein neues Geschenk per Kurier schicken.",
        "not_english",
    ),
    (
        "sales-needs-figures",
        "Ich würde meine eigene Arbeit kurz liegen lassen und dem Kollegen die Zahlen vor dem Termin schicken.",
        "not_english",
    ),
    ("broken-gift", "Refund her immediately.", "too_short"),
    ("missed-callback", "I'd call back.", "too_short"),
    ("sales-needs-figures", "Sure, happy helping.", "too_short"),
]


@pytest.mark.parametrize(
    ("question", "text", "code"), GUARD_CASES, ids=[f"{c}-{i}" for i, (_, _, c) in enumerate(GUARD_CASES)]
)
def test_guards_flag_unusable_answers_with_the_question_id(score_answer, question: str, text: str, code: str) -> None:
    report = score_answer(question, text)
    assert report.status == "needs_review"
    assert any(r.code == code and r.question_id == question for r in report.reasons), report.reasons
    assert all(r.detail for r in report.reasons)


@pytest.mark.parametrize(
    "question", ["broken-gift", "missed-callback", "gift-exchange-at-till", "new-colleague-questions"]
)
def test_an_answer_that_copies_the_scenario_is_flagged(score_answer, default_rubric, question: str) -> None:
    prompt = default_rubric.question(question).prompt
    first_sentences = re.split(r"(?<=[.!?])\s+", prompt)
    copied = " ".join(first_sentences[:-1]) if len(first_sentences) > 1 else prompt  # drop "What do you do?"
    for text in (prompt, copied):
        report = score_answer(question, text)
        assert report.status == "needs_review"
        assert any(r.code == "copied_from_scenario" and r.question_id == question for r in report.reasons), (
            text,
            report.reasons,
        )


@pytest.mark.parametrize("question", list(STRONG))
def test_an_answer_about_football_is_off_topic(score_answer, question: str) -> None:
    report = score_answer(question, FOOTBALL)
    assert report.status == "needs_review", f"{question}: scored {levels(report)} with no reason"
    assert any(r.code == "off_topic" and r.question_id == question for r in report.reasons), (
        report.reasons,
        levels(report),
    )


def test_unscorable_answers_get_no_level(score_answer) -> None:
    for text in ("", "asdf qwer zxcv"):
        report = score_answer("broken-gift", text)
        assert [d.level for d in report.dimensions] == [None] * len(report.dimensions)
        assert all(d.confidence == 0.0 for d in report.dimensions)


def test_flagged_answers_do_not_count_towards_the_candidate_levels(score_candidate) -> None:
    candidate = CandidateAnswers(
        candidate_id="mixed",
        answers=(
            Answer(question_id="broken-gift", text=STRONG["broken-gift"]),
            Answer(question_id="missed-callback", text=FOOTBALL),
            Answer(question_id="wrong-item-shipped", text=""),
        ),
    )
    report = score_candidate(candidate)
    assert report.status == "needs_review"
    codes = {(r.code, r.question_id) for r in report.reasons}
    assert ("off_topic", "missed-callback") in codes
    assert ("empty", "wrong-item-shipped") in codes
    assert any(r.code == "unanswered" for r in report.reasons)
    ownership = next(d for d in report.dimensions if d.dimension_id == "ownership")
    assert ownership.answers_scored == 1  # only broken-gift's answer counts
    broken_gift = next(a for a in report.answers if a.question_id == "broken-gift")
    assert ownership.level == next(d.level for d in broken_gift.dimensions if d.dimension_id == "ownership")
    off_topic = next(a for a in report.answers if a.question_id == "missed-callback")
    assert off_topic.outcome == "off_topic"
    assert all(d.provisional and d.confidence == 0.0 for d in off_topic.dimensions), "a flagged level is provisional"
    assert not any(d.provisional for d in broken_gift.dimensions)


# ---------------------------------------------------------------- explanation


@pytest.mark.parametrize("question", list(STRONG))
def test_every_scored_dimension_is_explained(score_answer, default_rubric, question: str) -> None:
    for text in STRONG_AND_NEGATED[question]:
        report = score_answer(question, text)
        assert report.status == "scored", report.reasons
        scale = default_rubric.scale
        for dim in report.dimensions:
            refs = {r.text: r.level for r in default_rubric.references_for(question, dim.dimension_id)}
            assert dim.level is not None and scale.min <= dim.level <= scale.max
            assert dim.label in scale.labels
            assert dim.rationale.strip() and default_rubric.dimension(dim.dimension_id).name in dim.rationale
            assert dim.evidence, f"{question}/{dim.dimension_id}: no evidence"
            for ev in dim.evidence:
                assert ev.text.strip() and ev.text in text
                assert ev.matches
                for match in ev.matches:
                    assert refs.get(match.text) == match.level, (
                        "a match must be a reference of this question and dimension"
                    )
                    assert -1.0 <= match.similarity <= 1.0
                sims = [m.similarity for m in ev.matches]
                assert sims == sorted(sims, reverse=True)


@pytest.mark.parametrize(
    "question",
    ["broken-gift", "other-department-mistake", "invoice-query-in-accounts", "missed-callback", "wrong-item-shipped"],
)
def test_not_my_job_fires_a_red_flag_or_a_low_ownership_level(score_answer, question: str) -> None:
    report = score_answer(question, NOT_MY_JOB)
    ownership = next(d for d in report.dimensions if d.dimension_id == "ownership")
    assert ownership.red_flags or (ownership.level is not None and ownership.level <= 2.0), ownership
    for flag in ownership.red_flags:
        assert flag.text in NOT_MY_JOB and flag.example
    assert report.deflection_cues, "'not my job' and 'tell them to ring' are deflection cues"
