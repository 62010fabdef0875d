"""What kind of answer a question asks for, and which kinds a sentence can give.

A question that asks "when" is answered by a sentence holding a time, "how many" by one
holding a figure, "who" and "where" by one naming something the question does not. These
are rules of English, not of any article: dates of every era and form (911, "the 880s",
"9th century", "last year"), numbers written in figures or in words, and names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from qa.text import STOPWORDS, normalize, words

DATE, NUMBER, NAME, REASON, OTHER = "date", "number", "name", "reason", "other"

MONTH = (r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
         r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)")
# The ordinals written in words, the n-th at place n - 1.
ORDINAL_WORDS = tuple("""first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth
    thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth twenty-first
    twenty-second""".split())
ORDINAL = rf"(?:\d{{1,2}}(?:st|nd|rd|th)|{'|'.join(ORDINAL_WORDS)})"  # "19th", "nineteenth"
# "the forties": a decade, or an age ("in his forties").
_DECADES = ("twenties", "thirties", "forties", "fifties", "sixties", "seventies", "eighties", "nineties")
_DECADE_WORD = "(?:" + "|".join(_DECADES) + ")"
# Words before a bare 3- or 4-digit figure that make it a year ("in 911", "by 2030", "since 1041").
_YEAR_CUE = r"(?:in|by|since|from|until|till|to|after|before|around|circa|c\.|about|of|during|year|years|early|late|mid|spring|summer|autumn|fall|winter)"
_DATE = re.compile(
    r"\b(?:1[0-9]{3}|20[0-9]{2})\b(?!\s*(?:%|percent|per\b))"  # a four-digit year
    rf"|\b{_YEAR_CUE}\s+(?:the\s+year\s+)?\d{{3,4}}\b(?!\s*(?:%|percent))"  # "in 911"
    r"|\b\d{1,4}\s*(?:AD|BC|BCE|CE|A\.D\.|B\.C\.)(?!\w)|\b(?:AD|A\.D\.)\s*\d{1,4}\b"
    r"|\b(?:the\s+)?(?:\d{1,3}0s|\d{2}0's|'\d0s)\b"  # "the 880s", "1990s", "'90s"
    rf"|\b{ORDINAL}(?:\s*(?:and|or|to|-)\s*{ORDINAL})?\s+centur(?:y|ies)\b"  # "10th and 11th centuries"
    rf"|\b{ORDINAL}\s+millenni(?:um|a)\b"
    rf"|\b{MONTH}\b\.?\s*(?:\d{{1,2}}\b|\d{{4}}\b)|\b\d{{1,2}}\s+{MONTH}\b"
    r"|\b(?:last|next|this|past|previous|coming|following|same)\s+(?:year|decade|century|month|week|spring|summer|autumn|winter)\b"
    # When something recurs: "every April", "each summer", "on Mondays". A bare month in a
    # narrative ("In March, the Soviets ...") is a date without its year, and stays none.
    r"|\b(?:every|each)\s+(?:january|february|march|april|may|june|july|august|september|october|november"
    r"|december|spring|summer|autumn|fall|winter|(?:mon|tues|wednes|thurs|fri|satur|sun)day|weekend)\b"
    r"|\bon\s+(?:mon|tues|wednes|thurs|fri|satur|sun)days\b"
    r"|\b(?:\w+|\d+)\s+(?:years?|decades?|centuries|months?|weeks?|days?)\s+(?:ago|later|earlier|before|after)\b"
    r"|\b(?:today|yesterday|nowadays|recently|currently|annually|medieval|ancient|prehistoric)\b"
    rf"|\b(?:{_YEAR_CUE}|class\s+of)\s+['’]\d{{2}}\b"  # "the spring of '45"
    rf"|\b(?:(?:early|mid|late)[- ])?{_DECADE_WORD}\b"  # "the late forties"
    r"|\b(?:reign|rule)\s+of\b|\b(?:middle|dark|bronze|iron|stone|ice|gilded|golden|viking)\s+ages?\b"
    r"|\b(?:antiquity|prehistory|renaissance|neolithic|paleolithic|mesolithic|interwar|postwar|prewar|wartime)\b",
    re.I,
)
# A named period: "the Edo period", "the Victorian era", "the Tang dynasty", "the Bronze Age".
_ERA = re.compile(r"\b(?!(?:The|This|That|These|Those|Each|Every|Its|Their|His|Her|Our|One|Another|Any|No|Some|Which"
                  r"|What|Whose|Same|Next|Last|First|Final|Long|Short|Brief|Later|Early|Late)\b)"
                  r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?\s+(?:[Ee]ra|[Pp]eriod|[Dd]ynasty|Age)\b")
_NUMBER_WORDS = frozenset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds thousand
    thousands million millions billion billions trillion trillions dozen dozens half halves quarter quarters
    third thirds twice thrice double triple single several numerous fortnight fortnights""".split()
) | frozenset(_DECADES)
_NUMBER = re.compile(r"\d|%")
# A span of time ("about 3 to 4 months", "two weeks", "a few days"): when something will happen,
# to a question on what is done now ("When do I get a decision?"), not on the past. "A day" alone
# is left out: "twice a day", "40,000 tonnes a year" are rates.
_SPAN_COUNT = r"(?:\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_DURATION = re.compile(
    rf"\b(?:{_SPAN_COUNT}|a\s+few|a\s+couple\s+of|several)(?:\s*(?:to|-|–|or)\s*{_SPAN_COUNT})?"
    r"\s+(?:business\s+|working\s+|calendar\s+)?(?:minutes?|hours?|days?|weeks?|months?|years?)\b", re.I)
_WHEN_NOW = re.compile(r"\bwhen\s+(?:do|does|will|would|can|could|should|shall|is|are|am|might|may|must)\b", re.I)
# A count, a span, an age or a size: figures a percentage never is ("how many percent" asks for one).
_ASKS_NO_PERCENT = re.compile(
    r"\bhow\s+(?:many|long|old|far|tall|wide|deep|heavy)\b(?!\s+(?:percent|percentage|per\s+cent|ago)\b)", re.I)
# Cues that a sentence gives a reason.
_REASON = re.compile(
    r"\b(?:because|since|due\s+to|owing\s+to|thanks\s+to|as\s+a\s+result|result(?:s|ed)?\s+in|so\s+that|in\s+order\s+to"
    r"|lead(?:s|ing)?\s+to|led\s+to|caus(?:e|es|ed|ing)|reason|therefore|thus|hence|aim(?:s|ed|ing)?\s+to|so\s+as\s+to)\b",
    re.I,
)

# What a figure measures, after "what is the" or a possessive ("what was its population").
_MEASURE = ("price|cost|size|rate|portion|population|total|value|sum|figure|quantity|speed|length|distance"
            "|capacity|age")

# An auxiliary opening a question: it asks yes or no.
_YES_NO_OPENER = r"(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might|must)"

# Words that wrap a question in a request ("Can you tell me when ...", "Do you know who ...",
# "Does the article say why ..."): the question word after them still says what is asked.
_LEAD_IN = (r"\b(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:tell|show)\s+me|tell\s+me|do\s+you\s+know"
            r"|(?:does|do|did)\s+(?:it|they|the\s+\w+)\s+(?:say|mention|tell\s+us)|i\s+(?:want|would\s+like|need)\s+to\s+know"
            r"|i['’]d\s+like\s+to\s+know|i\s+wonder|i['’]m\s+wondering|any\s+idea|find\s+out)\s+")

_QUESTION_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (DATE, re.compile(
        # "When" opening a question before a verb ("When was ...", "and when did ..."), not a
        # "when" that opens a clause ("When time is short, what ...?").
        r"^\W*(?:(?:and|so|but|then)\s+)?when\s+(?:was|were|is|are|did|do|does|will|would|can|could|has|have|had"
        r"|should|shall|might|may|must)\b|^\W*(?:(?:and|so|but|then)\s+)?when\W*$|\b(?:since|until|till|by|from)\s+when\b"
        r"|\b(?:what|which|in\s+what|in\s+which)\s+(?:year|years|date|day|month|decade|century|centuries|era|period|time|season)\b"
        rf"|\bhow\s+long\s+ago\b|\bwhat\s+time\b|{_LEAD_IN}when\b", re.I)),
    (NUMBER, re.compile(
        r"\bhow\s+(?:many|much|long|far|big|large|old|tall|high|often|fast|heavy|wide|deep|small|few|low)\b"
        r"|\b(?:what|which)\s+(?:is\s+the\s+|was\s+the\s+|are\s+the\s+)?(?:percent|percentage|share|proportion|fraction|number|amount"
        rf"|{_MEASURE})\b"
        # ... or whose measure it is: "What is China's share of the market?", "What was its population?"
        r"|\b(?:what|which)\s+(?:is|was|are|were)\s+(?:(?:the\s+)?(?:[A-Z][\w.-]*\s+){0,2}[\w.-]+['’]s?|its|their|his|her)\s+(?:[\w-]+\s+)?"
        rf"(?:percent|percentage|share|proportion|fraction|number|amount|{_MEASURE})\b"
        # ... or a question that is only the measure: "Number of ships Perry brought?"
        rf"|^\W*(?:the\s+)?(?:percentage|share|proportion|fraction|number|amount|{_MEASURE})\s+of\b"
        r"|\bby\s+how\s+much\b"
        # A bare cue, in a question that does not ask yes or no ("China's market share?", not
        # "Is its market share growing?"), and not after a figure, which it states: "Do 40
        # percent of them fish?" asks whether, not what figure.
        rf"|^(?!\W*(?:(?:and|so|but)\s+)?{_YES_NO_OPENER}\b).*?(?:\bmarket\s+share\b|(?<!\d)(?<!\d\s)\bpercent(?:age)?\b"
        r"|\bproportion\b)", re.I | re.S)),
    (NAME, re.compile(
        r"^\W*(?:(?:and|so|but|then)\s+)?(?:who|whom|whose)\b|\b(?:who|whom|whose)\s+(?:is|was|were|are|did|does|do|had|has)\b"
        r"|^\W*(?:(?:and|so|but|then)\s+)?where\b|\bwhere\s+(?:is|was|were|are|did|does|do)\b"
        r"|\b(?:what|which)\s+(?:person|people|company|companies|country|countries|city|cities|nation|nations|organi[sz]ation"
        r"|group|team|state|states|region|continent|place|location|town|river|island|man|woman|name|king|queen|leader"
        rf"|scientist|author|firm|brand|university|agency)\b|{_LEAD_IN}(?:who|whom|whose|where)\b", re.I)),
    (REASON, re.compile(r"^\W*(?:(?:and|so|but)\s+)?why\b|\bwhat\s+(?:caused|causes|is\s+the\s+reason|was\s+the\s+reason)\b"
                        rf"|\bfor\s+what\s+reason\b|\bhow\s+come\b|{_LEAD_IN}why\b", re.I)),
)

_NEGATION = frozenset({"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "cannot", "unable"})
# Pairs of common English words of opposite meaning: a question that swaps one for the other
# ("increase" for "decrease") is no longer answered by the sentence it was copied from.
_OPPOSITES = (
    "increase decrease, increased decreased, increases decreases, increasing decreasing, more less, more fewer, "
    "most least, higher lower, high low, larger smaller, large small, big small, bigger smaller, biggest smallest, "
    "largest smallest, greater lesser, maximum minimum, upper lower, best worst, better worse, first last, "
    "earlier later, early late, earliest latest, before after, older newer, old new, oldest newest, long short, "
    "longer shorter, longest shortest, fast slow, faster slower, easy hard, easier harder, easy difficult, "
    "include exclude, included excluded, inside outside, internal external, input output, positive negative, "
    "true false, same different, similar different, open closed, public private, add remove, added removed, "
    "win lose, won lost, start end, begin end, beginning end, above below, north south, east west, "
    "northern southern, eastern western, left right, rise fall, rose fell, gain loss, accept reject, "
    "accepted rejected, allow forbid, allowed forbidden, allow prohibit, success failure, succeeded failed, "
    "strong weak, stronger weaker, rich poor, heavy light, hot cold, wet dry, always never, all none, many few, "
    "majority minority, top bottom, front back, import export, imports exports, buy sell, bought sold, "
    "lend borrow, sufficient insufficient, necessary unnecessary, known unknown, common rare, "
    "simple complex, simpler harder, cheap expensive, cheaper costlier, lowest highest, inner outer, "
    "agree disagree, support oppose, supported opposed, same opposite, maximal minimal, above under, "
    "over under, entry exit, arrive depart, arrived departed, born died, birth death, war peace, "
    "ancient modern, past future, previous next, former latter, ally enemy, allies enemies, "
    "victory defeat, won defeated, pass fail, passed failed, present absent, rural urban, young old, "
    "younger older, youngest oldest, male female, men women, husband wife, father mother, son daughter, "
    "king queen, man woman, boy girl, brother sister, legal illegal, official unofficial, true untrue"
)
OPPOSITES = frozenset(frozenset(pair.split()) for pair in _OPPOSITES.split(", "))
_PRONOUN_START = re.compile(r"^\W*(?:it|its|they|their|them|he|his|she|her|this|these|those|that|such|both|the\s+latter"
                            r"|the\s+former)\b", re.I)


def question_type(question: str) -> str:
    """DATE, NUMBER, NAME, REASON or OTHER: what kind of thing the question asks for."""
    for kind, pattern in _QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return OTHER


_YES_NO_QUESTION = re.compile(rf"^(?!\W*(?:(?:and|so|but|then)\s+)?{_LEAD_IN}(?:who|whom|whose|what|which|when|where|why"
                              rf"|how)\b)\W*(?:(?:and|so|but|then)\s+)?{_YES_NO_OPENER}\b", re.I)


def asks_yes_or_no(question: str) -> bool:
    """Whether the question asks yes or no ("Does everyone need an exam?"), not what, when or
    why; a request wrapping a question word ("Can you tell me when ...?") asks what that word asks."""
    return bool(_YES_NO_QUESTION.search(question))


def dates(text: str) -> list[str]:
    """Time expressions in the text, as written."""
    found = [m.group(0) for m in _DATE.finditer(text)] + [m.group(0) for m in _ERA.finditer(text)]
    return list(dict.fromkeys(found))  # "the Bronze Age" is found by both patterns


def has_number(text: str) -> bool:
    """A figure, a percentage or a number word ("three", "a dozen", "millions")."""
    return bool(_NUMBER.search(text)) or any(normalize(w) in _NUMBER_WORDS for w in words(text))


def number_tokens(text: str) -> frozenset[str]:
    """The figures and number words of the text, normalised, so a question's own figures can be told apart."""
    return frozenset(w for w in (normalize(t) for t in words(text)) if any(ch.isdigit() for ch in w) or w in _NUMBER_WORDS)


def names(text: str) -> frozenset[str]:
    """Normalised words written with a capital where a sentence does not start them."""
    tokens = words(text)
    found = set()
    for i, token in enumerate(tokens):
        if i == 0 or not token[:1].isupper():
            continue
        word = normalize(token)
        if word not in STOPWORDS:
            found.add(word)
    return frozenset(found)


def gives_reason(text: str) -> bool:
    return bool(_REASON.search(text))


def negated(text: str) -> bool:
    """Says "not", "never", "no" ...: a question copied from a sentence with "not" added asks something else."""
    return any(normalize(w) in _NEGATION or normalize(w).endswith("n't") for w in words(text))


_NEGATING_PREFIXES = ("un", "in", "im", "ir", "il", "non", "dis", "non-", "a")


@lru_cache(maxsize=None)
def _opposite_table() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for pair in OPPOSITES:
        a, b = tuple(pair)
        table.setdefault(a, set()).add(b)
        table.setdefault(b, set()).add(a)
    return {word: frozenset(others) for word, others in table.items()}


def opposites_of(word: str) -> frozenset[str]:
    """Words meaning the opposite of `word`: its common opposites, and its forms with a negating
    prefix added or taken away."""
    found = set(_opposite_table().get(word, ()))
    if len(word) > 3:
        found.update(prefix + word for prefix in _NEGATING_PREFIXES)
    for prefix in _NEGATING_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) > 3:
            found.add(word[len(prefix):])
    return frozenset(found)


def opposite(a: str, b: str) -> bool:
    """Whether two normalised words mean the opposite: a common pair ("earlier", "later"), or one
    is the other with a negating prefix ("unconnected", "connected")."""
    if a == b:
        return False
    if frozenset((a, b)) in OPPOSITES:
        return True
    longer, shorter = (a, b) if len(a) >= len(b) else (b, a)
    return len(shorter) > 3 and any(longer == prefix + shorter for prefix in _NEGATING_PREFIXES)


def starts_with_reference(text: str) -> bool:
    """Opens with a pronoun or "this/these": its subject is in the sentence before."""
    return bool(_PRONOUN_START.match(text))


@dataclass(frozen=True, slots=True)
class Offer:
    """What one sentence can answer: the kinds of thing it holds, found once at index time."""

    dates: frozenset[str]
    numbers: frozenset[str]
    names: frozenset[str]
    reason: bool
    negated: bool
    refers_back: bool
    duration: bool

    @classmethod
    def of(cls, text: str) -> "Offer":
        return cls(dates=frozenset(d.lower() for d in dates(text)), numbers=number_tokens(text), names=names(text),
                   reason=gives_reason(text), negated=negated(text), refers_back=starts_with_reference(text),
                   duration=bool(_DURATION.search(text)))

    def gives(self, kind: str, question_text: str, question_words: frozenset[str]) -> bool:
        """Whether the sentence holds a thing of `kind` that the question does not already hold."""
        if kind == DATE:
            asked = question_text.lower()
            return any(d not in asked for d in self.dates) or (self.duration and bool(_WHEN_NOW.search(question_text)))
        if kind == NUMBER:
            given = self.numbers - question_words
            if _ASKS_NO_PERCENT.search(question_text):
                # "How many factories ...?" asks for a count and "How long ...?" for a span.
                given = {n for n in given if not n.endswith("%")}
            return bool(given)
        if kind == NAME:
            return bool(self.names - question_words)
        if kind == REASON:
            return self.reason
        return True
