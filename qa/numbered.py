"""A numbered name in a question, written as its corpus writes it: "World War 2", "WWII", "WW2"
and "the Second World War" are "World War II" in an article that writes "World War II", and
"World War II" is "the Second World War" in one that writes that. Typed another way, the
number or the ordinal was a name the corpus never mentions ("It never mentions “2”"), and the
question was declined.

The corpus's numbered names are read when the index is built: a run of one to three
capitalised words then a number in Roman or Arabic figures ("World War II", "Apollo 11"), or
an ordinal then such a run ("Second World War"). A question's mention is rewritten only when
it names one of them (the same words and number, or their initials and number) in a form the
corpus does not write."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from qa.answer_type import ORDINAL, ORDINAL_WORDS
from qa.text import STOPWORDS

_ORDINAL_VALUE = {word: n for n, word in enumerate(ORDINAL_WORDS, 1)}
_ROMAN = re.compile(r"(?=[IVXL])(L?X{0,3})(IX|IV|V?I{0,3})")
_ROMAN_VALUE = {"I": 1, "V": 5, "X": 10, "L": 50}
_CAPITALISED = r"[A-Z][a-z]+"
_NUMBER = r"(?:[IVXL]{1,6}|\d{1,2}(?:st|nd|rd|th)?)"
# "World War II", "Apollo 11": capitalised words, then a number.
_SUFFIXED = re.compile(rf"(?<![\w'’-])((?:{_CAPITALISED}\s+){{1,3}})({_NUMBER})(?![\w'’-])")
# "Second World War": an ordinal, then capitalised words (in a question, perhaps typed in lower case).
_PREFIXED = re.compile(rf"(?<![\w'’-])((?i:{ORDINAL}))\s+((?:{_CAPITALISED}\s+){{0,2}}{_CAPITALISED})(?![\w'’-])")
_PREFIXED_TYPED = re.compile(rf"(?<![\w'’-])({ORDINAL})\s+((?:[A-Za-z]+\s+){{0,2}}[A-Za-z]+)(?![\w'’-])", re.I)
# "WWII", "WW2", "WW II": initials, then a number.
_INITIALLED = re.compile(r"(?<![\w'’-])([A-Za-z]{2,4}?)\s?([IVXL]{1,6}|\d{1,2})(?![\w'’-])")
_MAX = 50

Key = tuple[tuple[str, ...], int]


def number_value(token: str) -> int | None:
    """1 to 50 from "II", "2", "2nd" or "second"; None from anything else."""
    token = token.strip()
    value: int | None = None
    if token.lower() in _ORDINAL_VALUE:
        value = _ORDINAL_VALUE[token.lower()]
    elif re.fullmatch(r"\d{1,2}(?:st|nd|rd|th)?", token, re.IGNORECASE):
        value = int(re.match(r"\d+", token).group(0))  # type: ignore[union-attr]
    elif _ROMAN.fullmatch(token):
        digits = [_ROMAN_VALUE[c] for c in token]
        value = sum(-d if i + 1 < len(digits) and d < digits[i + 1] else d for i, d in enumerate(digits))
    return value if value is not None and 0 < value <= _MAX else None


@dataclass(frozen=True)
class NumberedNames:
    """The corpus's numbered names: each (name words, number) -> the form it writes most, and
    every form it writes (in lower case). Read once, when the index is built."""

    written: dict[Key, str] = field(default_factory=dict)
    forms: frozenset[str] = frozenset()
    initialled: dict[tuple[str, int], str] = field(init=False)  # ("ww", 2) -> "World War II"

    def __post_init__(self) -> None:
        initialled: dict[tuple[str, int], str] = {}
        for (words, number), form in sorted(self.written.items()):
            if len(words) >= 2:
                initialled.setdefault(("".join(w[0] for w in words), number), form)
        object.__setattr__(self, "initialled", initialled)

    @classmethod
    def of(cls, texts: Iterable[str]) -> "NumberedNames":
        counts: dict[Key, dict[str, int]] = {}
        for text in texts:
            for key, form in _mentions(text):
                by_form = counts.setdefault(key, {})
                by_form[form] = by_form.get(form, 0) + 1
        written = {key: max(forms, key=lambda f: (forms[f], f)) for key, forms in counts.items()}
        return cls(written, frozenset(f.lower() for forms in counts.values() for f in forms))

    def to_json(self) -> dict[str, Any]:
        return {"written": [[list(words), number, form] for (words, number), form in sorted(self.written.items())],
                "forms": sorted(self.forms)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "NumberedNames":
        """Raises KeyError, TypeError or ValueError on a damaged record."""
        written = {(tuple(str(w) for w in words), int(number)): str(form) for words, number, form in data["written"]}
        if not isinstance(data["forms"], list):
            raise TypeError("the numbered names' forms are not a list")
        return cls(written, frozenset(map(str, data["forms"])))

    def as_written(self, text: str) -> str:
        """The text with each numbered name the corpus writes otherwise put in the corpus's form."""
        if not self.written:
            return text
        text = _PREFIXED_TYPED.sub(lambda m: self._prefixed(m), text)
        text = _SUFFIXED.sub(lambda m: self._suffixed(m), text)
        return _INITIALLED.sub(lambda m: self._initialled(m), text)

    def _prefixed(self, match: re.Match[str]) -> str:
        number = number_value(match.group(1))
        words = match.group(2).split()
        for end in range(len(words), 0, -1):  # the longest run of words the corpus numbers
            if number is not None and self._numbers(words[:end], number):
                typed = f"{match.group(1)} {' '.join(words[:end])}"
                return " ".join([self._replace(typed, words[:end], number), *words[end:]])
        return match.group(0)

    def _suffixed(self, match: re.Match[str]) -> str:
        number = number_value(match.group(2))
        words = match.group(1).split()
        for start in range(len(words)):  # the longest run of words the corpus numbers
            if number is not None and self._numbers(words[start:], number):
                return " ".join(words[:start] + [self._replace(" ".join(words[start:] + [match.group(2)]),
                                                               words[start:], number)])
        return match.group(0)

    def _initialled(self, match: re.Match[str]) -> str:
        typed = match.group(0)
        if typed.lower() in self.forms:
            return typed
        whole = re.sub(r"\s", "", typed)
        for cut in range(2, len(whole)):  # "WWII": initials "WW" and "II", or "WWI" and "I"
            initials, number = whole[:cut], number_value(whole[cut:].upper() if whole[cut:].isalpha() else whole[cut:])
            if number is not None and initials.isalpha():
                form = self.initialled.get((initials.lower(), number))
                if form:
                    return form
        return typed

    def _numbers(self, words: list[str], number: int) -> bool:
        """Whether the corpus numbers these words: one word only as a name ("Apollo", not "war"
        in "the first war", though the corpus's "World War I" ends in "War I")."""
        if len(words) == 1 and not words[0][:1].isupper():
            return False
        return (tuple(w.lower() for w in words), number) in self.written

    def _replace(self, typed: str, words: list[str], number: int | None) -> str:
        if number is None or typed.lower() in self.forms:
            return typed
        return self.written.get((tuple(w.lower() for w in words), number), typed)


def _mentions(text: str) -> Iterable[tuple[Key, str]]:
    """(key, form as written) of each numbered name in the text."""
    for match in _SUFFIXED.finditer(text):
        number = number_value(match.group(2))
        words = match.group(1).split()
        while len(words) > 1 and words[0].lower() in STOPWORDS:  # "In Apollo 13": "Apollo 13"
            words = words[1:]
        if number is None:
            continue
        for start in range(max(1, len(words) - 1)):  # "Great World War II" also names "World War II", not "War II"
            yield (tuple(w.lower() for w in words[start:]), number), " ".join(words[start:] + [match.group(2)])
    for match in _PREFIXED.finditer(text):
        number = number_value(match.group(1))
        if number is not None and match.group(2)[:1].isupper():
            yield (tuple(w.lower() for w in match.group(2).split()), number), match.group(0)
