"""Retrieved passages -> an extractive answer: the one to three sentences that best answer
the question, each followed by its citation marker, or an abstention.

Whether to answer is decided on more evidence than one similarity score, because a single
cosine cut-off cannot tell "the article answers this" from "the article talks about
something near this" (see README, "How it works"). Confidence starts from how well the best
sentence matches the question, in meaning and in words, and is then lowered for each thing
the question names that the corpus never mentions, and when the question asks for a figure
or a date and the best sentences hold none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from qa.index import Index
from qa.query import Query
from qa.retrieve import Retrieval
from qa.settings import Settings
from qa.text import content_stems, content_words, has_number
from qa.types import Citation, Passage, Sentence

# Weight of word overlap next to cosine similarity in a sentence's score. Cosine carries
# paraphrases; overlap of rare question words rewards the sentence that states the asked
# thing. Chosen on the eval set's answer accuracy (eval/report.md).
LEXICAL_WEIGHT = 0.3
# Weight of the passage's similarity in a sentence's score (the rest is the sentence's own).
CONTEXT_WEIGHT = 0.3
# A sentence that names only other subjects than the question's (China, for a question on
# Europe) is worth this share of its score.
OTHER_SUBJECT_PENALTY = 0.8
# How many of the sentence leg's best hits join the candidates beside the retrieved passages.
SENTENCE_HITS = 8
# Each name, figure, initialism or unit the question holds and the corpus never mentions
# multiplies confidence by this. Ordinary unknown words ("lawmakers", "rivalry") do not:
# readers reword, and on the eval set penalising them cost more answers than it saved
# abstentions.
MISSING_NAME_PENALTY = 0.4
# The question wants a figure or a date and the best sentence holds none.
WRONG_TYPE_PENALTY = 0.4
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATE = re.compile(rf"\b(?:1[5-9]|20)\d\d\b|\b(?:{_MONTHS})\b|\b(?:last|next|this)\s+(?:year|decade|month)\b", re.I)
# Two sentences closer than this say the same thing (the Key Takeaways repeat the intro).
DUPLICATE_SIMILARITY = 0.9
# ... or when this share of the shorter sentence's content words are in the other.
DUPLICATE_WORD_SHARE = 0.7


@dataclass(frozen=True, slots=True)
class Composed:
    text: str
    citations: tuple[Citation, ...]
    confidence: float
    abstained: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Scored:
    sentence: Sentence
    score: float
    passage: Passage


def compose(query: Query, query_vector: np.ndarray, name_vectors: np.ndarray, retrieval: Retrieval,
            index: Index, settings: Settings) -> Composed:
    if query.wants_summary:
        return _summary(index, settings)
    candidates = score_sentences(query, query_vector, retrieval, index)
    if not candidates:
        return _abstain(0.0, "Nothing in the article matches the question.")
    chosen = choose_sentences(query, candidates, index, settings)
    names = missing_names(query, name_vectors, index, settings)
    wrong_type = not _has_asked_type(query, chosen[:1])
    confidence = chosen[0].score
    confidence *= MISSING_NAME_PENALTY ** len(names)
    if wrong_type:
        confidence *= WRONG_TYPE_PENALTY
    confidence = float(min(1.0, max(0.0, confidence)))
    if confidence < settings.abstain_threshold:
        return _abstain(confidence, _abstain_reason(names, wrong_type, query))
    return _answer(chosen, confidence, names)


def _summary(index: Index, settings: Settings) -> Composed:
    """The gist of the article is its opening: the first sentences of each document's lead."""
    leads = [row for row, chunk in enumerate(index.chunks) if row == 0 or index.chunks[row - 1].source != chunk.source]
    chosen = []
    for row in leads:
        chunk = index.chunks[row]
        passage = Passage(chunk=chunk, rank=0, score=0.0, dense_score=None, bm25_score=None)
        for sid in chunk.sentence_ids[: settings.max_answer_sentences - len(chosen)]:
            chosen.append(Scored(index.sentences[sid], 1.0, passage))
    return _answer(chosen, 1.0, [])


def score_sentences(query: Query, query_vector: np.ndarray, retrieval: Retrieval, index: Index) -> list[Scored]:
    """Sentences of the retrieved passages and the sentence leg's best hits, best first.

    A sentence's score mixes its own similarity to the question with its passage's (context:
    "They control a significant portion..." is about China because its passage is), plus the
    share of the question's rare words it contains. Vectors were computed at index time, so
    this is a few small matrix products."""
    passage_of: dict[int, Passage] = {}
    for passage in retrieval.passages:
        for sid in passage.chunk.sentence_ids:
            passage_of.setdefault(sid, passage)
    candidates = list(dict.fromkeys([*passage_of, *list(retrieval.sentence_hits)[:SENTENCE_HITS]]))
    if not candidates:
        return []
    ids = np.asarray(candidates, dtype=np.int64)
    cosines = index.sentence_vectors[ids] @ query_vector
    rows = {row for sid in candidates for row in index.sentence_chunks(sid)}
    chunk_sim = _chunk_similarity(index, rows, query_vector)
    question_stems = set(content_stems(query.searched_for))
    asked_about = index.subjects(query.searched_for)
    total = sum(index.idf(s) for s in question_stems) or 1.0
    scored = []
    for sid, cosine in zip(candidates, cosines.tolist()):
        sentence = index.sentences[sid]
        holders = index.sentence_chunks(sid)
        context = max(chunk_sim[r] for r in holders)
        stems, named = index.sentence_terms(sid)
        lexical = sum(index.idf(s) for s in question_stems & stems) / total
        score = (1 - CONTEXT_WEIGHT) * cosine + CONTEXT_WEIGHT * context + LEXICAL_WEIGHT * lexical
        if asked_about and named and not named & asked_about:
            score *= OTHER_SUBJECT_PENALTY  # "China leads ..." for a question on Europe
        passage = passage_of.get(sid) or _as_passage(index, max(holders, key=lambda r: chunk_sim[r]), chunk_sim)
        scored.append(Scored(sentence, score, passage))
    scored.sort(key=lambda s: (-s.score, s.sentence.id))
    return scored


def _chunk_similarity(index: Index, rows: set[int], query_vector: np.ndarray) -> dict[int, float]:
    """Each chunk's best dense key similarity (its text, or the question it answers)."""
    sims = {}
    for row in rows:
        keys = index.chunk_keys(row)
        vectors = np.vstack([index.chunk_vectors.reconstruct(int(k)) for k in keys])
        sims[row] = float((vectors @ query_vector).max())
    return sims


def _as_passage(index: Index, row: int, chunk_sim: dict[int, float]) -> Passage:
    """A passage for a sentence found by the sentence leg outside the top-k (rank 0: not retrieved)."""
    return Passage(chunk=index.chunks[row], rank=0, score=0.0, dense_score=chunk_sim[row], bm25_score=None)


def choose_sentences(query: Query, candidates: list[Scored], index: Index, settings: Settings) -> list[Scored]:
    """The best sentence, plus up to two more that score close to it and say something new.
    A question asking for a figure or date starts from the best sentence that has one, when
    that sentence is nearly as good as the best."""
    best = candidates[0]
    if query.wants_number or query.wants_time:
        named = [n for n in content_words(query.searched_for) if n in index.names]
        with_figure = next((c for c in candidates if _has_asked_type(query, [c]) and _mentions(c.sentence, named)), None)
        if with_figure is not None and with_figure.score >= settings.answer_sentence_ratio * best.score:
            best = with_figure
    chosen = [best]
    for candidate in candidates:
        if len(chosen) >= settings.max_answer_sentences:
            break
        if candidate is best or candidate.score < settings.answer_sentence_ratio * best.score:
            continue
        if any(_repeats(candidate.sentence, c.sentence, index) for c in chosen):
            continue
        chosen.append(candidate)
    return chosen


def _repeats(a: Sentence, b: Sentence, index: Index) -> bool:
    """Near-identical meaning, or mostly the same words (the Key Takeaways restate the intro)."""
    if float(index.sentence_vectors[a.id] @ index.sentence_vectors[b.id]) > DUPLICATE_SIMILARITY:
        return True
    words_a, words_b = set(content_stems(a.text)), set(content_stems(b.text))
    return len(words_a & words_b) >= DUPLICATE_WORD_SHARE * min(len(words_a), len(words_b))


def missing_names(query: Query, name_vectors: np.ndarray, index: Index, settings: Settings) -> list[str]:
    """The question's unknown names with no corpus word close in meaning ("EU" is close to
    "europe"; "Japan" is close to nothing the article says)."""
    if not query.unknown_names or len(name_vectors) == 0:
        return []
    nearest = (name_vectors @ index.vocabulary_vectors.T).max(axis=1)
    return [t for t, sim in zip(query.unknown_names, nearest.tolist()) if sim < settings.unknown_term_similarity]


def _mentions(sentence: Sentence, names: list[str]) -> bool:
    """Whether the sentence (or its section) names every one of `names`."""
    present = set(content_words(f"{sentence.section} {sentence.text}"))
    return all(n in present for n in names)


def _has_asked_type(query: Query, chosen: list[Scored]) -> bool:
    """A figure question needs a figure in the answer; a when-question a year or date."""
    texts = [c.sentence.text for c in chosen]
    if query.wants_time:
        return any(_DATE.search(t) for t in texts)
    if query.wants_number:
        return any(has_number(t) and _speaks_of(t, query.measured) for t in texts)
    return True


def _speaks_of(text: str, terms: tuple[str, ...]) -> bool:
    """Whether the text holds one of the terms (by stem); true when there are none to hold."""
    return not terms or bool(set(content_stems(" ".join(terms))) & set(content_stems(text)))


def _answer(chosen: list[Scored], confidence: float, missing: list[str]) -> Composed:
    ordered = sorted(chosen, key=lambda s: (s.sentence.source, s.sentence.start))
    citations = []
    for n, item in enumerate(ordered, 1):
        s, chunk = item.sentence, item.passage.chunk
        citations.append(Citation(
            n=n, chunk_id=chunk.id, source=s.source, section=s.section, quote=s.text, start=s.start, end=s.end,
            passage=chunk.text, passage_start=chunk.start, score=item.score, page=s.page,
        ))
    text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
    reason = "Answered from the article."
    if missing:
        reason += f" The article does not mention {_quote_list(missing)}."
    return Composed(text, tuple(citations), confidence, False, reason)


def _abstain(confidence: float, reason: str) -> Composed:
    text = f"The article does not answer this. {reason} The closest passages are listed, but none of them answers the question."
    return Composed(text, (), confidence, True, reason)


def _abstain_reason(missing: list[str], wrong_type: bool, query: Query) -> str:
    if missing:
        return f"It never mentions {_quote_list(missing)}."
    if wrong_type:
        return "It gives no " + ("date" if query.wants_time and not query.wants_number else "figure") + " for that."
    return "No sentence in it matches the question closely enough."


def _quote_list(terms: list[str]) -> str:
    quoted = [f"“{t}”" for t in terms]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]

