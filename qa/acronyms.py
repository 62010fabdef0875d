"""Initialisms the corpus spells out -> its own words: "EV" is read as "electric vehicle".

Users shorten what articles write in full. Without this, "what happens to old EV batteries?"
holds a capitalised term the corpus never uses, and is declined ("It never mentions “EV”")
although the article speaks of electric vehicles throughout. An initialism is read as a
phrase only when all of these hold:
- it is written in capitals, 2 to 6 letters, perhaps with a plural "s" ("EVs");
- the corpus never uses it as a word;
- the corpus holds runs of words whose initials spell it (in a name, with or without its
  stop words: "Department of Energy" is DOE or DE), and one of those phrases is a term of the corpus:
  used at least twice, and at least twice as often as any other phrase with those initials
  (singular and plural forms count as one phrase; the form used most is taken). Two words
  that merely happen to stand side by side once do not make a reading.
The question is then searched with the phrase, and the page shows it under "Searched for".
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from qa.text import STOPWORDS, normalize, stem, words

MAX_LETTERS = 6
MIN_USES = 2
_CLAUSE_BREAK = re.compile(r"[.!?;:,()\[\]\n]+(?:\s|$)|\n")  # a term never spans these
_INITIALISM = re.compile(r"(?<![\w'’.-])([A-Z]{2,6})s?(?![\w'’-])")


class Acronyms:
    """Spells out the question's initialisms the way the corpus writes them. The table of
    phrases is made on first need, from the corpus texts (titles and headings included)."""

    def __init__(self, texts: Iterable[str], corpus_words: frozenset[str]) -> None:
        self._texts = texts
        self._words = corpus_words
        self._table: dict[str, str] | None = None

    def expand(self, text: str) -> str:
        """The text with each initialism the corpus spells out replaced by its phrase."""
        if not _INITIALISM.search(text):
            return text
        return _INITIALISM.sub(self._spelled, text)

    def phrase_for(self, initialism: str) -> str | None:
        if self._known(initialism) or len(initialism) > MAX_LETTERS:
            return None
        if self._table is None:
            self._table = phrase_table(self._texts)
        return self._table.get(initialism.lower())

    def _spelled(self, match: re.Match[str]) -> str:
        whole, letters = match.group(0), match.group(1)
        if self._known(whole) or letters.lower() in STOPWORDS:
            return whole
        return self.phrase_for(letters) or whole

    def _known(self, term: str) -> bool:
        """The corpus uses the term, as written or as an initialism ("NP" is read as "n.p.")."""
        return normalize(term) in self._words or term.lower() in self._words


def phrase_table(texts: Iterable[str]) -> dict[str, str]:
    """initials -> the phrase the corpus uses as a term for them (see the module docstring)."""
    forms: dict[str, Counter[str]] = {}
    for clause in (c for text in texts for c in _CLAUSE_BREAK.split(text)):
        tokens = [w for w in words(clause) if w.isalpha()]
        for start, first in enumerate(tokens):
            if first.lower() in STOPWORDS:
                continue
            for phrase, initials in _runs(tokens, start):
                forms.setdefault(initials, Counter())[phrase] += 1
    table: dict[str, str] = {}
    for initials, counts in forms.items():
        by_meaning: dict[str, Counter[str]] = {}
        for phrase, n in counts.items():
            by_meaning.setdefault(" ".join(stem(w) for w in phrase.split()), Counter())[phrase] += n
        ranked = sorted(by_meaning.values(), key=lambda c: -sum(c.values()))
        uses = [sum(c.values()) for c in ranked]
        if uses[0] >= MIN_USES and (len(uses) == 1 or uses[0] >= 2 * uses[1]):
            table[initials] = ranked[0].most_common(1)[0][0]
    return table


def _runs(tokens: list[str], start: int) -> Iterable[tuple[str, str]]:
    """Runs of two or more words from `start` that end on a content word, with the initials
    they may be shortened to. A run may pass over stop words only when its content words are
    capitalised, as in a name, whose initials may then hold the stop words' or not ("Department
    of Energy" is DOE or DE); "demand for electric" is no term."""
    initials = every = ""
    named = tokens[start][:1].isupper()
    skipped = False
    for end in range(start, min(len(tokens), start + 2 * MAX_LETTERS)):
        word = tokens[end].lower()
        every += word[0]
        if word in STOPWORDS:
            skipped = True
            continue
        named = named and tokens[end][:1].isupper()
        if len(initials) == MAX_LETTERS or (skipped and not named):
            return
        initials += word[0]
        phrase = " ".join(t.lower() for t in tokens[start:end + 1])
        if len(initials) >= 2:
            yield phrase, initials
        if skipped and len(every) <= MAX_LETTERS:
            yield phrase, every
