"""Word-level text handling shared by indexing, retrieval and answering: one tokenizer,
so that the BM25 index, the corpus vocabulary and question analysis see the same words."""

from __future__ import annotations

import re
from functools import lru_cache

# Initialisms (U.S., e.g.), words with an inner apostrophe, numbers with decimals and %.
_WORD = re.compile(r"(?:[A-Za-z]\.){2,}|[^\W_]+(?:['’][^\W_]+)*(?:[.,]\d+)*%?", re.UNICODE)
POSSESSIVE = re.compile(r"['’]s$")
# What opens a list item's line: "- ", "* ", "+ ", "• ", "1. ", "2) ".
LIST_MARKER = re.compile(r"[ \t]*(?:[-*+•]|\d+[.)])[ \t]+")

# English function words, question words and the filler of questions. They carry no topic,
# so they neither count as evidence nor as an unknown term.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been before
    being below between both but by can could did do does doing done down during each either else
    ever every few for from further get gets getting give given go going got had has have having he her
    here hers herself him himself his how however i if in into is isn't it it's its itself just kind
    least less let like made make makes many may me might more most much must my myself neither no nor not
    now of off often on once one only or other others our ours ourselves out over own per please quite
    rather really same say says she should so some such tell than that that's the their theirs them
    themselves then there these they this those though through thus to too under until up upon us use
    used using very via was we well were what what's whatever when where whether which while who whom
    whose why will with within without would yes yet you your yours yourself yourselves
    article text author writer passage according mention mentions mentioned say said explain describe
    talk talks discuss discusses discussed cover covers covered tell tells told
    anything something thing things way ways know want wants need needs think see look looking
    i'm i've i'd i'll ok okay o.k. hi hello hey thanks thank thx fyi f.y.i. btw b.t.w.""".split()
)


def words(text: str) -> list[str]:
    """Word tokens in their original case."""
    return _WORD.findall(text)


def plain_words(text: str) -> list[str]:
    """The words in lower case with straight apostrophes: "Why might I need a VA claim exam?"
    and "why might i need a va claim exam" are the same words (`normalize` reads "VA" as an
    initialism, which would set the two apart)."""
    return [w.lower().replace("’", "'") for w in words(text)]


@lru_cache(maxsize=65536)
def normalize(word: str) -> str:
    """Lowercase, straight apostrophes, no possessive 's; an all-capital short word is read as an
    initialism, so "US" and "U.S." meet (and "US" is not the pronoun "us")."""
    word = word.replace("’", "'")
    word = POSSESSIVE.sub("", word)
    if 2 <= len(word) <= 4 and word.isalpha() and word.isupper():
        return ".".join(word.lower()) + "."
    return word.lower()


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    return _stemmer().stemWord(word)


@lru_cache(maxsize=8192)
def content_words(text: str) -> tuple[str, ...]:
    """Normalised words that are not stopwords (order kept, repeats kept). Kept for the last
    few thousand texts: a question is read by several stages, and sentences question after question."""
    normalized = (normalize(w) for w in words(text))
    return tuple(w for w in normalized if w not in STOPWORDS and (len(w) > 1 or w.isdigit()))


@lru_cache(maxsize=8192)
def content_stems(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in content_words(text))


def has_number(text: str) -> bool:
    return any(ch.isdigit() for ch in text)
