"""Retrieved passages -> an extractive answer: the one to three sentences that best answer
the question, each followed by its citation marker, or an abstention.

Whether to answer is decided on more evidence than one similarity score, because a single
cosine cut-off cannot tell "the article answers this" from "the article talks about
something near this" (see README, "Abstention"). Confidence starts from how well the best
sentence matches the question, in meaning and in words, and is then lowered for each thing
the question names that the corpus never mentions, and when the question asks for a figure
or a date and the best sentences hold none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.index import Index
from qa.query import Query
from qa.settings import Settings
from qa.text import content_stems, has_number, words
from qa.types import Citation, Passage, Sentence

# Weight of word overlap next to cosine similarity in a sentence's score. Cosine carries
# paraphrases; overlap of rare question words rewards the sentence that states the asked
# thing. Chosen on the eval set's answer accuracy (eval/report.md).
LEXICAL_WEIGHT = 0.3
# Each named thing (capitalised word, figure, initialism) the corpus never mentions
# multiplies confidence by this; an ordinary unknown word by the second.
MISSING_NAME_PENALTY = 0.5
MISSING_WORD_PENALTY = 0.85
# The question wants a figure or a date and the chosen sentences hold none.
WRONG_TYPE_PENALTY = 0.6
# Two sentences closer than this say the same thing (the Key Takeaways repeat the intro).
DUPLICATE_SIMILARITY = 0.9


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
    cosine: float
    passage: Passage


def compose(query: Query, query_vector: np.ndarray, term_vectors: np.ndarray, passages: list[Passage],
            index: Index, settings: Settings) -> Composed:
    candidates = score_sentences(query, query_vector, passages, index)
    if not candidates:
        return _abstain(0.0, "Nothing in the article matches the question.")
    chosen = choose_sentences(query, candidates, index, settings)
    missing = missing_terms(query, term_vectors, index, settings)
    wrong_type = (query.wants_number or query.wants_time) and not any(has_number(s.sentence.text) for s in chosen)
    confidence = chosen[0].score
    for term in missing:
        confidence *= MISSING_NAME_PENALTY if _is_name(term, query.searched_for) else MISSING_WORD_PENALTY
    if wrong_type:
        confidence *= WRONG_TYPE_PENALTY
    confidence = float(min(1.0, max(0.0, confidence)))
    if confidence < settings.abstain_threshold:
        return _abstain(confidence, _abstain_reason(missing, wrong_type, query))
    return _answer(chosen, confidence, missing)


def score_sentences(query: Query, query_vector: np.ndarray, passages: list[Passage], index: Index) -> list[Scored]:
    """Every sentence of the retrieved passages, best first. Vectors were computed at index
    time, so this is one small matrix product."""
    best_passage: dict[int, Passage] = {}
    for passage in passages:
        for sid in passage.chunk.sentence_ids:
            best_passage.setdefault(sid, passage)
    if not best_passage:
        return []
    ids = np.fromiter(best_passage, dtype=np.int64)
    cosines = index.sentence_vectors[ids] @ query_vector
    question_stems = set(content_stems(query.searched_for))
    total = sum(index.idf(s) for s in question_stems) or 1.0
    scored = []
    for sid, cosine in zip(ids.tolist(), cosines.tolist()):
        sentence = index.sentences[sid]
        heading = sentence.section.rsplit(" > ", 1)[-1]
        overlap = question_stems & set(content_stems(f"{heading} {sentence.text}"))
        lexical = sum(index.idf(s) for s in overlap) / total
        scored.append(Scored(sentence, cosine + LEXICAL_WEIGHT * lexical, cosine, best_passage[sid]))
    scored.sort(key=lambda s: (-s.score, s.sentence.id))
    return scored


def choose_sentences(query: Query, candidates: list[Scored], index: Index, settings: Settings) -> list[Scored]:
    """The best sentence, plus up to two more that score close to it and say something new.
    A question asking for a figure or date starts from the best sentence that has one, when
    that sentence is nearly as good as the best."""
    best = candidates[0]
    if query.wants_number or query.wants_time:
        with_figure = next((c for c in candidates if has_number(c.sentence.text)), None)
        if with_figure is not None and with_figure.score >= settings.answer_sentence_ratio * best.score:
            best = with_figure
    chosen = [best]
    for candidate in candidates:
        if len(chosen) >= settings.max_answer_sentences:
            break
        if candidate is best or candidate.score < settings.answer_sentence_ratio * best.score:
            continue
        vectors = index.sentence_vectors
        if any(float(vectors[candidate.sentence.id] @ vectors[c.sentence.id]) > DUPLICATE_SIMILARITY for c in chosen):
            continue
        chosen.append(candidate)
    return chosen


def missing_terms(query: Query, term_vectors: np.ndarray, index: Index, settings: Settings) -> list[str]:
    """Unknown question words with no corpus word close in meaning ("EU" is close to
    "europe"; "Japan" is close to nothing the article says)."""
    if not query.unknown_terms or len(term_vectors) == 0:
        return []
    nearest = (term_vectors @ index.vocabulary_vectors.T).max(axis=1)
    return [t for t, sim in zip(query.unknown_terms, nearest.tolist()) if sim < settings.unknown_term_similarity]


def _is_name(term: str, text: str) -> bool:
    """A figure, an initialism, or a word the question capitalises after its first word."""
    if has_number(term) or "." in term:
        return True
    tokens = words(text)
    return any(t.lower().rstrip("'’s") == term and t[:1].isupper() for t in tokens[1:])


def _answer(chosen: list[Scored], confidence: float, missing: list[str]) -> Composed:
    ordered = sorted(chosen, key=lambda s: (s.sentence.source, s.sentence.start))
    citations = []
    for n, item in enumerate(ordered, 1):
        s, chunk = item.sentence, item.passage.chunk
        citations.append(Citation(
            n=n, chunk_id=chunk.id, source=s.source, section=s.section, quote=s.text, start=s.start, end=s.end,
            passage=chunk.text, passage_start=chunk.start, score=item.score,
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

