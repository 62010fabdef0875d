"""Question -> ranked passages, from three legs fused by reciprocal rank:
- dense chunk keys (FAISS inner product on normalised vectors: each chunk's text, and the
  question heading of FAQ entries);
- dense sentences (a chunk ranks by its best sentence, so one sentence that answers the
  question lifts its passage even when the rest of the window is about something else);
- BM25 over chunk texts with stemmed content words.

Why rank fusion rather than mixing scores: cosine similarities and BM25 scores live on
unrelated scales (BM25 grows with the query's length and rare words), so any weighted sum
needs re-tuning per corpus; ranks are comparable as they are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.index import Index
from qa.text import content_stems
from qa.types import Passage


@dataclass(frozen=True, slots=True)
class Retrieval:
    passages: list[Passage]
    sentence_hits: dict[int, float]  # sentence id -> cosine, for the sentences the sentence leg returned


def _search(vectors, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:  # type: ignore[no-untyped-def]
    depth = min(depth, vectors.ntotal)
    if depth < 1:
        return []
    scores, rows = vectors.search(query_vector.reshape(1, -1).astype(np.float32, copy=False), depth)
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]


def _best_per_chunk(hits: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Hits already sorted best first, mapped to chunk rows: each chunk keeps its first (best) hit."""
    seen: dict[int, float] = {}
    for chunk, score in hits:
        seen.setdefault(chunk, score)
    return list(seen.items())


def dense_ranking(index: Index, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
    """Chunks by their best dense key (chunk text or question heading)."""
    hits = _search(index.chunk_vectors, query_vector, depth * 2)
    return _best_per_chunk([(int(index.key_chunk[key]), score) for key, score in hits])[:depth]


def sentence_hits(index: Index, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
    return _search(index.sentence_index, query_vector, depth)


def sentence_ranking(index: Index, hits: list[tuple[int, float]], depth: int) -> list[tuple[int, float]]:
    """Chunks by their best sentence."""
    return _best_per_chunk([(row, score) for sid, score in hits for row in index.sentence_chunks(sid)])[:depth]


def bm25_ranking(index: Index, query: str, depth: int) -> list[tuple[int, float]]:
    vocab = index.bm25.vocab_dict
    token_ids = [vocab[t] for t in content_stems(query) if t in vocab]
    if not token_ids:
        return []
    scores = index.bm25.get_scores_from_ids(token_ids)
    depth = min(depth, len(scores))
    top = np.argpartition(-scores, depth - 1)[:depth]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(r), float(scores[r])) for r in top if scores[r] > 0]


def fuse(rankings: list[list[tuple[int, float]]], rrf_k: int) -> list[tuple[int, float]]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _score) in enumerate(ranking, 1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def search(index: Index, query: str, query_vector: np.ndarray, k: int, depth: int, rrf_k: int,
           mode: str = "hybrid") -> Retrieval:
    """The top-k passages with the scores each leg gave them, and the sentence leg's hits."""
    use_dense, use_bm25 = mode in ("hybrid", "dense"), mode in ("hybrid", "bm25")
    dense = dense_ranking(index, query_vector, depth) if use_dense else []
    hits = sentence_hits(index, query_vector, depth) if use_dense else []
    by_sentence = sentence_ranking(index, hits, depth)
    lexical = bm25_ranking(index, query, depth) if use_bm25 else []
    dense_scores, lexical_scores = dict(dense), dict(lexical)
    fused = fuse([r for r in (dense, by_sentence, lexical) if r], rrf_k)[:k]
    passages = [
        Passage(chunk=index.chunks[row], rank=rank, score=score,
                dense_score=dense_scores.get(row), bm25_score=lexical_scores.get(row))
        for rank, (row, score) in enumerate(fused, 1)
    ]
    return Retrieval(passages, dict(hits))


def retrieve(index: Index, query: str, query_vector: np.ndarray, k: int, depth: int, rrf_k: int,
             mode: str = "hybrid") -> list[Passage]:
    return search(index, query, query_vector, k, depth, rrf_k, mode).passages
