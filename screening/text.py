"""Text analysis with spaCy: sentences, negation and its scope, deflection and agency cues,
and quality signals (word count, English or not, overlap with a source text).

Built on ``spacy.blank("en")`` with the sentencizer, the lookup lemmatizer from
``spacy-lookups-data`` and ``Matcher`` rules, or on a trained English pipeline when one is
installed and named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cached_property

import msgspec
import spacy
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span, Token

from screening.spelling import SpellingCorrector, common_english_words

__all__ = ["SentenceAnalysis", "TextAnalysis", "TextAnalyzer", "lower_words", "ngram_overlap"]

NEGATION_WORDS = frozenset(
    {"not", "n't", "never", "no", "nobody", "nothing", "nowhere", "neither", "nor", "none", "without", "cannot"}
)
_ALPHA_WORD = re.compile(r"[^\W\d_]+")
# Words that end a negation's scope: clause punctuation and contrastive or coordinating links.
SCOPE_BREAKERS = frozenset(
    {
        ",",
        ";",
        ":",
        "but",
        "instead",
        "rather",
        "however",
        "although",
        "though",
        "because",
        "so",
        "and",
        "then",
        "unless",
    }
)
FIRST_PERSON = frozenset({"i", "we", "i'd", "i'll", "i'm"})
# Words that may stand between a clause's start and its negation cue when the subject is left out.
CLAUSE_LEAD_WORDS = frozenset(
    {
        "would",
        "'d",
        "will",
        "'ll",
        "do",
        "did",
        "does",
        "could",
        "should",
        "can",
        "ca",
        "wo",
        "also",
        "then",
        "just",
        "really",
        "definitely",
        "certainly",
        "absolutely",
        "simply",
        "still",
        "and",
        "but",
        "or",
        "so",
        "has",
        "have",
        "had",
        "is",
        "are",
        "was",
        "were",
        "am",
        "be",
        "'s",
        "'re",
        "'ve",
        "'m",
        "might",
        "must",
        "shall",
        "sha",
    }
)
# Phrases with a negation word that do not negate anything.
PSEUDO_NEGATIONS = (
    [{"LOWER": "not"}, {"LOWER": {"IN": ["only", "just", "merely"]}}],
    [{"LOWER": "no"}, {"LOWER": {"IN": ["matter", "doubt", "problem", "worries", "hesitation"]}}],
    [{"LOWER": {"IN": ["n't", "not", "never"]}}, {"LOWER": {"IN": ["hesitate", "mind", "worry"]}}],
    [{"LOWER": "never"}, {"LOWER": "mind"}],
    [{"LOWER": "without"}, {"LOWER": {"IN": ["delay", "fail", "hesitation", "question"]}}],
)
DEFLECTION_PATTERNS = (
    [
        {"LOWER": "not"},
        {"LOWER": {"IN": ["my", "our"]}},
        {"LEMMA": {"IN": ["job", "department", "problem", "responsibility", "fault", "role", "area", "concern"]}},
    ],
    [
        {"LEMMA": {"IN": ["transfer", "pass", "refer", "send", "direct", "redirect", "forward"]}},
        {"LOWER": {"IN": ["them", "him", "her", "it", "the"]}},
        {"OP": "?"},
        {"LOWER": {"IN": ["to", "on", "over"]}},
    ],
    [
        {"LEMMA": {"IN": ["tell", "ask", "advise"]}},
        {"LOWER": {"IN": ["them", "him", "her"]}},
        {"LOWER": "to"},
        {"LEMMA": {"IN": ["call", "ring", "contact", "email", "go", "come", "wait", "try", "phone"]}},
    ],
    [{"LOWER": {"IN": ["someone", "somebody"]}}, {"LOWER": "else"}],
    [
        {"LEMMA": {"IN": ["be"]}},
        {"LOWER": "up"},
        {"LOWER": "to"},
        {"LOWER": {"IN": ["them", "him", "her", "the", "customer"]}},
    ],
    [{"LOWER": "nothing"}, {"LOWER": "i"}, {"LOWER": {"IN": ["can", "could"]}}, {"LEMMA": "do"}],
    [{"LOWER": {"IN": ["their", "his", "her", "your"]}}, {"LEMMA": {"IN": ["fault", "problem"]}}],
    [{"LOWER": {"IN": ["company", "store", "bank"]}}, {"LEMMA": "policy"}],
)
AGENCY_PATTERNS = (
    [
        {"LOWER": "i"},
        {"LOWER": {"IN": ["will", "'ll", "would", "'d", "'m", "am", "can", "could", "should"]}},
        {
            "LOWER": {
                "IN": [
                    "personally",
                    "myself",
                    "make",
                    "sort",
                    "fix",
                    "take",
                    "handle",
                    "call",
                    "ring",
                    "find",
                    "check",
                    "follow",
                    "get",
                ]
            }
        },
    ],
    [{"LOWER": {"IN": ["myself", "personally"]}}],
    [{"LEMMA": "make"}, {"LOWER": "sure"}],
    [{"LEMMA": "follow"}, {"LOWER": "up"}],
    [{"LEMMA": {"IN": ["take", "own"]}}, {"LOWER": {"IN": ["responsibility", "ownership", "charge"]}}],
)


class SentenceAnalysis(msgspec.Struct, frozen=True, kw_only=True):
    """One sentence: its text and position, and the cues found in it."""

    index: int
    text: str
    start_char: int
    end_char: int
    negation_cues: tuple[str, ...] = ()
    negated_text: str = ""
    affirmed_clauses: tuple[str, ...] = ()
    deflection_cues: tuple[str, ...] = ()
    agency_cues: tuple[str, ...] = ()

    @property
    def negated(self) -> bool:
        """Whether some content in the sentence lies in the scope of a negation cue."""
        return bool(self.negated_text)

    @property
    def polarity(self) -> int:
        """1 for an odd number of negation cues (the sentence denies something), else 0."""
        return len(self.negation_cues) % 2


class TextAnalysis(msgspec.Struct, frozen=True, kw_only=True):
    """A text's sentences and quality signals."""

    text: str
    corrections: tuple[tuple[str, str], ...]
    sentences: tuple[SentenceAnalysis, ...]
    word_count: int
    english_share: float
    stopword_share: float
    lemmas: tuple[str, ...]

    @property
    def content_words(self) -> frozenset[str]:
        """Lemmas of the words that carry content (alphabetic, not stop words)."""
        return frozenset(lemma for lemma in self.lemmas if lemma.isalpha() and lemma not in STOP_WORDS)

    @property
    def looks_english(self) -> bool:
        """Whether the words are mostly English (not another language, not gibberish)."""
        if self.word_count < 3:
            return self.english_share >= 0.5
        return self.english_share >= 0.6 and (self.word_count < 8 or self.stopword_share >= 0.1)


_LOWER_WORD = re.compile(r"[a-z']+")


def lower_words(text: str) -> list[str]:
    """The text's words in lower case, apostrophes kept ("I'd call" -> ["i'd", "call"])."""
    return _LOWER_WORD.findall(text.lower())


def ngram_overlap(tokens: Sequence[str], source: Sequence[str], n: int = 3) -> float:
    """Share of ``tokens``' n-grams (shorter texts: words) that also occur in ``source``."""
    size = n if len(tokens) >= n else 1
    grams = [tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)]
    if not grams:
        return 0.0
    pool = {tuple(source[i : i + size]) for i in range(len(source) - size + 1)}
    return sum(g in pool for g in grams) / len(grams)


class TextAnalyzer:
    """Analyse texts with one spaCy pipeline built once."""

    def __init__(self, pipeline: str | None = None) -> None:
        self.nlp = _build_pipeline(pipeline)
        self._pseudo = _matcher(self.nlp, "PSEUDO", PSEUDO_NEGATIONS)
        self._deflection = _matcher(self.nlp, "DEFLECTION", DEFLECTION_PATTERNS)
        self._agency = _matcher(self.nlp, "AGENCY", AGENCY_PATTERNS)
        self._speller = SpellingCorrector()

    @property
    def pipeline_id(self) -> str:
        """Name and version of the spaCy pipeline, for provenance."""
        meta = self.nlp.meta
        return (
            f"spacy-{spacy.__version__}/{meta.get('lang', 'en')}_{meta.get('name', 'blank')}-{meta.get('version', '0')}"
        )

    @cached_property
    def _english_words(self) -> frozenset[str]:
        lookups = self.nlp.get_pipe("lemmatizer").lookups if "lemmatizer" in self.nlp.pipe_names else None
        words: set[str] = set(STOP_WORDS)
        if lookups is not None and lookups.has_table("lemma_lookup"):
            table = lookups.get_table("lemma_lookup")
            words.update(str(v).lower() for v in table.values())
        words.update(common_english_words())
        return frozenset(words)

    def analyze(self, text: str, protected: frozenset[str] = frozenset()) -> TextAnalysis:
        """Analyse one text."""
        return self.analyze_many([text], protected)[0]

    def analyze_many(self, texts: Iterable[str], protected: frozenset[str] = frozenset()) -> list[TextAnalysis]:
        """Analyse texts in one pass through the pipeline, typos corrected first (never into
        or out of a ``protected`` word: the rubric's vocabulary).
        """
        originals = list(texts)
        corrected = [self._speller.correct(t, protected) for t in originals]
        docs = self.nlp.pipe(text for text, _ in corrected)
        return [
            self._analysis(original, doc, fixes)
            for original, doc, (_, fixes) in zip(originals, docs, corrected, strict=True)
        ]

    def _analysis(self, original: str, doc: Doc, corrections: tuple[tuple[str, str], ...]) -> TextAnalysis:
        written = [w.lower() for w in _ALPHA_WORD.findall(original)]
        vocabulary = self._english_words
        known = sum(1 for w in written if w in vocabulary or _lemma_known(w, vocabulary))
        stop = sum(1 for w in written if w in STOP_WORDS)
        alpha = [t.lower_ for t in doc if t.is_alpha]
        return TextAnalysis(
            text=doc.text,
            corrections=corrections,
            sentences=tuple(self._sentence(i, s) for i, s in enumerate(_sentences(doc))),
            word_count=len(alpha),
            english_share=known / len(written) if written else 0.0,
            stopword_share=stop / len(written) if written else 0.0,
            lemmas=tuple(t.lemma_.lower() for t in doc if not t.is_punct and not t.is_space),
        )

    def _sentence(self, index: int, sent: Span) -> SentenceAnalysis:
        cues, scope, affirmed = self._negation(sent)
        return SentenceAnalysis(
            index=index,
            text=sent.text.strip(),
            start_char=sent.start_char,
            end_char=sent.end_char,
            negation_cues=cues,
            negated_text=scope,
            affirmed_clauses=affirmed,
            deflection_cues=tuple(sent.doc[s:e].text for _, s, e in self._deflection(sent)),
            agency_cues=tuple(sent.doc[s:e].text for _, s, e in self._agency(sent)),
        )

    def _negation(self, sent: Span) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
        """Negation cues, the words in their scope (to the clause's end), and each negated
        clause restated without its cue ("I would not call her" -> "I would call her").
        """
        pseudo = {i for _, s, e in self._pseudo(sent) for i in range(s, e)}
        cues: list[str] = []
        scoped: list[str] = []
        affirmed: list[str] = []
        clause_start = sent.start
        for token in sent:
            if token.lower_ in SCOPE_BREAKERS or token.is_punct:
                clause_start = token.i + 1
            if token.lower_ not in NEGATION_WORDS or token.i in pseudo:
                continue
            scope_end = token.i + 1
            while scope_end < sent.end and not _breaks_scope(sent.doc[scope_end]):
                scope_end += 1
            in_scope = sent.doc[token.i + 1 : scope_end]
            if any(t.is_alpha and not t.is_stop for t in in_scope) or token.lower_ in {"nobody", "nothing", "never"}:
                cues.append(token.text)
                scoped.append(in_scope.text)
                if _about_speaker(sent.doc[clause_start : token.i], sent):
                    affirmed.append(_affirm(sent.doc[clause_start:scope_end], token.i))
        return tuple(cues), " | ".join(s for s in scoped if s), tuple(a for a in affirmed if a)


def _breaks_scope(token: Token) -> bool:
    return token.lower_ in SCOPE_BREAKERS or token.is_punct


_AFFIRMED_FORMS = {"cannot": "can", "ca": "can", "wo": "will", "sha": "shall"}


def _about_speaker(before_cue: Span, sent: Span) -> bool:
    """Whether a negated clause is about what the speaker does ("I would not call her"),
    not a fact about someone else ("finance hasn't answered yet").

    The nearest word before the cue that is not an auxiliary or adverb decides; when there
    is none, the subject was left out ("... and never call back") and the sentence's speaker
    is meant.
    """
    for token in reversed(before_cue):
        if token.is_punct or token.lower_ in CLAUSE_LEAD_WORDS:
            continue
        return token.lower_ in FIRST_PERSON
    return not before_cue or any(t.lower_ in FIRST_PERSON for t in sent)


def _affirm(clause: Span, cue_index: int) -> str:
    """The clause with its negation cue taken out and contracted auxiliaries mended."""
    words: list[str] = []
    for token in clause:
        if token.i == cue_index:
            if token.lower_ == "cannot":
                words.append("can")
            continue
        words.append(_AFFIRMED_FORMS.get(token.lower_, token.text) if token.i == cue_index - 1 else token.text)
    return " ".join(words).replace(" '", "'")


def _lemma_known(word: str, vocabulary: frozenset[str]) -> bool:
    """Crude suffix stripping so inflected forms of known words count as English."""
    for suffix in ("'s", "s", "es", "ed", "d", "ing", "ly", "er", "est"):
        if word.endswith(suffix) and word[: -len(suffix)] in vocabulary:
            return True
    return False


def _sentences(doc: Doc) -> list[Span]:
    return [s for s in doc.sents if s.text.strip()]


def _matcher(nlp: Language, label: str, patterns: Iterable[list[dict[str, object]]]) -> Matcher:
    matcher = Matcher(nlp.vocab)
    matcher.add(label, list(patterns))
    return matcher


def _build_pipeline(name: str | None) -> Language:
    """A trained pipeline when named and installed; otherwise blank English with rules."""
    if name:
        return spacy.load(name)
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp
