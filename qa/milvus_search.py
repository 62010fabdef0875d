"""The four search legs run in Milvus: a `qa.retrieve.SearchBackend` over one Milvus build
(`qa.milvus_store`). Results come back as rows of the index's chunk and sentence tables, so the
fusion, the features and the answer stage are the same code as with FAISS.

Why the fusion stays ours (`qa.retrieve.fuse`) rather than Milvus's `hybrid_search` with an
`RRFRanker`: hybrid_search fuses searches of one collection's fields, and ranks what it found.
Two of our three fused legs rank chunks by something else than their own field: the dense leg
by the best of a chunk's keys (its text, or the FAQ question it answers), the sentence leg by
the chunk's best sentence, which lives in another collection. `hybrid` below is the nearest
Milvus can do (the chunk's own vector and its BM25 terms, RRF k = 60); `qa bench --backend
milvus` measures how far its ranking is from ours (README "Outgrowing one machine").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from qa.milvus_connect import guarded
from qa.milvus_store import BM25_PARAMS, bm25_text, collection_names
from qa.retrieve import by_score
from qa.settings import Settings

if TYPE_CHECKING:
    from pymilvus import MilvusClient


class MilvusSearch:
    def __init__(self, client: "MilvusClient", settings: Settings, build: str, n_chunks: int, n_sentences: int) -> None:
        self.client = client
        self.uri = settings.milvus_target
        self.names = collection_names(settings, build)
        self.mode = settings.milvus_bm25
        self.sizes = {"chunks": n_chunks, "sentences": n_sentences}
        self.exact_limit = settings.exact_search_limit
        self.ef = settings.hnsw_ef_search

    def _params(self, rows: int, depth: int) -> dict[str, Any]:
        if rows <= self.exact_limit:
            return {"metric_type": "IP"}
        return {"metric_type": "IP", "params": {"ef": max(self.ef, depth)}}

    def _dense(self, role: str, query_vector: np.ndarray, depth: int, field: str) -> list[tuple[int, float]]:
        rows = self.sizes["chunks" if role == "keys" else role]
        if depth < 1:
            return []
        hits = guarded(self.uri, lambda: self.client.search(
            self.names[role], data=[query_vector.astype(np.float32).tolist()], anns_field="vector", limit=depth,
            output_fields=[field] if field != "id" else [], search_params=self._params(rows, depth)))
        return _by_score([(int(hit["entity"][field] if field != "id" else hit["id"]), float(hit["distance"]))
                          for hit in hits[0]])

    def _bm25(self, role: str, query: str, depth: int) -> list[tuple[int, float]]:
        text = bm25_text(query, self.mode)
        if not text.strip() or depth < 1:
            return []
        hits = guarded(self.uri, lambda: self.client.search(
            self.names[role], data=[text], anns_field="sparse", limit=depth, output_fields=[],
            search_params={"metric_type": "BM25"}))
        # Milvus Lite reports a BM25 score as a negative distance, a server as the score itself.
        # Milvus multiplies every score by k1 + 1 where bm25s (Lucene's formula) does not: divided
        # out, the scores users see are the same on both backends.
        scale = 1.0 + BM25_PARAMS["bm25_k1"]
        scored = [(int(hit["id"]), abs(float(hit["distance"])) / scale) for hit in hits[0]]
        return _by_score([(row, score) for row, score in scored if score > 0])

    def dense_keys(self, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        return self._dense("keys", query_vector, depth, "chunk")

    def dense_sentences(self, query_vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        return self._dense("sentences", query_vector, depth, "id")

    def bm25_chunks(self, query: str, depth: int) -> list[tuple[int, float]]:
        return self._bm25("chunks", query, depth)

    def bm25_sentences(self, query: str, depth: int) -> list[tuple[int, float]]:
        return self._bm25("sentences", query, depth)

    def hybrid(self, query: str, query_vector: np.ndarray, depth: int, rrf_k: int) -> list[tuple[int, float]]:
        """Chunk rows by Milvus's own RRF of the chunk's own vector and its BM25 terms (measured
        against our fusion; not used to answer)."""
        from pymilvus import AnnSearchRequest, RRFRanker

        requests = [AnnSearchRequest(data=[query_vector.astype(np.float32).tolist()], anns_field="vector",
                                     param=self._params(self.sizes["chunks"], depth), limit=depth)]
        text = bm25_text(query, self.mode)
        if text.strip():
            requests.append(AnnSearchRequest(data=[text], anns_field="sparse", param={"metric_type": "BM25"},
                                             limit=depth))
        hits = guarded(self.uri, lambda: self.client.hybrid_search(
            self.names["chunks"], requests, RRFRanker(rrf_k), limit=depth, output_fields=[]))
        return [(int(hit["id"]), float(hit["distance"])) for hit in hits[0]]


def _by_score(hits: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """`by_score` to 6 decimals: the same order from Milvus Lite and a server, whose scores
    differ in the last digits."""
    return by_score(hits, decimals=6)
