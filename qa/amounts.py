"""A large amount in a question, written as its corpus writes it: "$1 million", "$1M", "one
million dollars" and "1000000" are "1,000,000" in an article that writes "US$1,000,000", and
"2,500,000" is "2.5 million" in one that writes "2.5 million". Typed another way, the figure was
one the article "never mentions" ("It never mentions “1000000”"), or a figure other than the
sentence's, and "Who offers a 1 million dollar prize?" was declined.

Only amounts that say they are large take part: a figure with a scale word ("million", "bn"),
a figure grouped by commas, or five figures or more. A letter alone as the scale ("1M", "5k")
counts only after a currency sign: "5m" may be five metres. An amount the corpus writes as
typed, or writes in no form, stays as typed."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from qa.percentages import number_from_words
from qa.text import normalize, words

# Each scale, its words, and the letters that stand for it after a currency sign.
_SCALES = ((Decimal(10) ** 12, ("trillion", "tn"), ("t",)),
           (Decimal(10) ** 9, ("billion", "bn"), ("b",)),
           (Decimal(10) ** 6, ("million", "mn", "mln"), ("m",)),
           (Decimal(10) ** 3, ("thousand",), ("k",)))
_SCALE_OF = {word: size for size, spelt, letters in _SCALES for word in (*spelt, *letters)}
_SPELT = "|".join(word for _size, spelt, _letters in _SCALES for word in spelt)
_LETTERS = "|".join(letter for _size, _spelt, letters in _SCALES for letter in letters)
_MANTISSA_WORDS = r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|twenty|fifty|a\s+hundred|hundred)"
_AMOUNT = re.compile(
    rf"(?<![\w'’.,-])(?P<sign>[$€£¥])?"
    rf"(?:(?P<figure>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)|(?P<said>{_MANTISSA_WORDS}))"
    rf"(?:\s*-?\s*(?P<scale>{_SPELT})s?|(?(sign)(?P<letter>{_LETTERS})))?(?![\w'’-]|[.,]\d)",
    re.IGNORECASE)
_HINT = re.compile(rf"\d|\b(?:{_SPELT})", re.IGNORECASE)


def amounts_as_written(text: str, corpus_words: frozenset[str]) -> str:
    """The text with each large amount the corpus does not write as typed put in a form the
    corpus writes (`corpus_words`: the index vocabulary): grouped by commas, in plain figures,
    or as a figure and a scale word."""
    if not _HINT.search(text):  # most questions: no pass over them
        return text

    def written(match: re.Match[str]) -> str:
        typed = match.group(0)
        value = _value(match)
        if value is None:
            return typed
        form = next((f for f in _forms(value) if _is_written(f, corpus_words)), None)
        if form is None or typed.lstrip("$€£¥") == form or (" " in form and _is_written(typed, corpus_words)):
            return typed
        return f"{match.group('sign') or ''}{form}"

    return _AMOUNT.sub(written, text)


def _value(match: re.Match[str]) -> Decimal | None:
    """The amount a match says, or None when it does not say a large one."""
    figure, scale = match.group("figure"), match.group("scale") or match.group("letter")
    if figure is None:
        said = re.sub(r"\s+", " ", match.group("said").lower())
        mantissa = 1 if said in ("a", "an") else number_from_words(said)
        if mantissa is None or scale is None:
            return None
        figure = str(mantissa)
    elif scale is None and "," not in figure and len(figure.split(".")[0]) < 5:
        return None  # "1853", "42": no sign of a large amount
    try:
        value = Decimal(figure.replace(",", ""))
    except InvalidOperation:
        return None
    return value * _SCALE_OF[scale.lower()] if scale else value


def _forms(value: Decimal) -> list[str]:
    """Ways an article may write `value`: grouped, plain, then each scale that leaves a short
    figure ("2.5 million", "2.5mn", "2.5m"). A form of one word comes first: the corpus writes
    it as such, where "2.5" and "million" may be written apart."""
    forms = []
    if value == value.to_integral_value():
        whole = int(value)
        forms += [f"{whole:,}", str(whole)]
    for size, spelt, letters in _SCALES:
        mantissa = value / size
        if mantissa >= 1 and mantissa == mantissa.quantize(Decimal("0.01")):
            short = _plain(mantissa)
            forms += [f"{short} {word}" for word in spelt] + [f"{short}{word}" for word in (*spelt, *letters)]
    return forms


def _plain(number: Decimal) -> str:
    """A number without trailing zeros or an exponent: 2.50 -> "2.5", 1E+1 -> "10"."""
    text = format(number.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _is_written(form: str, corpus_words: frozenset[str]) -> bool:
    """Whether every word of `form` is one the corpus uses."""
    said = [normalize(w) for w in words(form)]
    return bool(said) and all(w in corpus_words for w in said)
