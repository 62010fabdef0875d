"""A year written short in a question, written as its corpus writes it: "'53" and "in 53" are
"1853" in an article whose only year ending in 53 is 1853, and "the 1830's" is "the 1830s".
Typed short, the year was a figure the corpus never mentions ("It never mentions “53”").

Two figures without an apostrophe are a year only where a year goes: after "in", "since",
"early", a month or a season, and before the end of the clause ("signed in 58", not "in 58
days"). Where the corpus writes more than one year with those two figures, or none, the
question stays as typed."""

from __future__ import annotations

import re

_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_BEFORE_YEAR = "|".join(["in", "of", "since", "until", "till", "by", "from", "to", "early", "late", "mid",
                         "spring", "summer", "autumn", "fall", "winter", *_MONTHS])
_APOSTROPHE_YEAR = re.compile(r"(?<![\w'’])['’](\d{2})(?![\w'’-])")
_BARE_YEAR = re.compile(rf"(?<![\w'’-])((?:{_BEFORE_YEAR})\s+)(\d{{2}})(?=\s*(?:[?.!,;:)]|$))", re.IGNORECASE)
_DECADE_APOSTROPHE = re.compile(r"(?<![\w'’])(\d{2,3}0)['’]s(?![\w'’-])")


def years_as_written(text: str, corpus_words: frozenset[str]) -> str:
    """The text with each short year put as the one corpus year it can be, and "1830's" as "1830s"."""
    text = _DECADE_APOSTROPHE.sub(lambda m: f"{m.group(1)}s", text)
    text = _APOSTROPHE_YEAR.sub(lambda m: _year(m.group(1), corpus_words) or m.group(0), text)
    return _BARE_YEAR.sub(lambda m: m.group(1) + (_year(m.group(2), corpus_words) or m.group(2)), text)


def _year(last_two: str, corpus_words: frozenset[str]) -> str | None:
    found = [year for year in (f"{century}{last_two}" for century in range(10, 21)) if year in corpus_words]
    return found[0] if len(found) == 1 else None
