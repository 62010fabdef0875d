"""A year written short in a question, written as its corpus writes it: "'53" and "in 53" are
"1853" in an article whose only year ending in 53 is 1853, and "the 1830's" is "the 1830s".
Typed short, the year was a figure the corpus never mentions ("It never mentions “53”"). A
century too: "the nineteenth century" is "the 19th century" in an article that writes "19th",
and the other way round.

A day of a month typed as an ordinal is written as a figure in an article that never writes
the ordinal: "the 8th of July" and "July 8th" are "8 July" and "July 8" where it writes "July 8,
1853" ("It never mentions “8th”").

"The 1500s" is "the 16th century" in an article that writes "16th" (or "sixteenth") and no
year of that century: it was a figure the article "never mentions".

"AD 911", "911 AD" and "911 CE" are "911" in an article that never writes the era: the
common era is what a bare year means, and the marker was a word the article "never mentions".
"BC" and "BCE" are kept: they change the year.

Two figures without an apostrophe are a year only where a year goes: after "in", "since",
"early", a month or a season, and before the end of the clause ("signed in 58", not "in 58
days"). Where the corpus writes more than one year with those two figures, or none, the
question stays as typed."""

from __future__ import annotations

import re

from qa.answer_type import MONTH, ORDINAL, ORDINAL_WORDS
from qa.numbered import number_value

_BEFORE_YEAR = "|".join(["in", "of", "since", "until", "till", "by", "from", "to", "early", "late", "mid",
                         "spring", "summer", "autumn", "fall", "winter", MONTH])
_APOSTROPHE_YEAR = re.compile(r"(?<![\w'’])['’](\d{2})(?![\w'’-])")
_BARE_YEAR = re.compile(rf"(?<![\w'’-])((?:{_BEFORE_YEAR})\s+)(\d{{2}})(?=\s*(?:[?.!,;:)]|$))", re.IGNORECASE)
_DECADE_APOSTROPHE = re.compile(r"(?<![\w'’])(\d{2,3}0)['’]s(?![\w'’-])")
# One ordinal or a run of them ("16th and 17th") before "century" or "centuries".
_CENTURIES = re.compile(rf"(?<![\w'’-])({ORDINAL}(?:\s*(?:,|and|or|to|-)\s*{ORDINAL})*)(?=[\s-]+centur(?:y|ies)\b)",
                        re.IGNORECASE)
_ONE_ORDINAL = re.compile(ORDINAL, re.IGNORECASE)
# The common era's marker before a year of one to four figures ("AD 911"), or after one at the
# end of a clause ("in 911 A.D.?", not "3 AD cards").
_COMMON_ERA = r"(?:A\.D\.|A\.?D|C\.E\.|C\.?E)"
_ERA_BEFORE = re.compile(rf"(?<![\w.'’-]){_COMMON_ERA}\s+(?=\d{{1,4}}(?![\w'’-]))")
_ERA_AFTER = re.compile(rf"(?<![\w'’-])(\d{{1,4}})\s+{_COMMON_ERA}"
                        r"(?=\s*(?:[?!.,;:)]|$)|\s+(?:and|or|to|until|till|when|who|what|where|was|were|did)\b)")
_ERA_WORDS = frozenset({"ad", "a.d.", "ce", "c.e."})
# A day of a month as an ordinal: "the 8th of July", "8th July", "July 8th".
_DAY_OF_MONTH = re.compile(
    rf"(?<![\w'’-])(?:the\s+)?(?P<day>\d{{1,2}})(?P<suffix>st|nd|rd|th)(?:\s+of)?(?P<month>\s+{MONTH}\b)"
    rf"|(?<![\w'’-])(?P<before>{MONTH}\.?\s+)(?P<day2>\d{{1,2}})(?P<suffix2>st|nd|rd|th)(?![\w'’-])", re.IGNORECASE)
# A century written in figures: "the 1500s" (not "the 1850s", a decade).
_HUNDREDS = re.compile(r"(?<![\w'’-])(1?\d)00s(?![\w'’-])")


def years_as_written(text: str, corpus_words: frozenset[str]) -> str:
    """The text with each short year put as the one corpus year it can be, "1830's" as "1830s",
    and each century's ordinal in the form the corpus writes ("nineteenth" or "19th")."""
    if not any(c.isdigit() for c in text) and "centur" not in text.lower():  # most questions: no pass over them
        return text
    text = _DAY_OF_MONTH.sub(lambda m: _day(m, corpus_words), text)
    text = _DECADE_APOSTROPHE.sub(lambda m: f"{m.group(1)}s", text)
    if not _ERA_WORDS & corpus_words:
        text = _ERA_AFTER.sub(r"\1", _ERA_BEFORE.sub("", text))
    text = _HUNDREDS.sub(lambda m: _century(int(m.group(1)), corpus_words) or m.group(0), text)
    text = _CENTURIES.sub(lambda m: _ONE_ORDINAL.sub(lambda o: _ordinal(o.group(0), corpus_words), m.group(0)), text)
    text = _APOSTROPHE_YEAR.sub(lambda m: _year(m.group(1), corpus_words) or m.group(0), text)
    return _BARE_YEAR.sub(lambda m: m.group(1) + (_year(m.group(2), corpus_words) or m.group(2)), text)


def _year(last_two: str, corpus_words: frozenset[str]) -> str | None:
    found = [year for year in (f"{century}{last_two}" for century in range(10, 21)) if year in corpus_words]
    return found[0] if len(found) == 1 else None


def _day(match: re.Match[str], corpus_words: frozenset[str]) -> str:
    """"8 July" for "the 8th of July", "July 8" for "July 8th", where the corpus writes no "8th"."""
    day, suffix = match.group("day") or match.group("day2"), match.group("suffix") or match.group("suffix2")
    if f"{day}{suffix}".lower() in corpus_words or day not in corpus_words:
        return match.group(0)
    return f"{day}{match.group('month')}" if match.group("day") else f"{match.group('before')}{day}"


def _century(hundreds: int, corpus_words: frozenset[str]) -> str | None:
    """"16th century" for the 1500s, in the ordinal's form the corpus writes, when it writes no
    year of those hundred; None otherwise."""
    if any(str(year) in corpus_words for year in range(hundreds * 100, hundreds * 100 + 100)):
        return None
    ordinal = _ordinal(_ordinal_form(hundreds + 1), corpus_words)
    return f"{ordinal} century" if ordinal.lower() in corpus_words else None


def _ordinal_form(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _ordinal(typed: str, corpus_words: frozenset[str]) -> str:
    number = number_value(typed)
    if number is None or typed.lower() in corpus_words:
        return typed
    forms = [_ordinal_form(number)] + ([ORDINAL_WORDS[number - 1]] if number <= len(ORDINAL_WORDS) else [])
    return next((form for form in forms if form in corpus_words), typed)
