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
  that merely happen to stand side by side once do not make a reading;
- or, when the corpus has no such term, one heading of the corpus (and only one) is spelt by
  it: "FAQ" is the section headed "Frequently Asked Questions". A heading is a name the
  article gives, so once is enough.
The question is then searched with the phrase, and the page shows it under "Searched for".

The other way round, a name the question spells out is read as the initialism the corpus
writes instead ("the United States" as "the U.S.", when an article says "U.S." throughout and
"United States" only in a heading). Otherwise the question names a subject the article never
names that way, and a sentence on another subject can answer it. A name is read so when:
- it is two or more capitalised words that are not stop words, perhaps with small words
  between them ("Department of Energy");
- the corpus writes its initials in capitals (with or without the small words' letters) at
  least twice, and at least twice as often as it writes the name itself;
- the corpus ties the two together: the name is in the heading of the section that uses the
  initialism most, or the corpus writes one after the other in brackets ("Department of
  Energy (DOE)"). Without a tie, "Prize Problems" would be read as the complexity class "PP".
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Mapping

from qa.text import STOPWORDS, normalize, stem, words

MAX_LETTERS = 6
MIN_USES = 2
_CLAUSE_BREAK = re.compile(r"[.!?;:,()\[\]\n]+(?:\s|$)|\n")  # a term never spans these
_INITIALISM = re.compile(r"(?<![\w'’.-])([A-Z]{2,6})s?(?![\w'’-])")
# Capitalised words side by side, perhaps with one or two small words between them, and the
# apostrophe of a plural possessive ("the United States' plan").
_NAME_RUN = re.compile(r"(?<![\w.-])([A-Z][a-z]+(?:\s+(?:[a-z]{1,4}\s+){0,2}[A-Z][a-z]+)+)(['’](?!\w))?(?![\w-])")


class Acronyms:
    """Spells out the question's initialisms the way the corpus writes them, from a table of
    the phrases and headings they spell (`spelt_table`, stored with the index)."""

    def __init__(self, texts: Iterable[str], corpus_words: frozenset[str],
                 sections: Mapping[str, str] | None = None, headings: Iterable[str] = (),
                 phrases: Mapping[str, str] | None = None,
                 initialisms: Mapping[str, Mapping[str, int]] | None = None) -> None:
        """`sections`: each corpus name -> the section (heading path) that uses it most
        (`Index.name_subject`); `phrases` and `initialisms`: `spelt_table` and `initialism_forms`
        of the corpus, when the index stores them (`Index.terms`), else they are read from the
        texts and `headings` (the corpus's section headings) on first need."""
        self._texts = texts
        self._words = corpus_words
        self._sections = sections or {}
        self._headings = tuple(dict.fromkeys(headings))
        self._table: dict[str, str] | None = None if phrases is None else dict(phrases)
        self._initialisms: dict[str, Counter[str]] | None = \
            None if initialisms is None else {k: Counter(v) for k, v in initialisms.items()}  # initials -> written forms
        self._read: dict[str, bool] = {}  # name and initialism -> whether the corpus writes one for the other

    def expand(self, text: str) -> str:
        """The text with each initialism the corpus spells out replaced by its phrase."""
        if not _INITIALISM.search(text):
            return text
        return _INITIALISM.sub(self._spelled, text)

    def phrase_for(self, initialism: str) -> str | None:
        if self._known(initialism) or len(initialism) > MAX_LETTERS:
            return None
        if self._table is None:
            self._table = spelt_table(self._texts, self._headings)
        return self._table.get(initialism.lower())

    def _spelled(self, match: re.Match[str]) -> str:
        whole, letters = match.group(0), match.group(1)
        if self._known(whole) or letters.lower() in STOPWORDS:
            return whole
        return self.phrase_for(letters) or whole

    def abbreviate(self, text: str) -> str:
        """The text with each name the corpus writes as an initialism replaced by that initialism."""
        if not _NAME_RUN.search(text):
            return text
        return _NAME_RUN.sub(self._abbreviated, text)

    def _abbreviated(self, match: re.Match[str]) -> str:
        tokens, apostrophe = match.group(1).split(), match.group(2) or ""
        for start in range(len(tokens)):  # the longest name first (initials of at most 6 letters), left to right
            if not _is_name_word(tokens[start]):
                continue
            for end in range(min(len(tokens) - 1, start + 2 * MAX_LETTERS), start, -1):
                if not _is_name_word(tokens[end]):
                    continue
                initialism = self._initialism_for(tokens[start:end + 1])
                if initialism:
                    if end == len(tokens) - 1 and apostrophe:  # "the United States'" -> "the U.S.'s"
                        initialism, apostrophe = initialism + apostrophe + "s", ""
                    return " ".join([*tokens[:start], initialism, *tokens[end + 1:]]) + apostrophe
        return match.group(0)

    def _initialism_for(self, name: list[str]) -> str | None:
        """The initialism the corpus writes for the name, or None."""
        if self._initialisms is None:
            self._initialisms = initialism_forms(self._texts)
        content = "".join(w[0] for w in name if w.lower() not in STOPWORDS).lower()
        every = "".join(w[0] for w in name).lower()
        for initials in dict.fromkeys((content, every)):
            forms = self._initialisms.get(initials)
            if forms and len(initials) >= 2 and sum(forms.values()) >= MIN_USES and self._stands_for(name, forms):
                return forms.most_common(1)[0][0]
        return None

    def _stands_for(self, name: list[str], forms: Counter[str]) -> bool:
        """Whether the corpus writes the initialism for the name. It reads the whole corpus, so the
        verdict is kept (for a bounded number of names: they come from users)."""
        key = f"{' '.join(name).lower()}|{'|'.join(forms)}"
        if key not in self._read:
            if len(self._read) >= 4096:
                self._read.clear()
            phrase = r"(?<!\w)" + r"\s+".join(map(re.escape, name)) + r"(?!\w)"
            uses = sum(len(re.findall(phrase, text, re.IGNORECASE)) for text in self._texts)
            self._read[key] = sum(forms.values()) >= 2 * uses and self._tied(phrase, forms)
        return self._read[key]

    def _tied(self, phrase: str, forms: Counter[str]) -> bool:
        """The corpus heads the initialism's section with the name, or brackets one after the other."""
        if any(re.search(phrase, self._sections.get(normalize(form), ""), re.IGNORECASE) for form in forms):
            return True
        written = "|".join(re.escape(form) for form in forms)
        bracketed = re.compile(rf"{phrase}\s*\(\s*(?:{written})\s*\)|(?:{written})\s*\(\s*{phrase}\s*\)", re.IGNORECASE)
        return any(bracketed.search(text) for text in self._texts)

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


def spelt_table(texts: Iterable[str], headings: Iterable[str]) -> dict[str, str]:
    """initials -> what they spell: a term of the texts (`phrase_table`), else a heading
    (`heading_table`)."""
    return {**heading_table(headings), **phrase_table(texts)}


def heading_table(headings: Iterable[str]) -> dict[str, str]:
    """initials -> the heading they spell, for headings of two or more capitalised words that
    no other heading shares initials with ("faq" -> "frequently asked questions"). A heading
    that asks something ("How Do Startups ...?") is a question, not a name."""
    spelt: dict[str, set[str]] = {}
    for heading in dict.fromkeys(headings):
        tokens = [w for w in words(heading) if w.isalpha()]
        content = [w for w in tokens if w.lower() not in STOPWORDS]
        if "?" in heading or not 2 <= len(content) <= MAX_LETTERS or not all(w[:1].isupper() for w in content):
            continue
        phrase = " ".join(t.lower() for t in tokens)
        for initials in {"".join(w[0] for w in content).lower(), "".join(w[0] for w in tokens).lower()}:
            if len(initials) <= MAX_LETTERS:
                spelt.setdefault(initials, set()).add(phrase)
    return {initials: next(iter(phrases)) for initials, phrases in spelt.items() if len(phrases) == 1}


def initialism_forms(texts: Iterable[str]) -> dict[str, Counter[str]]:
    """initials -> how the corpus writes them in capitals ("us" -> {"U.S.": 12, "US": 1})."""
    forms: dict[str, Counter[str]] = {}
    for text in texts:
        for token in words(text):
            letters = token.replace(".", "")
            if 2 <= len(letters) <= MAX_LETTERS and letters.isalpha() and letters.isupper():
                forms.setdefault(letters.lower(), Counter())[token] += 1
    return forms


def _is_name_word(token: str) -> bool:
    return token[:1].isupper() and token.lower() not in STOPWORDS


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
