"""Question -> what to search for: follow-up resolution against earlier turns, and the
question's terms that the corpus never uses (evidence that the article cannot answer it)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from qa import answer_type
from qa.amounts import amounts_as_written
from qa.chunking import split_sentences
from qa.counts import counts_as_written
from qa.errors import QuestionInvalid
from qa.percentages import percentages_as_written
from qa.text import POSSESSIVE as _POSSESSIVE
from qa.text import STOPWORDS, content_words, has_number, normalize, stem, words
from qa.titles import titles_as_written
from qa.units import units_as_written
from qa.years import years_as_written

_DEMONYM_ENDINGS = ("an", "ese", "ish", "ic", "ian", "i")  # European, Chinese, British, Arabic, Iraqi
# The endings that make a people's adjective of a country's name (korea-n, mexic-an, brazil-ian,
# japan-ese, iraq-i): fewer than above, since "-ic" or "-ish" would make words ("cubic").
_DEMONYM_SUFFIXES = ("n", "an", "ian", "ese", "i")
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
# "the" and a short word in lower case without full stops: "and the us?" (not "the U.S.").
_AFTER_THE = re.compile(r"(\b[Tt]he\s+)([a-z]{2,4})(?![\w'’.-])")
_NAME_LINKS = frozenset({"and", "of", "the"})  # lower case inside a name: "Bosnia and Herzegovina"
_TRAILING_POSSESSIVE = re.compile(r"^\W*['’]s\b|['’]s\W*$")
# Openers that make a question lean on the previous one ("What about Europe?").
_FOLLOW_UP_OPENER = re.compile(
    r"^\s*(?:and\s+|but\s+|so\s+|also\s+)?(?:what|how)\s+about\b|^\s*(?:and|but|also|same for|what of|how so)\b",
    re.IGNORECASE,
)
# "Does that ...", "is this ...": a demonstrative standing for what was just discussed.
_REFERS_BACK = re.compile(r"^\W*(?:that|this|these|those)\b|\b(?:does|do|did|is|are|was|were|will|would|can|could|has|have"
                          r"|had|about|of|from|with|for|by|to|on)\s+(?:that|this|these|those)\b(?!\s+\w+(?:s|ing)\b)", re.I)
_MARKUP = re.compile(r"</?[A-Za-z][^<>]{0,200}>|<!--.*?-->")
_INITIALISM = re.compile(r"(?:[A-Za-z]\.){2,}")
SUBJECT_PRONOUNS = frozenset({"it", "they", "them", "he", "she", "him", "her"})
POSSESSIVE_PRONOUNS = frozenset({"its", "their", "his"})
PERSON_PRONOUNS = frozenset({"he", "she", "him", "her", "his"})
GROUP_PRONOUNS = frozenset({"they", "them", "their"})
PRONOUNS = SUBJECT_PRONOUNS | POSSESSIVE_PRONOUNS  # those a name can stand in for
# "When did the British start theirs?": a possessive standing for a thing the previous question
# named, not for a name; "British's" would say nothing.
STANDALONE_POSSESSIVES = frozenset({"theirs", "hers", "ours", "yours"})
# "Who leads ...?", "Which president authorized ...?": the question asks who did something, so
# a pronoun in the next question most likely stands for its answer. Not "Who did Abbott
# marry?" nor "Which college did he attend?" (an auxiliary, then the subject: the answer is
# the object), nor "where".
_ASKS_WHO = re.compile(r"^\W*(?:(?:and|so|but|then)\s+)?who\b", re.IGNORECASE)
_WH_OPENING = re.compile(r"^\W*(?:(?:and|so|but|then)\s+)?(?:who|which|what)\b", re.IGNORECASE)
_FIRST_AUXILIARY = re.compile(r"\b(?:(do|does|did|will|would|can|could|should|shall|might|may|must)"
                              r"|is|was|are|were|has|have|had)\s+(\w[\w.]*)", re.IGNORECASE)
_SUBJECT_WORDS = frozenset("he she they it you i we".split())
_DETERMINERS = frozenset("the a an this that these those his her their its my your our".split())
# Answers a name to an earlier question (the question, the turns before it), or None: the
# engine's own answer, which is what the user saw (`Engine._answered_name`).
NameAnswerer = Callable[[str, tuple[str, ...]], "str | None"]
# Words that name a kind of figure, not a measured thing (and the triggers' own adjectives).
_FIGURE_KINDS = frozenset("""large big fast far share shares percent percentage percentages proportion proportions fraction fractions
    number numbers amount amounts portion portions total totals quantity quantities figure figures rate rates part
    parts level levels degree extent""".split())
# An auxiliary opens the rest of a question's clause ("how many ships | did he bring").
_CLAUSE_VERB = re.compile(r"\b(?:do|does|did|is|are|was|were|be|been|has|have|had|will|would|can|could|should|"
                          r"shall|may|might|must)\b", re.I)
# "How many times", "how much time": a count of occasions or a span, which "twice a day" or "two
# hours" gives in an article that never writes "times". Left out of what a question names only;
# the answer model's feature keeps the reading it was trained on, as for the clause's verb.
_SPANS = frozenset({"time", "times"})
# Words that say when or how exactly, not what: "China's share as of today", "... currently".
_QUALIFIERS = frozenset("""today currently nowadays presently recently lately still already anymore actually
    approximately roughly exactly precisely overall altogether""".split())
_NAMING_NOTHING = _QUALIFIERS | _SPANS
_PHRASE_BREAK = re.compile(r"[,;:()\[\]!?]")  # a noun phrase does not run past these (full stops end "U.S.")
_PERIOD = re.compile(r"(\d{1,3})0s")  # a decade, or a century written as "the 1800s"
_ORDINAL = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")
_CENTURY = re.compile(r"\bcentur(?:y|ies)\b", re.I)
_QUANTITY = re.compile(
    r"\b(?:how\s+(?:much|many|large|big|fast|far)"
    r"|what\s+(?:percent|percentage|share|proportion|fraction|number|amount|price|cost)"
    r"|by\s+how\s+much|(?:market\s+)?share|percent(?:age)?|proportion|price"
    r"|how\s+much\s+(?:does|do|did)\b.*\bcost)\b",
    re.I,
)
_SUMMARY = re.compile(r"\b(?:summar\w*|overview|gist|tl;?dr|takeaways?|(?:main|key)\s+(?:points?|ideas?|messages?)|about)\b", re.I)
_SUMMARY_WORDS = frozenset({"summary", "summarize", "summarise", "summarized", "overview", "gist", "tl", "dr", "tldr", "main",
                            "point", "points", "key", "takeaway", "takeaways", "idea", "ideas", "message", "messages", "give", "short", "brief",
                            "quick", "whole", "piece", "whats",
                            # what a reader may call the text: "What is this page about?"
                            "page", "webpage", "document", "doc", "post", "story", "essay", "report", "paper", "text",
                            "biography", "bio", "chapter", "section", "passage", "entry"})
@dataclass(frozen=True, slots=True)
class Query:
    question: str  # as the user typed it, stripped
    searched_for: str  # the question resolved against the history
    is_follow_up: bool
    kind: str  # what it asks for: answer_type.DATE, NUMBER, NAME, REASON or OTHER
    # Terms the corpus never uses that name something specific (names, figures, initialisms,
    # hyphenated variants, measured units), as typed. Only these are embedded, to check for a
    # close corpus word: ordinary unknown words are readers' rewording.
    unknown_names: tuple[str, ...]
    names: frozenset[str] = frozenset()  # normalised names the question holds (capitalised, or the corpus's names)
    negated: bool = False
    # What a figure question measures ("global market" in "what percentage of the global
    # market ..."): the sentence giving the figure must speak of it. Names left out.
    measured: tuple[str, ...] = ()
    wants_summary: bool = False  # asks for the gist of the article, naming no topic


def clean_question(question: object, max_chars: int) -> str:
    """The question, stripped, or QuestionInvalid saying what is wrong with it."""
    if not isinstance(question, str):
        raise QuestionInvalid(f"The question must be text, not {type(question).__name__}.")
    if len(question) > max_chars:
        raise QuestionInvalid(
            f"The question is {len(question):,} characters long; the limit is {max_chars:,}. Ask something shorter."
        )
    text = printable(question).strip()
    if not text:
        raise QuestionInvalid("The question is empty. Type a question about the article.")
    if not words(text):
        raise QuestionInvalid("The question has no words to search for. Type a question about the article.")
    return " ".join(text.split())


def printable(text: str) -> str:
    """Control characters and lone surrogates (which no encoder can take) become spaces."""
    if text.isprintable():  # the usual case; a lone surrogate is not printable
        return text
    return "".join(ch if (ch.isprintable() or ch in "\n\t") and not "\ud800" <= ch <= "\udfff" else " " for ch in text)


def without_markup(text: str) -> str:
    """The text with HTML/XML tags taken out: a pasted `<b>` or `<script>` is not part of the question."""
    return " ".join(_MARKUP.sub(" ", text).split())


def unshouted(text: str) -> str:
    """A text typed all in capitals, in lower case: its capitals mark neither names nor
    initialisms ("WHAT IS CHINA'S SHARE?" names nothing the corpus lacks)."""
    has_letters = any(c.isalpha() for c in text)
    return text.lower() if has_letters and not any(c.islower() for c in text) else text


def with_country_capitals(text: str) -> str:
    """Countries of several words typed in lower case written as names ("what about the united
    states?" -> "... the United States?"), so that they count as names everywhere after (one of
    one word, "india", counts as a name already: `is_name`)."""
    return _lower_case_countries().sub(_capitalised, text)


def _capitalised(match: re.Match[str]) -> str:
    return " ".join(w if w in _NAME_LINKS else w[:1].upper() + w[1:] for w in match.group(0).split())


@lru_cache(maxsize=1)
def _lower_case_countries() -> re.Pattern[str]:
    """One search for every country name of several words, in lower case, longest first."""
    phrases = sorted((p for p in country_phrases() if " " in p), key=len, reverse=True)
    return re.compile(r"(?<![\w'’-])(?:" + "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases)
                      + r")(?![\w-])")


def analyse(question: str, history: tuple[str, ...], names: frozenset[str], corpus_stems: frozenset[str],
            corpus_words: frozenset[str] = frozenset(), resolve_follow_ups: bool = True,
            as_corpus_words: Callable[[str], str] | None = None, answered_name: NameAnswerer | None = None) -> Query:
    """What to search for and what kind of answer to look for. `names` and `corpus_stems` are
    the index's (`Index.names`, `Index.stems`); `corpus_words` its vocabulary, compounds included;
    `as_corpus_words` reads the user's words as the corpus writes them (numbered names,
    percentages, units, typing slips, initialisms ...: `Engine._as_corpus_words`); `answered_name` gives the name the article answers
    an earlier "who" question with, for a pronoun that stands for it (`resolve`)."""
    plain = with_country_capitals(unshouted(without_markup(question) or question))
    turns = tuple(with_country_capitals(unshouted(without_markup(t))) for t in history)
    if as_corpus_words is not None:
        plain, turns = as_corpus_words(plain), tuple(as_corpus_words(t) for t in turns)
    searched_for, is_follow_up = (resolve(plain, turns, names, answered_name) if resolve_follow_ups and turns
                                  else (plain, False))
    return Query(
        question=question, searched_for=searched_for, is_follow_up=is_follow_up,
        kind=_kind(plain, searched_for),
        unknown_names=unknown_names(searched_for, corpus_stems, corpus_words),
        names=question_names(searched_for, names), negated=answer_type.negated(searched_for),
        measured=tuple(w for w in measured_terms(searched_for) if w not in names),
        wants_summary=is_summary_request(searched_for),
    )


def forms_as_written(text: str, corpus_words: frozenset[str], corpus_stems: frozenset[str]) -> str:
    """Short years, large amounts, percentages, small counts, units, titles and months as the
    corpus writes them ("'53" -> "1853", "$1 million" -> "$1,000,000", "seventy percent" -> "70%",
    "4 ships" -> "four ships", "kilometres" -> "km", "Saint John's" -> "St John's"),
    so that a thing typed another way is no word the corpus "never mentions"."""
    text = amounts_as_written(years_as_written(text, corpus_words), corpus_words)
    text = counts_as_written(percentages_as_written(text, corpus_words), corpus_words)
    text = units_as_written(text, corpus_words, corpus_stems)
    return titles_as_written(text, corpus_words)


def _kind(question: str, searched_for: str) -> str:
    """What the question asks for, read from the words the user typed when they say it
    ("How do they pay for it?"), else from the question they lean on ("What about Europe?")."""
    own = answer_type.question_type(question)
    if own != answer_type.OTHER or searched_for == question:
        return own
    return answer_type.question_type(searched_for)


def question_names(text: str, corpus_names: frozenset[str]) -> frozenset[str]:
    """Normalised words the question writes as names, or that the corpus writes as names."""
    return answer_type.names(text) | frozenset(w for w in content_words(text) if w in corpus_names)


def measured_terms(text: str, window: int = 3, up_to_verb: bool = False) -> tuple[str, ...]:
    """What a figure question measures: the trigger's own measured noun ("the price of lithium")
    and the content words just after it: in "how many billions of dollars" they are the unit, in
    "the price of lithium per tonne" the priced thing. An article that never uses them cannot
    give that figure. Words that only name a kind of figure ("how big a share") measure nothing:
    any percentage answers them.

    With `up_to_verb`, only the words before the clause's verb or a comma or bracket: in "how
    many ships did he bring" the measured thing is "ships", not "bring" (in "how much does the
    exam cost" the subject comes after the verb), and "what share (approximately)?" or "what
    share as of today?" measures nothing but a share. That reading decides which words the
    question names (`unknown_names`): a verb the corpus never uses is no thing it lacks, where
    "bring" once declined "How many ships did he bring?" outright ("It never mentions “bring”").
    The answer model's feature keeps the plain window, the reading it was trained on: cut at the
    verb too, it gained nothing on tune (eval/tried.md)."""
    found: list[str] = []
    for match in _QUANTITY.finditer(text):
        found.extend(content_words(match.group(0)))
        rest = text[match.end():]
        after = content_words(_noun_phrase(rest) if up_to_verb else rest)[:window]
        found.extend(w for w in after if not (up_to_verb and w in _NAMING_NOTHING))
    return tuple(w for w in dict.fromkeys(found) if w not in _FIGURE_KINDS)


def _noun_phrase(rest: str) -> str:
    """What follows a figure question's trigger, up to the clause's verb or a comma or bracket."""
    rest = _PHRASE_BREAK.split(rest, maxsplit=1)[0]  # "what share (approximately)": no noun follows
    verb = _CLAUSE_VERB.search(rest)
    if verb and not rest[:verb.start()].strip():  # "how much | does the exam cost": the subject follows
        verb = _CLAUSE_VERB.search(rest, verb.end())
    return rest[:verb.start()] if verb else rest


@lru_cache(maxsize=1024)
def typed_terms(text: str) -> tuple[str, ...]:
    """The question's terms as the user typed them: whitespace-separated, without the
    punctuation around them (a bracket that opens or closes a list of several terms too),
    keeping what is inside ("alert(1)", "solid-state", "U.S."), and without a possessive 's."""
    terms = []
    for token in text.split():
        term = token.strip("\"'“”‘’«»,;:!?")
        if term.startswith("(") and (term.endswith(")") or ")" not in term):  # "(Japan)", "(Soviets, Berlin)"
            term = term[1:]
        if term.endswith(")") and "(" not in term:
            term = term[:-1]
        term = term.rstrip(".") if not _INITIALISM.fullmatch(term) else term
        term = _POSSESSIVE.sub("", term)
        if words(term):
            terms.append(term)
    return tuple(terms)


def unknown_terms(text: str, corpus_stems: frozenset[str], corpus_words: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Terms of the text holding a content word the corpus never uses, as typed, so that they
    are embedded and reported the way the user wrote them. A compound the corpus uses whole
    ("lithium-ion") is known even when a part of it is not."""
    found: dict[str, None] = {}
    for term in typed_terms(text):
        if term.lower() in corpus_words:
            continue
        parts = [normalize(w) for w in words(term)]
        content = [p for p in parts if p not in STOPWORDS and (len(p) > 1 or p.isdigit())]
        if any(stem(p) not in corpus_stems and p not in corpus_stems and not _dated_in(p, text, corpus_words)
               for p in content):
            found.setdefault(term, None)
    return tuple(found)


def _dated_in(word: str, text: str, corpus_words: frozenset[str]) -> bool:
    """Whether the word is a decade or a century ("1850s", "880s", "1800s"; "19th" in a question
    that says "century") in which the corpus writes a year: "What happened in the 1850s?" asks
    about 1853 and 1854, and names nothing an article of those years lacks."""
    period = _PERIOD.fullmatch(word)
    if period:
        start, span = int(period.group(1)) * 10, 10
        if period.group(1).endswith("0") and len(period.group(1)) >= 2:  # "1800s": the century
            span = 100
    else:
        ordinal = _ORDINAL.fullmatch(word)
        if not ordinal or not _CENTURY.search(text):
            return False
        start, span = (int(ordinal.group(1)) - 1) * 100 + 1, 100
    return any(str(year) in corpus_words for year in range(start, start + span))


def unknown_names(text: str, corpus_stems: frozenset[str], corpus_words: frozenset[str] = frozenset()) -> tuple[str, ...]:
    measured = measured_terms(text, up_to_verb=True)
    starts = sentence_starts(text)
    return tuple(t for t in unknown_terms(text, corpus_stems, corpus_words)
                 if is_name(t, starts) or normalize(t) in measured)


def sentence_starts(text: str) -> frozenset[str]:
    """The first term of each sentence of the text (as the corpus is cut: not after "U.S." in
    "the U.S. Navy"), whose capital marks no name: "Thanks" in "What is China's share? Thanks!".
    A bracket opens no sentence: a follow-up is searched with "(Soviets, Berlin)" after it."""
    return frozenset(terms[0] for part in split_sentences(text)
                     if part.text[:1].isalpha() and (terms := typed_terms(part.text)))


def is_name(term: str, starts: frozenset[str] = frozenset()) -> bool:
    """A figure, an initialism, a hyphenated compound, a word capitalised where no sentence of
    the question starts (`starts`: `sentence_starts`), or a country or its people typed in lower
    case ("does india make batteries?", "korean companies"): the specific things a question is
    about, not its ordinary words."""
    if has_number(term) or "." in normalize(term) or "-" in term:
        return True
    if term[:1].isupper() and term not in starts:
        return True
    word = normalize(term)
    return word in country_names() or word.endswith("s") and word[:-1] in country_names()  # "koreans"


@lru_cache(maxsize=1)
def country_names() -> frozenset[str]:
    """One-word country names in lower case, from ISO 3166 ("japan", "korea" of "Korea,
    Republic of"; a name of several words is never one unknown word), and the adjectives the
    usual endings make of them ("korean", "japanese", "indian", "german"). An ending that
    makes no word ("japanan") costs nothing: only a word a reader typed is looked up."""
    found = set()
    for head in (name for name in country_phrases() if " " not in name):
        found.add(head)
        roots = {head, head[:-1]} if head[-1] in "aeiouy" else {head}
        found.update(root + ending for root in roots for ending in _DEMONYM_SUFFIXES)
        if head.endswith("y"):
            found.add(head[:-1])  # germany: german
    return frozenset(found)


@lru_cache(maxsize=1)
def country_phrases() -> frozenset[str]:
    """Country names in lower case, of one word or more ("india", "united states", "south
    korea"; the part before a comma: "korea" of "Korea, Republic of"), without demonyms."""
    import pycountry  # about 37 ms, once a process, on its first question

    found = set()
    for country in pycountry.countries:
        for name in (country.name, getattr(country, "common_name", None)):
            head = (name or "").split(",")[0].strip().lower()
            if head and "(" not in head:
                found.add(head)
    return frozenset(found)


def names_a_summary(heading: str) -> bool:
    """Whether a heading names a summary of its document ("Key Takeaways", "Overview", "TL;DR")."""
    return bool(_SUMMARY.search(heading))


def is_summary_request(text: str) -> bool:
    """"What is the article about?", "Give me an overview": asks for the gist, names no topic."""
    if not _SUMMARY.search(text):
        return False
    return not [w for w in content_words(text) if w not in _SUMMARY_WORDS]


# ---------------------------------------------------------------- follow-ups

def resolve(question: str, history: tuple[str, ...], names: frozenset[str],
            answered_name: NameAnswerer | None = None) -> tuple[str, bool]:
    """(text to search for, whether the question leaned on the history).

    - "What about Europe?" after "How does China keep costs low?" swaps the named thing:
      "How does Europe keep costs low?"
    - "Where does it get its lithium?" puts the last named thing in place of the pronouns.
    - "What about recycling?" keeps the last named thing: "What about recycling? (Europe)".
    - A question too short to stand alone ("By how much?") is searched with the previous one.
    - "How do they keep costs low?" after "Who leads the race?" puts the answer's name
      (`answered_name`, when given and the article answered) in place of the pronouns; after
      a "who" question that itself names someone ("Who was the first consul in Japan?"), only
      a pronoun for a person ("When did he arrive?") stands for the answer.
    A question that names its own subject and leans on nothing is searched as it is.
    """
    turns = [t for t in (" ".join(str(h).split()) for h in history) if t]
    if not turns:
        return question, False
    previous, _ = resolve(turns[-1], tuple(turns[:-1]), names)
    opener = _FOLLOW_UP_OPENER.search(question)
    if opener:
        question = _AFTER_THE.sub(lambda m: _dotted_name(m, names), question)
    new_names = entity_spans(question, names)
    old_names = entity_spans(previous, names)
    tokens = [normalize(w) for w in words(question)]
    has_pronoun = any(t in PRONOUNS for t in tokens)
    own_content = [w for w in content_words(question) if w not in {n.lower() for n in new_names}]

    if any(t in STANDALONE_POSSESSIVES for t in tokens):
        return f"{previous} {question}", True
    if has_pronoun and answered_name is not None and asks_who_did(previous, names):
        answered = _answer_for_pronouns(question, tokens, new_names, previous, bool(old_names), turns, answered_name)
        if answered:
            return answered, True
    if new_names and has_pronoun:
        # "And Europe? Where does it want its materials from?": a pronoun after the new name
        # means it. One before it ("what did he tell Washington?") means what it meant before.
        cut = _first_place(question, new_names)
        before, after = question[:cut], _replace_pronouns(question[cut:], _with_article(new_names[0], question))
        leans_back = _has_pronoun(before)
        if leans_back and old_names:
            before, leans_back = _replace_pronouns(before, _with_article(old_names[0], previous)), False
        clauses = [c for c in re.split(r"(?<=[?.!])\s+", before + after)
                   if set(content_words(c)) - {n.lower() for n in new_names}]
        text = " ".join(clauses) or before + after
        return (f"{previous} {text}" if leans_back else text), True
    if new_names and (opener or not own_content):
        rest = _FOLLOW_UP_OPENER.sub("", question).strip(" ?.!,")
        subject = _subject_phrase(rest, new_names[0])
        for name in (subject, *new_names):
            rest = re.sub(re.escape(name), "", rest, flags=re.I)
        rest = _LEADING_ARTICLE.sub("", " ".join(_TRAILING_POSSESSIVE.sub("", rest).split())).strip(" ?.!,")
        if old_names:
            swapped = _replace_names(previous, old_names[:1], _with_article(subject, question))
            return (f"{swapped} {rest}".strip() if content_words(rest) else swapped), True
        return f"{previous} {question}", True
    if opener and not new_names and own_content:
        # "What about recycling?" keeps the subject and changes the topic.
        return (f"{question} ({', '.join(old_names)})", True) if old_names else (question, False)
    if has_pronoun and not new_names and old_names:
        substituted = _replace_pronouns(question, _with_article(old_names[0], previous))
        if len(content_words(substituted)) < 3:
            return f"{previous} {substituted}", True
        return substituted, True
    if has_pronoun or _REFERS_BACK.search(question):
        # "How do they pay for it?", "Does that make them last longer?" with nothing named:
        # the previous question says what they are.
        return f"{previous} {question}", True
    if opener or len(own_content) <= 1 and not new_names:
        return f"{previous} {question}", True
    return question, False


def asks_who_did(question: str, names: frozenset[str] = frozenset()) -> bool:
    """Whether the question asks who (which treaty, what company ...) did something: not
    "who was perry?", whose answer describes a name it holds (`names`: the corpus's)."""
    opening = _WH_OPENING.search(question)
    if not opening or not (answer_type.question_type(question) == answer_type.NAME or "which" in opening.group(0).lower()):
        return False
    auxiliary = _FIRST_AUXILIARY.search(question, opening.end())
    if not auxiliary:
        return True  # "Who leads the race?"
    after = auxiliary.group(2)
    subject = after[:1].isupper() or normalize(after) in _SUBJECT_WORDS or normalize(after) in names
    return not (subject or auxiliary.group(1) and normalize(after) in _DETERMINERS)


def _answer_for_pronouns(question: str, tokens: list[str], new_names: list[str], previous: str,
                         previous_names: bool, turns: list[str], answered_name: NameAnswerer) -> str | None:
    """The question with the pronouns that stand for the previous question's answer replaced by
    the name the article answered it with, or None. Which pronouns can:
    - one that follows a name the question holds stands for that name ("Where did Abbott meet
      his wife?");
    - after "who", a person or a group ("he", "they"), not "it": in "Who designed the
      lighthouse?" / "When did he design it?", "it" is the lighthouse;
    - after a question that names someone itself, only a person ("Who was the first consul in
      Japan?" / "When did he arrive?").
    A pronoun left standing for something else keeps the previous question beside it."""
    if previous_names:
        pronouns = PERSON_PRONOUNS
    elif _ASKS_WHO.search(previous):
        pronouns = PERSON_PRONOUNS | GROUP_PRONOUNS
    else:
        pronouns = PRONOUNS
    cut = _first_place(question, new_names)
    if new_names:
        tokens = [normalize(w) for w in words(question[:cut])]
    if not any(t in pronouns for t in tokens):
        return None
    name = answered_name(turns[-1], tuple(turns[:-1]))
    if not name:
        return None
    replaced = _replace_pronouns(question[:cut], name, pronouns) + question[cut:]
    return f"{previous} {replaced}" if any(t in PRONOUNS and t not in pronouns for t in tokens) else replaced


def name_answering(question: str, quote: str, before: str, names: frozenset[str]) -> str | None:
    """The name that answers a "who" question in the quote that answers it: of the names the
    question does not hold, the one closest to a word of the question ("designed" in "The
    engineer Tomas Reyes designed the lighthouse"; in "... Flatland ... which Abbott wrote",
    Abbott answers "who wrote it?"), the first one on a tie. With none in the quote, the last
    name of the sentence `before` it, what the quote's own pronoun stands for ("European
    nations ..." / "They're investing ...")."""
    asked = {normalize(w) for w in words(question)}
    asked_stems = {stem(w) for w in content_words(question)}
    tokens = words(quote)
    anchors = [i for i, token in enumerate(tokens) if stem(normalize(token)) in asked_stems]
    found = _new_names(quote, asked, names)
    if found:
        def distance(item: tuple[int, str]) -> tuple[int, int]:
            place = item[0]
            return (min((abs(place - a) for a in anchors), default=0), place)
        return min(found, key=distance)[1]
    earlier = _new_names(before, asked, names)
    return earlier[-1][1] if earlier else None


def _new_names(text: str, asked: set[str], names: frozenset[str]) -> list[tuple[int, str]]:
    """(token place, name) of each name written with a capital in the text, without the words
    the question says ("President Millard Fillmore" -> "Millard Fillmore" for "Which president
    ...?"), and not at all when the question holds it in another form ("Japanese" for "... in
    Japan?"). `entity_spans` also takes a name's words in lower case ("the river"), and skips
    a text's first word: a capitalised first word that runs into a name is kept ("Margaret
    Holloway, a weaver's daughter, ...")."""
    tokens = words(text)
    found: list[tuple[int, str]] = []
    place = 0
    for span in entity_spans(text, names):
        parts = span.split()
        place = next((i for i in range(place, len(tokens)) if _POSSESSIVE.sub("", tokens[i]) == parts[0]), place)
        if not span[:1].isupper():
            continue
        if place == 1 and tokens[0][:1].isupper() and normalize(tokens[0]) not in STOPWORDS:
            parts, place = [tokens[0], *parts], 0
        kept = [w for w in parts if not any(_same_root(normalize(w), a) for a in asked)]
        if kept:
            found.append((place, " ".join(kept)))
    return found


def _same_root(word: str, other: str) -> bool:
    """"japanese" and "japan", "chinese" and "china": one word, or a name and its adjective."""
    shared = len(os.path.commonprefix([word, other]))
    return word == other or shared >= 4 and shared >= min(len(word), len(other)) - 1


def _subject_phrase(rest: str, name: str) -> str:
    """The new subject of "What about the European powers?": a name used as an adjective, with
    the one or two words that end the question after it ("European powers"). A name used as a
    noun stays alone: in "and the U.S. targets?" the targets are the topic, not the subject."""
    match = re.search(re.escape(name) + r"((?:\s+[a-z][\w-]*){1,2})\W*$", rest)
    adjective = name.lower().endswith(_DEMONYM_ENDINGS)
    return f"{name}{match.group(1)}" if match and adjective else name


def _dotted_name(match: re.Match[str], names: frozenset[str]) -> str:
    """ "the us" in "and the us?" as the corpus writes the name, "the U.S.": after "the", "us"
    is no pronoun, and the follow-up names its new subject. Only in a follow-up: in any
    question, a name asks every answer to hold it, and on the eval sets two questions then
    lost their right answers ("whats the va phone number" read as "the V.A.")."""
    dotted = "".join(f"{ch}." for ch in match.group(2).upper())
    return f"{match.group(1)}{dotted}" if dotted.lower() in names else match.group(0)


def entity_spans(text: str, names: frozenset[str]) -> list[str]:
    """Named things in the text, longest runs first-come: words the corpus writes as names
    ("china", "u.s.", "europe"), or capitalised words that do not start the question."""
    spans: list[str] = []
    run: list[str] = []
    tokens = words(text)
    for i, token in enumerate(tokens):
        word = normalize(token)
        capitalised = token[:1].isupper() and i > 0 and word not in STOPWORDS
        if word in names or capitalised:
            run.append(_POSSESSIVE.sub("", token))
            continue
        if run:
            spans.append(" ".join(run))
            run = []
    if run:
        spans.append(" ".join(run))
    return spans


def _replace_names(text: str, old: list[str], new: str) -> str:
    """`new` in place of each old name, and of the "the" written before it: "What is the U.S.
    doing?" becomes "What is Europe doing?", and "the U.S." comes in with its own "the"."""
    for name in old:
        # "China's share", and "United States' share" with the apostrophe alone after an "s".
        text = re.sub(r"(?<!\w)(?:[Tt]he\s+)?" + re.escape(name) + r"(?:['’]s\b|(?<=s)['’](?!\w))",
                      lambda m: _at_start(_possessive(new), m), text)
        text = re.sub(r"(?<!\w)(?:[Tt]he\s+)?" + re.escape(name) + r"(?!\w)", lambda m: _at_start(new, m), text)
    return text


def _with_article(name: str, text: str) -> str:
    """The name as the text writes it: "the U.S." when "the" comes before it, so that the name
    keeps its article wherever it is put ("How does the U.S. keep costs low?", not "How does
    U.S. ..."), and a name typed without one ("And Europe?") gets none."""
    return f"the {name}" if re.search(r"\bthe\s+" + re.escape(name) + r"(?!\w)", text, re.I) else name


def _at_start(replacement: str, match: re.Match[str]) -> str:
    """The replacement with a capital when it opens the text ("The U.S.'s share ...")."""
    return replacement[:1].upper() + replacement[1:] if match.start() == 0 else replacement


def _first_place(text: str, names: list[str]) -> int:
    """Where the first of the names starts in the text (its end when none is found)."""
    lowered = text.lower()
    return min((i for i in (lowered.find(n.lower()) for n in names) if i >= 0), default=len(text))


def _has_pronoun(text: str) -> bool:
    return any(normalize(w) in PRONOUNS for w in words(text))


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"  # "the European powers'"


def _replace_pronouns(text: str, name: str, pronouns: frozenset[str] = PRONOUNS) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        return _at_start(_possessive(name) if word in POSSESSIVE_PRONOUNS else name, match)

    pattern = r"\b(?:" + "|".join(sorted(pronouns, key=len, reverse=True)) + r")\b"
    return re.sub(pattern, swap, text, flags=re.I)
