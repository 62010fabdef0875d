"""Candidate sentences -> an extractive answer: the sentence the answer model rates most likely
to answer the question, plus a second or third only when the model rates them as evidence
too, each followed by its citation marker; or an abstention saying why.

Whether to answer is decided by the model's calibrated probability that the answer is right,
which weighs many kinds of evidence (qa/features.py), not one similarity score: a single
cosine cut-off cannot tell "the article answers this" from "the article talks about
something near this" (see README, "How it works").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from qa import answer_type
from qa.features import FEATURES, answerability_row, profile, topic_row
from qa.index import Index, heading_of
from qa.model import AnswerModel
from qa.query import Query, names_a_summary
from qa.retrieve import Pool
from qa.settings import Settings
from qa.text import LIST_MARKER, content_stems
from qa.types import Citation, Passage, Sentence

# Two sentences closer than this say the same thing (a summary list restating the text).
DUPLICATE_SIMILARITY = 0.9
# ... or when this share of the shorter sentence's content words are in the other.
DUPLICATE_WORD_SHARE = 0.7
_OTHER_SUBJECT = FEATURES.index("other_subject")
# The confidence given to an answer the model declines outright (AnswerModel.vetoes): below any
# threshold but an explicit 0, so `qa eval` still sees what the answer would have been.
VETOED_CONFIDENCE = 0.0
_TYPE_ABSENT = FEATURES.index("type_absent")
_KIND_WORDS = {"date": "date", "number": "figure", "name": "name", "reason": "reason"}
# How answers and declines speak of the corpus: one article, or several documents (uploads).
_ONE_ARTICLE = {"not_answered": "The article does not answer", "declined": "The article does not answer this.", "nothing": "Nothing in the article matches the question.",
                "answered": "Answered from the article.",
                "asks_itself": "The article asks this question itself, and this is its answer.",
                "it": "It", "mentions": "never mentions", "gives": "gives", "is": "is", "in_it": "in it"}
_SEVERAL = {"not_answered": "The documents do not answer", "declined": "The documents do not answer this.", "nothing": "Nothing in the documents matches the question.",
            "answered": "Answered from the documents.",
            "asks_itself": "One of the documents asks this question itself, and this is its answer.",
            "it": "They", "mentions": "never mention", "gives": "give", "is": "are", "in_it": "in them"}


def corpus_words(documents: int) -> dict[str, str]:
    """The words answers and declines use for a corpus of this many documents."""
    return _SEVERAL if documents > 1 else _ONE_ARTICLE


@dataclass(frozen=True, slots=True)
class Scoring:
    """The pool's sentences with the sentence model's view of them (rows in `pool.sentences` order)."""

    pool: Pool
    features: np.ndarray
    logits: np.ndarray
    missing_names: tuple[str, ...]  # names the question holds that the corpus never mentions
    chunk_similarity: dict[int, float]
    probabilities: np.ndarray = field(init=False)  # of the logits, computed once: every step reads them

    def __post_init__(self) -> None:
        object.__setattr__(self, "probabilities", 1.0 / (1.0 + np.exp(-np.clip(self.logits, -40, 40))))


@dataclass(frozen=True, slots=True)
class Choice:
    """The candidates an answer may quote (those of the retrieved passages), the best of them,
    the question-level evidence about it, and the sentences an answer would quote."""

    allowed: list[int]  # rows of the scoring
    best: int | None
    evidence: np.ndarray  # the answerability model's input (empty when nothing is allowed)
    quoted: list[int]  # rows to quote, best first
    holder: dict[int, Passage]  # sentence id -> the retrieved passage a citation names


@dataclass(frozen=True, slots=True)
class Composed:
    text: str
    citations: tuple[Citation, ...]
    confidence: float
    abstained: bool
    reason: str


def missing_names(query: Query, name_vectors: np.ndarray, index: Index, similarity: float) -> tuple[str, ...]:
    """The question's unknown names with no corpus word close in meaning ("EU" is close to
    "europe", "li-ion" to "lithium-ion"; "Japan" is close to nothing a battery article says)."""
    if not query.unknown_names or len(name_vectors) == 0 or len(index.vocabulary_vectors) == 0:
        return query.unknown_names if len(index.vocabulary_vectors) == 0 else ()
    nearest = (name_vectors @ index.vocabulary_vectors.T).max(axis=1)
    return tuple(t for t, sim in zip(query.unknown_names, nearest.tolist()) if sim < similarity)


def chunk_similarity(index: Index, rows: set[int], query_vector: np.ndarray) -> dict[int, float]:
    """Each chunk's best dense key similarity (its text, or the question it answers), from one
    read of all their key vectors (they may be memory-mapped: a read per chunk costs more)."""
    ordered = [row for row in rows if index.chunk_keys(row)]
    if not ordered:
        return {}
    keys = [index.chunk_keys(row) for row in ordered]
    similarity = index.key_vectors[np.concatenate(keys)] @ query_vector
    best = np.maximum.reduceat(similarity, np.cumsum([0, *map(len, keys)])[:-1])
    return dict(zip(ordered, best.tolist()))


def rank_passages(scoring: Scoring, index: Index, k: int) -> list[Passage]:
    """The top-k passages, ranked by the best answer probability among their sentences, then by
    fused rank: what a user sees first is the passage most likely to hold the answer."""
    pool = scoring.pool
    best: dict[int, float] = {}
    for sid, probability in zip(pool.sentences, scoring.probabilities.tolist()):
        for row in index.sentence_chunks(sid):
            best[row] = max(best.get(row, 0.0), probability)
    fused = dict(pool.fused)
    ranks = pool.fused_rank()
    order = sorted(best, key=lambda r: (-best[r], ranks.get(r, len(ranks) + 1), r))[:k]
    return [Passage(chunk=index.chunks[row], rank=rank, score=best[row], fused_score=fused.get(row),
                    dense_score=pool.dense.get(row, scoring.chunk_similarity.get(row)),
                    bm25_score=pool.lexical.get(row))
            for rank, row in enumerate(order, 1)]


def choose(scoring: Scoring, passages: list[Passage], index: Index, *, extra_threshold: float,
           max_sentences: int) -> Choice:
    """The best candidate among the retrieved passages' sentences, and the others worth quoting
    beside it. The sentences chosen so far hold a share of the sentence model's probability
    over all candidates; a second or third joins only while that share is below
    `extra_threshold` (when the best alone is not convincing), and only if it says something
    new and is not about another subject. One sure sentence stays alone."""
    holder = {sid: p for p in reversed(passages) for sid in p.chunk.sentence_ids}
    sids = scoring.pool.sentences
    allowed = [i for i, sid in enumerate(sids) if sid in holder]
    if not allowed:
        return Choice([], None, np.zeros(0), [], holder)
    # A sentence about another subject than the one the question names ("China leads ..." for
    # a question on Europe) fills no slot, unless nothing else is left.
    on_subject = [i for i in allowed if not scoring.features[i, _OTHER_SUBJECT]] or allowed
    order = sorted(on_subject, key=lambda i: (-scoring.logits[i], sids[i]))
    best = order[0]
    quoted = [best]
    probabilities = scoring.probabilities
    share = probabilities[order] / (probabilities[order].sum() or 1.0)
    covered = float(share[0])
    for rank, i in enumerate(order[1:], 1):
        if len(quoted) >= max_sentences or covered >= extra_threshold:
            break
        covered += float(share[rank])
        if any(_repeats(index.sentences[sids[i]], index.sentences[sids[j]], index) for j in quoted):
            continue
        quoted.append(i)
    return Choice(allowed, best, answerability_row(scoring.features, scoring.logits, best, on_subject), quoted, holder)


def compose(*, query: Query, scoring: Scoring, passages: list[Passage], index: Index, model: AnswerModel,
            settings: Settings, threshold: float, sources: frozenset[str] | None = None) -> Composed:
    """The answer drawn from the retrieved `passages` only, or an abstention when the calibrated
    confidence is below `threshold`.

    `query` is `qa.query.analyse`'s reading of the question; `scoring` the sentence model's
    view of the candidate pool (`Engine.decide`); `passages` the top-k of `rank_passages`;
    `index` the engine's index; `model` the answer model (`Engine.model`, or one being trained);
    `settings` gives the most sentences an answer may quote; `threshold` is
    `Engine.abstain_threshold` (0 to see the answer an abstention would hide); `sources` the
    documents the question is limited to (None: all), which a summary keeps to as retrieval does."""
    words = corpus_words(len(index.documents))
    if query.wants_summary:
        return summary(index, settings, query.searched_for, sources)
    asked_by_article = _faq_section(query.searched_for, scoring.pool, index)
    if asked_by_article:
        quoted, holder = _with_lists([(s, 1.0) for s in asked_by_article[:settings.max_answer_sentences]],
                                     _fewest_passages(asked_by_article, index), index)
        return _answer(quoted, holder, 1.0, reason=words["asks_itself"],
                       replies=answer_type.asks_yes_or_no(query.question))
    choice = choose(scoring, passages, index, extra_threshold=model.extra_threshold,
                    max_sentences=settings.max_answer_sentences)
    if choice.best is None:
        return _abstain(0.0, words["nothing"], words)
    confidence = model.confidence(choice.evidence)
    kind_absent = lacks_asked_kind(scoring.features, choice.best)
    off_topic = model.off_topic(topic_row(scoring.features))
    if off_topic or model.vetoes.apply(unknown_names=bool(scoring.missing_names), kind_absent=kind_absent):
        confidence = min(confidence, VETOED_CONFIDENCE)
    if confidence < threshold:
        return _abstain(confidence, _abstain_reason(query, scoring, choice.allowed if not kind_absent else [choice.best],
                                                    off_topic, words), words)
    sids = scoring.pool.sentences
    quoted = [(index.sentences[sids[i]], float(scoring.probabilities[i])) for i in choice.quoted]
    quoted, holder = _with_lists(quoted, choice.holder, index)
    return _answer(quoted, holder, confidence, reason=words["answered"],
                   replies=answer_type.asks_yes_or_no(query.question))


def lacks_asked_kind(features: np.ndarray, row: int) -> bool:
    """The question asks for a date or figure, and candidate `row` holds none."""
    return bool(features[row, _TYPE_ABSENT])


def summary(index: Index, settings: Settings, question: str = "", sources: frozenset[str] | None = None) -> Composed:
    """The gist of a corpus is its opening: the first sentences of a document's lead, or with
    several documents the first sentence of each (up to the most an answer quotes). A section
    whose heading is the summary asked for ("What are the key takeaways?", under "Key
    Takeaways") is quoted instead, all of its list. Only the documents in `sources` count,
    when given."""
    asked = _summary_section(index, question, settings.max_answer_sentences, sources)
    if asked:
        holder = _fewest_passages(asked, index)
        return _answer([(s, 1.0) for s in asked], holder, 1.0, reason=f"A summary: the article's “{heading_of(asked[0].section)}”.")
    leads = [row for row, chunk in enumerate(index.chunks)
             if (row == 0 or index.chunks[row - 1].source != chunk.source) and (sources is None or chunk.source in sources)]
    per_document = settings.max_answer_sentences if len(leads) == 1 else 1
    quoted: list[tuple[Sentence, float]] = []
    holder: dict[int, Passage] = {}
    for row in leads[:settings.max_answer_sentences]:
        chunk = index.chunks[row]
        passage = Passage(chunk=chunk, rank=1, score=1.0, fused_score=None, dense_score=None, bm25_score=None)
        for sid in chunk.sentence_ids[:per_document]:
            quoted.append((index.sentences[sid], 1.0))
            holder[sid] = passage
    return _answer(quoted, holder, 1.0, reason=_summary_reason(len(leads), settings.max_answer_sentences))


def _summary_reason(documents: int, most: int) -> str:
    if documents <= 1:
        return "A summary: the opening sentences of the article."
    if documents <= most:
        return "A summary: the opening sentence of each document."
    return (f"A summary: the opening sentence of the first {most} of {documents} documents. "
            "Ask about one document alone for its own summary.")


def _summary_section(index: Index, question: str, max_sentences: int,
                     sources: frozenset[str] | None = None) -> list[Sentence]:
    """The opening sentences of the first section whose heading names a summary and holds no
    word the question lacks ("Key Takeaways" for "What are the key takeaways?"): a list whole
    (up to MAX_LIST_SENTENCES), else `max_sentences`. Empty for none."""
    asked = frozenset(content_stems(question))
    for source, section in index.sections():
        if sources is not None and source not in sources:
            continue
        heading = heading_of(section)
        stems = frozenset(content_stems(heading))
        if stems and stems <= asked and names_a_summary(heading):
            opening = index.section_sentences(source, section)[:MAX_LIST_SENTENCES]
            text = index.text_of(source)
            return opening if all(_in_list_item(s, text) for s in opening) else opening[:max_sentences]
    return []


def _faq_section(question: str, pool: Pool, index: Index) -> list[Sentence]:
    """The sentences of the FAQ section whose heading is the question, word for word (case and
    punctuation aside), when the dense leg found it (so within the documents asked); empty for
    none. The sentence model may rank its answer low ("Why might I need a VA claim exam?" is
    answered by "This exam will help us rate your disability.", one word in common), but the
    article itself says this is the answer."""
    row = next((r for r in index.rows_asking(question) if r in pool.dense), None)
    if row is None:
        return []
    chunk = index.chunks[row]
    return index.section_sentences(chunk.source, chunk.section)


def _fewest_passages(sentences: list[Sentence], index: Index,
                     chosen: dict[int, Passage] | None = None) -> dict[int, Passage]:
    """A passage for each sentence, as few as will hold them: overlapping windows would
    otherwise show the same sentence on two cards. In order, each sentence keeps a passage
    already chosen that holds it (`chosen`: chunk row -> passage, such as the one citing the
    sentence that introduces a list), else takes the one of its passages that holds most of
    the sentences after it."""
    holder: dict[int, Passage] = {}
    chosen = dict(chosen or {})
    for n, sentence in enumerate(sentences):
        rows = index.sentence_chunks(sentence.id)
        row = next((r for r in rows if r in chosen), None)
        if row is None:
            later = {s.id for s in sentences[n:]}
            row = max(rows, key=lambda r: (len(later & set(index.chunks[r].sentence_ids)), -r))
            chosen[row] = Passage(chunk=index.chunks[row], rank=1, score=1.0, fused_score=None, dense_score=None,
                                  bm25_score=None)
        holder[sentence.id] = chosen[row]
    return holder


def _repeats(a: Sentence, b: Sentence, index: Index) -> bool:
    """Near-identical meaning, or mostly the same words (a summary list restating the text)."""
    if float(index.sentence_vectors[a.id] @ index.sentence_vectors[b.id]) > DUPLICATE_SIMILARITY:
        return True
    words_a, words_b = profile(index, a.id).stems, profile(index, b.id).stems
    return len(words_a & words_b) >= DUPLICATE_WORD_SHARE * min(len(words_a), len(words_b))


# The most list sentences quoted after a sentence that ends in a colon.
MAX_LIST_SENTENCES = 10


def _answer(quoted: list[tuple[Sentence, float]], holder: dict[int, Passage], confidence: float,
            reason: str = "Answered from the article.", replies: bool = False) -> Composed:
    """The answer quoting `quoted`. A sentence opening with "Yes." or "No." replies to the
    question of its own section (an FAQ's), not to the user's: unless the user asked yes or no
    too (`replies`), the quote starts after that word ("Why do I need a claim exam?" was answered
    "No. We'll ask you to have a claim exam only if ...")."""
    citations = []
    for n, (s, probability) in enumerate(quoted, 1):
        chunk = holder[s.id].chunk
        skip = 0 if replies else _reply_length(s.text)
        citations.append(Citation(
            n=n, chunk_id=chunk.id, source=s.source, section=s.section, quote=s.text[skip:], start=s.start + skip,
            end=s.end, passage=chunk.text, passage_start=chunk.start, score=probability, page=s.page,
        ))
    text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
    return Composed(text, tuple(citations), confidence, False, reason)


def _with_lists(quoted: list[tuple[Sentence, float]], holder: dict[int, Passage],
                index: Index) -> tuple[list[tuple[Sentence, float]], dict[int, Passage]]:
    """The quoted sentences, each one that ends in a colon followed by the list it introduces
    ("To reschedule your appointment:" is no answer without "Call 800-827-1000, or" and "Go to
    your nearest VA regional benefit office."). The items do not count as the answer's extra
    sentences: they finish the one that introduces them. Each is cited with the passage that
    holds it, which may follow the introduction's."""
    if not any(s.text.rstrip().endswith(":") for s, _probability in quoted):
        return quoted, holder
    out: list[tuple[Sentence, float]] = []
    seen: set[int] = set()
    holder = dict(holder)
    for sentence, probability in quoted:
        if sentence.id in seen:
            continue
        out.append((sentence, probability))
        seen.add(sentence.id)
        if not sentence.text.rstrip().endswith(":"):
            continue
        items = [item for item in _list_after(sentence, index) if item.id not in seen]
        out += [(item, probability) for item in items]
        seen.update(item.id for item in items)
        intro = holder[sentence.id]
        holder = {**_fewest_passages(items, index, {index.chunk_row(intro.chunk.id): intro}), **holder}
    return out, holder


def _list_after(sentence: Sentence, index: Index) -> list[Sentence]:
    """The sentences of the list items right after `sentence`, in its section (at most
    MAX_LIST_SENTENCES): those on a line that opens with a list marker ("- ", "* ", "1. ")."""
    text = index.text_of(sentence.source)
    items = []
    for sid in range(sentence.id + 1, min(len(index.sentences), sentence.id + 1 + MAX_LIST_SENTENCES)):
        item = index.sentences[sid]
        if item.source != sentence.source or item.section != sentence.section or not _in_list_item(item, text):
            break
        items.append(item)
    return items


def _in_list_item(sentence: Sentence, text: str) -> bool:
    """Whether the sentence is on a line of `text` (its document's) that opens with a list marker."""
    return bool(LIST_MARKER.match(text, text.rfind("\n", 0, sentence.start) + 1))


_REPLY = re.compile(r"(?:yes|no)[.!]\s+(?=\w)", re.I)


def _reply_length(text: str) -> int:
    """Characters of a bare "Yes." or "No." opening the text, with the space after it (0 for none,
    and for a text that is only the reply)."""
    reply = _REPLY.match(text)
    return reply.end() if reply else 0


def _abstain(confidence: float, reason: str, words: dict[str, str] = _ONE_ARTICLE) -> Composed:
    text = f"{words['declined']} {reason} The closest passages are listed, but none of them answers the question."
    return Composed(text, (), confidence, True, reason)


def _abstain_reason(query: Query, scoring: Scoring, rows: list[int], off_topic: bool = False,
                    words: dict[str, str] = _ONE_ARTICLE) -> str:
    """Why the answer is declined: a name the corpus lacks, no date or figure in `rows` (the
    candidates, or the best one when it lacks what the question asks for), or a question the
    topic gate finds is about something else."""
    if scoring.missing_names:
        return f"{words['it']} {words['mentions']} {_quote_list(list(scoring.missing_names))}."
    if query.kind in _KIND_WORDS and query.kind != "reason" and all(lacks_asked_kind(scoring.features, i) for i in rows):
        return f"{words['it']} {words['gives']} no {_KIND_WORDS[query.kind]} for that."
    if off_topic:
        return f"{words['it']} {words['is']} about other things: no passage comes near the question."
    return f"No sentence {words['in_it']} answers the question closely enough."


def _quote_list(terms: list[str]) -> str:
    quoted = [f"“{t}”" for t in terms]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
