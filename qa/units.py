"""A unit in a question, written as its corpus writes that unit: "kilometres" is "km" in an
article that writes "km", "km" is "kilometers" in one that writes "kilometers". Typed another
way the unit was a word the corpus never uses, and a figure question about it was declined
with "It never mentions “kilometres”".

Only forms of two letters or more take part: "m", "g" or "in" would be read in words that
are no units."""

from __future__ import annotations

import re
from typing import Iterable

from qa.text import normalize, stem

# Each line: the forms of one unit. Forms that name something else too are left out ("pound"
# is money, "second" an order, "min" a minimum, "foot" and "yard" things, "square" a shape;
# "ton" and "tonne" differ).
_UNIT_FORMS = """\
km kms kilometre kilometres kilometer kilometers
cm centimetre centimetres centimeter centimeters
mm millimetre millimetres millimeter millimeters
metre metres meter meters
mi mile miles
kg kgs kilogram kilograms kilogramme kilogrammes kilo kilos
gram grams gramme grammes
mg milligram milligrams
lb lbs
ft feet
inch inches
yd yds
hr hrs hour hours
mins minute minutes
yr yrs year years
ha hectare hectares
litre litres liter liters
ml millilitre millilitres milliliter milliliters
kph kmh
"""


def form_groups(table: str) -> dict[str, tuple[str, ...]]:
    """Each form of a table whose lines list the forms of one thing -> the forms of its line."""
    return {form: tuple(line.split()) for line in table.splitlines() for form in line.split()}


_GROUP = form_groups(_UNIT_FORMS)
_UNIT_WORD = re.compile(r"(?<![\w'’.-])(" + "|".join(sorted(map(re.escape, _GROUP), key=len, reverse=True))
                        + r")(?![\w'’-])", re.IGNORECASE)


# A metric ton is a tonne (a ton alone is not: the short and long tons differ from it).
_METRIC_TON = re.compile(r"(?<![\w'’-])metric\s+(ton)(s?)(?![\w'’-])", re.IGNORECASE)


def units_as_written(text: str, corpus_words: frozenset[str], corpus_stems: frozenset[str]) -> str:
    """The text with each unit the corpus never writes as typed put in a form of it the corpus
    does write (`corpus_words` and `corpus_stems`: the index's); the others as typed."""
    def written(match: re.Match[str]) -> str:
        typed = match.group(0)
        word = normalize(typed)
        if word in corpus_words or stem(word) in corpus_stems:
            return typed
        return next((form for form in _GROUP.get(word, ()) if form in corpus_words), typed)

    if "metric" not in corpus_words and {"tonne", "tonnes"} & corpus_words:
        text = _METRIC_TON.sub(lambda m: f"{m.group(1)}ne{m.group(2)}", text)
    return _UNIT_WORD.sub(written, text)


# A currency sign before a figure ("US$1,000,000") or after one ("5 €"), and the words for it.
_SIGNS = {"$": ("dollar", "dollars", "usd"), "€": ("euro", "euros", "eur"), "£": ("pound", "pounds", "sterling", "gbp"),
          "¥": ("yen", "yuan")}
_AMOUNT = re.compile(r"([$€£¥])\d|\d\s([€£¥])(?!\w)")  # not "$x + 1$", a formula
_CURRENCY_WORDS = frozenset("""dollar dollars euro euros pound pounds sterling yen yuan franc francs rupee rupees
    rouble roubles ruble rubles peso pesos lira lire shilling shillings guilder guilders krona kronor krone""".split())


def money_words(texts: Iterable[str], corpus_words: frozenset[str]) -> frozenset[str]:
    """Words for money that a corpus speaks of without writing them: "dollars" where it writes
    "US$1,000,000" (words drop the sign), and "money" where it writes any amount or currency.
    "How much money is the prize?" was declined with "It never mentions “money”"."""
    signs = {sign for text in texts for match in _AMOUNT.finditer(text) for sign in match.groups() if sign}
    found = {word for sign in signs for word in _SIGNS[sign]}
    if found or corpus_words & _CURRENCY_WORDS:
        found.add("money")
    return frozenset(found - corpus_words)
