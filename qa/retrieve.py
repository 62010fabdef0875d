"""Question -> a pool of candidate passages and sentences, from three legs fused by reciprocal rank:
- dense chunk keys (FAISS inner product on normalised vectors: each chunk's text, and the
  question heading of FAQ entries);
- dense sentences (a chunk ranks by its best sentence, so one sentence that answers the
  question lifts its passage even when the rest of the window is about something else);
- BM25 over chunk texts with stemmed content words.
The answer stage then scores every sentence of the pool and ranks the passages by their best
sentence, so what a user sees is ranked by the evidence for an answer, not by one leg.

Why rank fusion rather than mixing scores: cosine similarities and BM25 scores live on
unrelated scales (BM25 grows with the query's length and rare words), so any weighted sum
needs re-tuning per corpus; ranks are comparable as they are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from qa.index import Index
from qa.text import content_stems

if TYPE_CHECKING:
    import bm25s


@dataclass(frozen=True, slots=True)
class Pool:
    """The candidates of one question, with the evidence each leg gave them."""

    fused: list[tuple[int, float]]  # chunk rows by fused score, best first
    dense: dict[int, float]  # chunk row -> best dense key cosine, for chunks the dense leg returned
    lexical: dict[int, float]  # chunk row -> BM25 score, for chunks the lexical leg returned
    sentence_cosine: dict[int, float]  # sentence id -> cosine, for the dense sentence leg's hits
    sentence_bm25: dict[int, float]  # sentence id -> BM25 score, for the lexical sentence leg's hits
    sentences: list[int]  # candidate sentence ids: the fused passages' sentences, then the legs' hits

    def fused_rank(self) -> dict[int, int]:
        return {row: rank for rank, (row, _score) in enumerate(self.fused, 1)}


class SearchBackend(Protocol):
    """Where the four legs run: in this process (`LocalSearch`: FAISS + bm25s), or in Milvus
    (`qa.milvus_search.MilvusSearch`). Each leg returns (row, score) pairs, best first; rows are
    positions in the index's chunk table (`Index.chunks`) or sentence table (`Index.sentences`),
    so everything above retrieval reads the same tables whichever backend searched."""

    def dense_keys(self, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        """Chunk rows of the `depth` dense keys nearest the question (a chunk with two keys may
        come twice), with their cosines."""
        ...

    def dense_sentences(self, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        """Sentence ids of the `depth` sentences nearest the question, with their cosines."""
        ...

    def bm25_chunks(self, query: str, depth: int) -> list[tuple[int, float]]:
        """Chunk rows by BM25 over their stemmed content words, score > 0 only."""
        ...

    def bm25_sentences(self, query: str, depth: int) -> list[tuple[int, float]]:
        """Sentence ids by BM25 over each sentence with its heading, score > 0 only."""
        ...


class LocalSearch:
    """The legs on the index held in this process: FAISS for the dense legs, bm25s for BM25."""

    def __init__(self, index: Index) -> None:
        self.index = index

    def dense_keys(self, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        key_chunk = self.index.key_chunk
        return [(int(key_chunk[key]), score) for key, score in _search(self.index.chunk_vectors, query_vector, depth)]

    def dense_sentences(self, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        return _search(self.index.sentence_index, query_vector, depth)

    def bm25_chunks(self, query: str, depth: int) -> list[tuple[int, float]]:
        return bm25_ranking(self.index.bm25, query, depth)

    def bm25_sentences(self, query: str, depth: int) -> list[tuple[int, float]]:
        return bm25_ranking(self.index.sentence_bm25, query, depth)


class SourceFilter:
    """Another backend's legs restricted to some documents. Each leg asks for four times the depth,
    keeps the rows of the chosen documents, and asks again four times deeper while it has kept
    too few and the backend had more to give: a small document in a large index costs a few
    deeper searches, never one over the whole index."""

    def __init__(self, backend: SearchBackend, index: Index, sources: frozenset[str]) -> None:
        self.backend, self.index, self.sources = backend, index, sources
        self.everything = max(len(index.chunks), len(index.sentences), len(index.key_chunk))

    def _kept(self, leg: Callable[[int], list[tuple[int, float]]], source_of: Callable[[int], str],
              depth: int) -> list[tuple[int, float]]:
        asked = depth * 4
        while True:
            hits = leg(asked)
            kept = [(row, score) for row, score in hits if source_of(row) in self.sources][:depth]
            if len(kept) >= depth or len(hits) < asked or asked >= self.everything:
                return kept
            asked *= 4

    def _chunk_source(self, row: int) -> str:
        return self.index.chunks[row].source

    def _sentence_source(self, sid: int) -> str:
        return self.index.sentences[sid].source

    def dense_keys(self, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        return self._kept(lambda n: self.backend.dense_keys(query_vector, n), self._chunk_source, depth)

    def dense_sentences(self, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        return self._kept(lambda n: self.backend.dense_sentences(query_vector, n), self._sentence_source, depth)

    def bm25_chunks(self, query: str, depth: int) -> list[tuple[int, float]]:
        return self._kept(lambda n: self.backend.bm25_chunks(query, n), self._chunk_source, depth)

    def bm25_sentences(self, query: str, depth: int) -> list[tuple[int, float]]:
        return self._kept(lambda n: self.backend.bm25_sentences(query, n), self._sentence_source, depth)


def _search(vectors, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:  # type: ignore[no-untyped-def]
    depth = min(depth, vectors.ntotal)
    if depth < 1:
        return []
    scores, rows = vectors.search(query_vector.reshape(1, -1).astype(np.float32, copy=False), depth)
    return by_score([(r, s) for r, s in zip(rows[0].tolist(), scores[0].tolist()) if r >= 0])


def by_score(hits: list[tuple[int, float]], decimals: int | None = None) -> list[tuple[int, float]]:
    """Best first, equal scores by row (earlier in the corpus first). Ties are common: the chunks
    of one FAQ answer share its question as a key, and a recurring text shares one vector
    (qa/build_cache.py embed). FAISS returns ties latest row first, Milvus in whatever order its
    segments give; `decimals` rounds scores that a backend computes with its own rounding."""
    return sorted(hits, key=lambda hit: (-(hit[1] if decimals is None else round(hit[1], decimals)), hit[0]))


def _best_per_chunk(hits: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Hits already sorted best first, mapped to chunk rows: each chunk keeps its first (best) hit."""
    seen: dict[int, float] = {}
    for chunk, score in hits:
        seen.setdefault(chunk, score)
    return list(seen.items())


def dense_ranking(backend: SearchBackend, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
    """Chunks by their best dense key (chunk text or question heading)."""
    return _best_per_chunk(backend.dense_keys(query_vector, depth * 2))[:depth]


def sentence_ranking(index: Index, hits: list[tuple[int, float]], depth: int) -> list[tuple[int, float]]:
    """Chunks by their best sentence."""
    return _best_per_chunk([(row, score) for sid, score in hits for row in index.sentence_chunks(sid)])[:depth]


def bm25_ranking(bm25: "bm25s.BM25", query: str, depth: int) -> list[tuple[int, float]]:
    """Rows of a bm25s index by score for the query's stemmed content words, best first (score > 0 only)."""
    vocab = bm25.vocab_dict
    token_ids = [vocab[t] for t in content_stems(query) if t in vocab]
    if not token_ids:
        return []
    scores = bm25.get_scores_from_ids(token_ids)
    depth = min(depth, len(scores))
    top = np.argpartition(-scores, depth - 1)[:depth]
    return by_score([(r, s) for r, s in zip(top.tolist(), scores[top].tolist()) if s > 0])


def fuse(rankings: list[list[tuple[int, float]]], rrf_k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: each item scores the sum of 1 / (rrf_k + rank) over the rankings
    that hold it. Ties go to the lower row (earlier in the corpus), so the order is stable."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _score) in enumerate(ranking, 1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


@dataclass(frozen=True, slots=True)
class Lexical:
    """The BM25 legs' hits for one question: they need its words only, not its embedding."""

    chunks: list[tuple[int, float]]  # chunk rows by BM25 score, best first
    sentences: list[tuple[int, float]]  # sentence ids by BM25 score, best first


def legs_for(index: Index, backend: SearchBackend | None = None,
             sources: frozenset[str] | None = None) -> SearchBackend:
    """Where a question's legs run: `backend` (default: FAISS and bm25s on `index`), restricted
    to the documents `sources` names when it is given."""
    backend = backend or LocalSearch(index)
    return SourceFilter(backend, index, sources) if sources is not None else backend


def lexical_hits(backend: SearchBackend, query: str, *, depth: int, sentence_hits: int, mode: str) -> Lexical:
    """The BM25 legs of `search` (none for the dense retriever). The engine runs them before the
    question is embedded: they need its words only, and the model leaves the processor's caches
    cold for what runs after it (scripts/bench_bm25_first.py measures the two orders)."""
    if mode not in ("hybrid", "bm25"):
        return Lexical([], [])
    return Lexical(backend.bm25_chunks(query, depth), backend.bm25_sentences(query, sentence_hits))


def search(index: Index, query_vector: np.ndarray, lexical: Lexical, *, depth: int, rrf_k: int, mode: str,
           pool_passages: int, sentence_hits: int, backend: SearchBackend | None = None,
           sources: frozenset[str] | None = None) -> Pool:
    """The candidate pool of one question.

    `query_vector` is the embedding of the question as resolved against the history
    (`Query.searched_for`) and `lexical` the BM25 legs' hits for it (`lexical_hits`, run with
    the same depth, mode and sources); `depth` is how deep each leg looks (`Settings.candidates`),
    `rrf_k` the fusion constant, `mode` the retriever ("hybrid", "dense" or "bm25"), and
    `pool_passages` / `sentence_hits` how many fused passages and leg hits become candidates
    (`Settings.pool_passages`, `Settings.pool_sentence_hits`). `backend` runs the legs (default:
    FAISS and bm25s on `index`); the fusion is ours whichever backend searched. `sources`, when
    given, restricts every leg to the documents it names."""
    backend = legs_for(index, backend, sources)
    use_dense = mode in ("hybrid", "dense")
    dense = dense_ranking(backend, query_vector, depth) if use_dense else []
    hits = backend.dense_sentences(query_vector, depth) if use_dense else []
    by_sentence = sentence_ranking(index, hits, depth)
    fused = fuse([r for r in (dense, by_sentence, lexical.chunks) if r], rrf_k)[:max(pool_passages, 1)]
    candidates: dict[int, None] = {}
    for row, _score in fused:
        candidates.update(dict.fromkeys(index.chunks[row].sentence_ids))
    candidates.update(dict.fromkeys(sid for sid, _score in hits[:sentence_hits]))
    candidates.update(dict.fromkeys(sid for sid, _score in lexical.sentences))
    return Pool(fused=fused, dense=dict(dense), lexical=dict(lexical.chunks), sentence_cosine=dict(hits),
                sentence_bm25=dict(lexical.sentences), sentences=list(candidates))
