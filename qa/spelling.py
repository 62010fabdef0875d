"""Typing slips -> the corpus's own words: "lithum" is read as "lithium".

Without this, a slip makes a word the article never uses, and a question holding one is
declined ("It never mentions “lithum”"). A word is read as another only when all of these hold:
- it is written in lower case and has at least MIN_LETTERS letters (a capitalised word may be a
  name the article lacks, and short words have too many neighbours);
- neither it nor its stem is in the corpus;
- the embedding model's tokenizer does not hold it as one word: real words ("spain", "making")
  are in its vocabulary of 30,000 word pieces, slips are split into pieces ("lit", "##hum");
- exactly one corpus word is one edit away (a letter left out, added, changed, or two swapped).
The question is then searched with the corpus word, and the page shows it under "Searched for".

A possessive typed without its apostrophe ("what is chinas share?") is read as one ("china's")
when the word is not in the corpus and the word without its "s" is a name the corpus writes
with a possessive ("China's"). Otherwise "chinas" names no subject, and a sentence on another
subject can answer it. A name the corpus never writes so is left alone: "Americans" is a
plural, not "American's". Which names the corpus writes so is read at index time
(`qa.index.CorpusTerms`).

Two words joined by a hyphen are read as one where the corpus writes them so and never with
the hyphen ("light-house" is "lighthouse"): a hyphenated term counts as a name, and one the
corpus lacks was declined ("It never mentions “light-house”"). The other way round, a word the
corpus writes only with a hyphen is read with it ("nondeterministic" is "non-deterministic").

A word typed without the accents the corpus writes it with is read with them ("Gottingen" is
"Göttingen", "Sao" is "São"), and one typed with accents the corpus leaves out is read
without them, when the corpus has exactly one word of that spelling. Typed another way, the
name was one the article "never mentions", and quoted no sentence word for word.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable, Iterable

from qa.text import stem

MIN_LETTERS = 6
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_LOWER_WORD = re.compile(r"(?<![\w'’-])[a-z]+(?![\w'’-])")
# Two words joined by a hyphen, as a closed compound may be typed ("light-house"); a word
# that may be such a compound typed closed ("nondeterministic").
_HYPHENATED = re.compile(r"(?<![\w'’-])([A-Za-z]+)-([A-Za-z]+)(?![\w'’-])")
_CLOSED = re.compile(r"(?<![\w'’-])[A-Za-z]{5,}(?![\w'’-])")
_EDGE = "\"'“”‘’«»,;:!?.()[]"
_POSSESSIVE = re.compile(r"(?<![\w'’-])([a-z]{3,})['’]s(?![\w'’-])")
_ENDS_IN_S = re.compile(r"(?<![\w'’-])([A-Za-z]{3,})s(?![\w'’-])")
_LETTER_WORD = re.compile(r"(?<![\w'’-])[^\W\d_]{2,}(?![\w-])(?!['’](?!s\b))")  # "Dvorak" in "Dvorak's" too
# Letters that are no letter and an accent, and so have no decomposition: read as English types them.
_PLAIN_LETTERS = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
                                "ı": "i"})


class Speller:
    """Reads a slip of the keyboard as the one corpus word it is an edit away from.
    `is_word(w)` says whether the model's vocabulary holds `w` whole (a real word)."""

    def __init__(self, corpus_words: Iterable[str], corpus_stems: frozenset[str], is_word: Callable[[str], bool],
                 names: frozenset[str] = frozenset(), possessed: frozenset[str] = frozenset()) -> None:
        """`names`: the corpus's names, normalised (`Index.names`); `possessed`: those it writes
        with a possessive (`possessed_names`, stored with the index as `Index.terms`)."""
        corpus_words = frozenset(corpus_words)
        self.words = frozenset(w for w in corpus_words if w.isalpha())
        self.compounds = corpus_words - self.words  # "lithium-ion", "u.s.": written with a mark
        # "nondeterministic" -> "non-deterministic", for the corpus's hyphenated pairs of words.
        self.hyphenated = {c.replace("-", ""): c for c in self.compounds
                           if c.count("-") == 1 and c.replace("-", "").isalpha()}
        self.stems = corpus_stems
        self.is_word = is_word
        self.names = names
        self.possessed = possessed
        self.word_for = lru_cache(maxsize=4096)(self._word_for)  # users repeat words; each check tokenizes
        self.unaccented = _unaccented_words(self.words)

    def correct(self, text: str) -> str:
        """The text with each slip replaced by its corpus word (unchanged when there is none)."""
        text = _HYPHENATED.sub(self._closed, text) if "-" in text else text
        if self.hyphenated and any(t.strip(_EDGE).lower() in self.hyphenated for t in text.split()):
            text = _CLOSED.sub(self._opened, text)
        if self.unaccented:
            text = _LETTER_WORD.sub(self._accented, text)
        text = _LOWER_WORD.sub(lambda m: self.word_for(m.group(0)) or m.group(0), text)
        return _ENDS_IN_S.sub(self._possessive, text) if self.names else text

    def _closed(self, match: re.Match[str]) -> str:
        """A hyphenated pair the corpus writes as one word ("light-house" -> "lighthouse")."""
        typed, first, second = match.group(0), match.group(1), match.group(2)
        if typed.lower() in self.compounds or (first + second).lower() not in self.words:
            return typed
        return first + second if typed.isupper() else first + second.lower()  # "Light-House": "Lighthouse"

    def _opened(self, match: re.Match[str]) -> str:
        """A word the corpus writes only with a hyphen ("nondeterministic" -> "non-deterministic")."""
        typed = match.group(0)
        key = typed.lower()
        if key in self.words or key not in self.hyphenated:
            return typed
        written = self.hyphenated[key]
        return written.upper() if typed.isupper() else written.capitalize() if typed[:1].isupper() else written

    def _accented(self, match: re.Match[str]) -> str:
        """A word typed with other accents than the corpus's one word of that spelling ("Gottingen")."""
        typed = match.group(0)
        key = typed.lower()
        if key in self.words:
            return typed
        written = self.unaccented.get(without_accents(key))
        if written is None:
            return typed
        return written.upper() if typed.isupper() else written.capitalize() if typed[:1].isupper() else written

    def _possessive(self, match: re.Match[str]) -> str:
        word, name = match.group(0), match.group(1)
        if word.lower() in self.words or name.lower() not in self.names or name.lower() not in self.possessed:
            return word
        return f"{name}'s"

    def _word_for(self, word: str) -> str | None:
        if len(word) < MIN_LETTERS or word in self.words or stem(word) in self.stems or self.is_word(word):
            return None
        near = {w for w in _one_edit(word) if w in self.words}
        return next(iter(near)) if len(near) == 1 else None


def without_accents(word: str) -> str:
    """The word in plain letters: "göttingen" -> "gottingen", "straße" -> "strasse"."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word.translate(_PLAIN_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _unaccented_words(words: frozenset[str]) -> dict[str, str]:
    """Each spelling in plain letters of a corpus word -> that word, where the corpus writes
    some word of that spelling with accents and has only one word of it. Empty for a corpus
    that writes no accents: its questions need no pass."""
    spelt: dict[str, set[str]] = {}
    for word in words:
        spelt.setdefault(without_accents(word), set()).add(word)
    if all(key in found and len(found) == 1 for key, found in spelt.items()):
        return {}
    return {key: next(iter(found)) for key, found in spelt.items() if len(found) == 1}


def possessed_names(texts: Iterable[str], names: frozenset[str]) -> frozenset[str]:
    """The names (normalised, as `Index.names` holds them) that the texts write with a possessive."""
    return frozenset(w for text in texts for w in _POSSESSIVE.findall(text.lower()) if w in names)


def _one_edit(word: str) -> set[str]:
    """Every string one deletion, swap of neighbours, change or insertion of a letter away."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    changes = {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    inserts = {a + c + b for a, b in splits for c in _LETTERS}
    return (deletes | swaps | changes | inserts) - {word}
