"""A percentage in a question, written as its corpus writes percentages: "seventy percent" and
"70 per cent" are "70%" in an article that writes "70%", and "70%" is "70 percent" in one that
writes "70 percent". Typed another way, the figure was a word the corpus never uses, and the
question was declined with "It never mentions “70”"."""

from __future__ import annotations

import re

from qa.text import normalize, words

# The number words below twenty, each with its value (also read by qa/counts.py).
UNIT_WORDS = {word: value for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {word: 10 * value for value, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_NUMBER_WORD = "|".join(sorted([*UNIT_WORDS, *_TENS, "hundred", "a"], key=len, reverse=True))
_DIGITS = r"\d+(?:\.\d+)?"
_RANGE_WORD = re.compile(r"(\s*(?:or|to|and|-|\u2013)\s*)")
# Figures in digits, one or a range ("70 or 80", "20-30"), or a figure in words ("twenty-five",
# "a hundred"), then the sign or the word for it.
_PERCENTAGE = re.compile(
    rf"(?<![\w.,])(?P<figure>{_DIGITS}(?:{_RANGE_WORD.pattern}{_DIGITS})*"
    rf"|(?:(?:{_NUMBER_WORD})(?:[\s-]+(?:and\s+)?)){{0,3}}(?:{_NUMBER_WORD}))"
    r"\s*(?P<sign>%|percent\b|per\s+cent\b|pct\b)", re.IGNORECASE)


def number_from_words(text: str) -> int | None:
    """The whole number that number words say, up to 999 ("seventy" 70, "twenty-five" 25,
    "a hundred" 100, "two hundred and five" 205), or None when they say none or do not make
    one number ("seven eight")."""
    said = [w for w in re.split(r"[\s-]+", text.lower().strip()) if w != "and"]
    value = 0
    if len(said) >= 2 and said[1] == "hundred" and (said[0] == "a" or 0 < UNIT_WORDS.get(said[0], 0) < 10):
        value, said = 100 * UNIT_WORDS.get(said[0], 1), said[2:]
    if said and said[0] in _TENS:
        value, said = value + _TENS[said[0]], said[1:]
        if said and 0 < UNIT_WORDS.get(said[0], 0) < 10:
            value, said = value + UNIT_WORDS[said[0]], said[1:]
    elif said and said[0] in UNIT_WORDS:
        value, said = value + UNIT_WORDS[said[0]], said[1:]
    elif value == 0:
        return None
    return None if said else value


def percentages_as_written(text: str, corpus_words: frozenset[str]) -> str:
    """The text with each percentage written the way the corpus writes it (`corpus_words`: the
    index vocabulary), each figure of a range too ("70 or 80 percent" -> "70% or 80%"). One the
    corpus writes as typed is left alone; one it writes in neither form becomes "N%", which a
    reply can quote."""
    def written(match: re.Match[str]) -> str:
        typed = match.group(0)
        if all(normalize(w) in corpus_words for w in words(typed)):
            return typed
        figure = match.group("figure")
        if not figure[0].isdigit():
            value = number_from_words(figure)
            return typed if value is None else _as_written(str(value), corpus_words)
        parts = _RANGE_WORD.split(figure)  # figures at even places, what joins them at odd ones
        return "".join(part if n % 2 else _as_written(part, corpus_words) for n, part in enumerate(parts))

    lowered = text.lower()
    if "%" not in text and "per" not in lowered and "pct" not in lowered:  # most questions: no pass over them
        return text
    return _PERCENTAGE.sub(written, text)


def _as_written(value: str, corpus_words: frozenset[str]) -> str:
    if f"{value}%" in corpus_words:
        return f"{value}%"
    if value in corpus_words:
        return f"{value} per cent" if "cent" in corpus_words and "percent" not in corpus_words else f"{value} percent"
    return f"{value}%"
