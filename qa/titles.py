"""A title, a name's designator or a month, written as its corpus writes it: "Saint John's
College" is "St John's College" in an article that writes "St", "Mt. Fuji" is "Mount Fuji" in
one that writes "Mount", "Sept 1858" is "September 1858". Typed another way the word was a
name the corpus never mentions, and the question was declined for it. So is "vs" between two
terms: "P vs NP" is "P versus NP" in an article that writes "versus". A courtesy title ("Mr",
"Mrs", "Ms", "Miss") before a name the article never gives one is dropped: "Mrs. Holloway" is
the article's "Margaret Holloway", not a "Mrs" it never mentions.

Only where the word can be nothing else: a title before a capitalised word ("Saint John's",
"General Grant"), a designator after one ("Zeiss Company", "Main Street"), a month beside a
figure ("Sept 1858", "3 Sept"). "In general" or "the company" stay as typed, and so does a
word with more than one form in the corpus ("St" where it writes both "Saint" and "Street")."""

from __future__ import annotations

import re

from qa.text import normalize
from qa.units import form_groups

_TITLES = """st saint
mt mount
ft fort
dr doctor
prof professor
gen general
col colonel
capt captain
cmdr commander
cdre commodore
lt lieutenant
sgt sergeant
adm admiral
gov governor
sen senator
rev reverend
pres president"""
_DESIGNATORS = """st street
ave avenue
rd road
co company
corp corporation
inc incorporated
ltd limited
bros brothers
univ university
jr junior
sr senior"""
_MONTHS = """jan january
feb february
apr april
jun june
jul july
aug august
sep sept september
oct october
nov november
dec december"""

_BETWEEN_TERMS = """vs versus"""


_TITLE, _DESIGNATOR, _MONTH = form_groups(_TITLES), form_groups(_DESIGNATORS), form_groups(_MONTHS)
_BETWEEN = form_groups(_BETWEEN_TERMS)
_WORD = r"[A-Za-z]{2,12}"
_BEFORE_NAME = re.compile(r"(?<![\w'’.-])([A-Z][a-z]{1,11})\.?(?=\s+[A-Z])")
_AFTER_WORD = re.compile(r"(?<=[\w'’])(\s+)([A-Z][a-z]{1,11})\.?(?![\w'’-])")
_COURTESY = re.compile(r"(?<![\w'’.-])(Mr|Mrs|Ms|Miss|Mx|Messrs)\.?\s+(?=[A-Z])")
_BETWEEN_WORDS = re.compile(r"(?<=[\w'’)]\s)(vs|versus)\.?(?=\s+[\w'‘“(])", re.IGNORECASE)
_BESIDE_FIGURE = re.compile(rf"(?<![\w'’.-])({_WORD})\.?(?=\s+\d)|(?<=\d\s)({_WORD})\.?(?![\w'’-])", re.IGNORECASE)


def titles_as_written(text: str, corpus_words: frozenset[str]) -> str:
    """The text with each title, designator, month and "vs" the corpus never writes as typed put
    in the one form of it the corpus does write (`corpus_words`: the index vocabulary), and
    each courtesy title it never writes dropped."""
    text = _BEFORE_NAME.sub(lambda m: _as_written(m.group(0), m.group(1), _TITLE, corpus_words), text)
    text = _AFTER_WORD.sub(lambda m: _designator(m, corpus_words), text)
    text = _COURTESY.sub(lambda m: m.group(0) if m.group(1).lower() in corpus_words else "", text)
    text = _BETWEEN_WORDS.sub(lambda m: _as_written(m.group(0), m.group(1), _BETWEEN, corpus_words), text)
    return _BESIDE_FIGURE.sub(lambda m: _as_written(m.group(0), m.group(1) or m.group(2), _MONTH, corpus_words), text)


def _designator(match: re.Match[str], corpus_words: frozenset[str]) -> str:
    """A designator after a capitalised word ("Zeiss Co."), as the corpus writes it."""
    space, typed = match.group(1), match.group(0)[len(match.group(1)):]
    before = match.string[:match.start()].split()
    if not before or not before[-1][:1].isupper():
        return match.group(0)
    return space + _as_written(typed, match.group(2), _DESIGNATOR, corpus_words)


def _as_written(typed: str, word: str, groups: dict[str, tuple[str, ...]], corpus_words: frozenset[str]) -> str:
    key = normalize(word)
    if key not in groups or key in corpus_words:
        return typed
    written = {form for form in groups[key] if form in corpus_words}
    if len(written) != 1:
        return typed
    form = written.pop()
    return form[:1].upper() + form[1:] if word[:1].isupper() else form
