"""Question -> ranked passages: a dense leg (FAISS inner product on normalised vectors) and
a lexical leg (BM25), fused by reciprocal rank.

Why rank fusion rather than mixing scores: cosine similarities and BM25 scores live on
unrelated scales (BM25 grows with the query's length and rare words), so any weighted sum
needs re-tuning per corpus; ranks are comparable as they are."""

from __future__ import annotations

import numpy as np

from qa.index import Index
from qa.text import content_stems
from qa.types import Passage


def dense_ranking(index: Index, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
    depth = min(depth, index.chunk_vectors.ntotal)
    scores, rows = index.chunk_vectors.search(query_vector.reshape(1, -1).astype(np.float32, copy=False), depth)
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]


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


def retrieve(index: Index, query: str, query_vector: np.ndarray, k: int, depth: int, rrf_k: int,
             mode: str = "hybrid") -> list[Passage]:
    """The top-k passages for the query, each with the scores both legs gave it."""
    dense = dense_ranking(index, query_vector, depth) if mode in ("hybrid", "dense") else []
    lexical = bm25_ranking(index, query, depth) if mode in ("hybrid", "bm25") else []
    dense_scores, lexical_scores = dict(dense), dict(lexical)
    fused = fuse([r for r in (dense, lexical) if r], rrf_k)[:k]
    return [
        Passage(chunk=index.chunks[row], rank=rank, score=score,
                dense_score=dense_scores.get(row), bm25_score=lexical_scores.get(row))
        for rank, (row, score) in enumerate(fused, 1)
    ]
