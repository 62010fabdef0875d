"""A small count typed in figures, written as its corpus writes counts: "4 ships" is "four
ships" in an article that writes "four" and never "4" (as encyclopedias write counts under
ten). A figure counts as a name, so typed so it was one the article "never mentions", and "Who
led 4 ships into Tokyo Bay?" got another sentence than "Who led four ships into Tokyo Bay?".

Only two to nineteen, before a word that is not a month ("8 July" is a date). The other way
round ("four" read as "4" where the article writes figures) changed two tune questions and
gained nothing on them (eval/tried.md), so a count typed in words stays as typed."""

from __future__ import annotations

import re

from qa.answer_type import MONTH
from qa.percentages import UNIT_WORDS

_WORD_OF = {value: word for word, value in UNIT_WORDS.items() if 2 <= value}
_COUNT_FIGURE = re.compile(rf"(?<![\w'’.,/:$£€-])([2-9]|1[0-9])(?=\s+(?!{MONTH}\b)[A-Za-z])", re.IGNORECASE)


def counts_as_written(text: str, corpus_words: frozenset[str]) -> str:
    """The text with each count from two to nineteen typed in figures that the corpus never
    writes so, but writes in words, put in words (`corpus_words`: the index vocabulary)."""
    def written(match: re.Match[str]) -> str:
        typed = match.group(1)
        word = _WORD_OF[int(typed)]
        return word if typed not in corpus_words and word in corpus_words else typed

    return _COUNT_FIGURE.sub(written, text) if any(c.isdigit() for c in text) else text
