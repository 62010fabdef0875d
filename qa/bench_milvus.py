"""`qa bench --backend milvus`: Milvus next to FAISS + bm25s, in one run.

1. Scale: synthetic corpora of 10k and 100k passages (embedding-like vectors as in
   qa/bench_scale.py, and 60-word Zipf texts), ingested into a Milvus collection shaped like the
   engine's chunks (a dense vector and BM25 terms) and into FAISS + bm25s: ingestion throughput
   (everything until the first query can run), single-query p50/p95 of the dense and BM25 legs,
   and recall@10 of the dense leg against exact search. Milvus here is whatever QA_MILVUS_URI
   names: Milvus Lite in a temporary file by default.
2. Fusion: on every eval set's test questions, our fusion of three legs against Milvus's own
   `hybrid_search` with `RRFRanker(60)` over the chunk's vector and BM25 terms: how often the two
   agree, and which finds the supporting passage more often (qa/milvus_search.py says why ours stays).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from qa.bench_scale import (SCALE_QUERIES, VectorShape, percentile_ms, recall_at_k, single_query_seconds,
                            synthetic_vocabulary, zipf_word_ids)
from qa.settings import Settings

Say = Callable[[str], None]
SIZES = (10_000, 100_000)
QUICK_SIZES = (10_000,)
# Single queries timed per backend and size: Milvus Lite's BM25 is pure Python and takes about a
# second a query at 100k passages, so fewer than the scale bench's 200 (the same 50 for both).
QUERIES = 50


def _texts(n: int, seed: int, words: int = 60, vocabulary_size: int = 50_000) -> tuple[list[str], list[str]]:
    vocabulary = synthetic_vocabulary(vocabulary_size, seed)
    passages = [" ".join(vocabulary[i] for i in row) for row in zipf_word_ids(n, words, vocabulary_size, seed)]
    queries = [" ".join(vocabulary[i] for i in row) for row in zipf_word_ids(SCALE_QUERIES, 4, vocabulary_size, seed + 1)]
    return passages, queries


def faiss_point(vectors: np.ndarray, texts: list[str], queries: np.ndarray, query_texts: list[str],
                truth: np.ndarray, settings: Settings) -> dict[str, Any]:
    """The FAISS backend's index choice for n vectors, and bm25s over the same words."""
    from qa.bench_scale import bm25_top
    from qa.index import bm25s_module, make_vector_index

    started = time.perf_counter()
    index = make_vector_index(vectors, settings)
    bm25 = bm25s_module().BM25()
    bm25.index([t.split() for t in texts], show_progress=False)
    ingest_s = time.perf_counter() - started
    depth = settings.candidates
    dense = single_query_seconds(lambda q: index.search(q.reshape(1, -1), depth), queries)
    lexical = single_query_seconds(lambda q: bm25_top(bm25, q, depth), query_texts)
    _s, rows = index.search(queries, 10)
    return _point("faiss + bm25s", len(vectors), ingest_s, dense, lexical, recall_at_k(rows, truth))


def milvus_point(vectors: np.ndarray, texts: list[str], queries: np.ndarray, query_texts: list[str],
                 truth: np.ndarray, settings: Settings, say: Say) -> dict[str, Any]:
    """The same passages through the engine's Milvus calls: insert in batches, flush, index, load."""
    from pymilvus import DataType, Function, FunctionType

    from qa.milvus_connect import connect, guarded
    from qa.milvus_store import BATCH, MAX_TEXT, _index_params, analyzer

    client, uri = connect(settings, say), settings.milvus_target
    name = f"{settings.milvus_collection}_bench_{len(vectors)}_{time.time_ns():x}"
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    schema.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True, analyzer_params=analyzer("stems"))
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                 output_field_names=["sparse"]))
    try:
        started = time.perf_counter()
        guarded(uri, lambda: client.create_collection(name, schema=schema))
        for low in range(0, len(vectors), BATCH):
            rows = [{"id": i, "vector": vectors[i].tolist(), "terms": texts[i]}
                    for i in range(low, min(low + BATCH, len(vectors)))]
            guarded(uri, lambda: client.insert(name, rows))
        insert_s = time.perf_counter() - started
        guarded(uri, lambda: client.flush(name))
        guarded(uri, lambda: client.create_index(name, _index_params(client, "chunks", len(vectors), settings),
                                                 sync=not uri.endswith(".db")))
        guarded(uri, lambda: client.load_collection(name))
        ingest_s = time.perf_counter() - started
        say(f"  Milvus: {len(vectors):,} passages in {ingest_s:.1f} s (inserting {insert_s:.1f} s)")
        depth, exact = settings.candidates, len(vectors) <= settings.exact_search_limit
        params = {"metric_type": "IP"} if exact else {"metric_type": "IP", "params": {"ef": settings.hnsw_ef_search}}

        def dense(q: np.ndarray, limit: int = depth) -> Any:
            return client.search(name, data=[q.tolist()], anns_field="vector", limit=limit, output_fields=[],
                                 search_params=params)

        dense_s = single_query_seconds(dense, queries)
        lexical_s = single_query_seconds(lambda t: client.search(
            name, data=[t], anns_field="sparse", limit=depth, output_fields=[], search_params={"metric_type": "BM25"}),
            query_texts)
        found = np.asarray([[hit["id"] for hit in dense(q, 10)[0]] + [-1] * 10 for q in queries])[:, :10]
    finally:
        guarded(uri, lambda: client.drop_collection(name))
    point = _point("milvus", len(vectors), ingest_s, dense_s, lexical_s, recall_at_k(found, truth))
    return dict(point, insert_per_s=len(vectors) / insert_s)


def _point(backend: str, n: int, ingest_s: float, dense: Sequence[float], lexical: Sequence[float],
           recall: float) -> dict[str, Any]:
    return {"backend": backend, "passages": n, "ingest_s": ingest_s, "ingest_per_s": n / ingest_s,
            "dense_p50_ms": percentile_ms(dense, 50), "dense_p95_ms": percentile_ms(dense, 95),
            "bm25_p50_ms": percentile_ms(lexical, 50), "bm25_p95_ms": percentile_ms(lexical, 95),
            "recall_at_10": recall}


def scale(sizes: Sequence[int], settings: Settings, say: Say) -> list[dict[str, Any]]:
    import faiss

    from qa.bench_scale import DIM

    shape = _shape(settings, say)
    points = []
    for n in sizes:
        say(f"scale: {n:,} passages, FAISS + bm25s and Milvus ({settings.milvus_target})")
        vectors, queries = shape.sample(n, seed=n), shape.sample(QUERIES, seed=n + 1)
        texts, query_texts = _texts(n, seed=n)
        query_texts = query_texts[:QUERIES]
        flat = faiss.IndexFlatIP(DIM)
        flat.add(vectors)
        _s, truth = flat.search(queries, 10)
        del flat
        points.append(faiss_point(vectors, texts, queries, query_texts, truth, settings))
        points.append(milvus_point(vectors, texts, queries, query_texts, truth, settings, say))
        for p in points[-2:]:
            say(f"  {p['backend']}: ingest {p['ingest_per_s']:,.0f}/s, dense p50 {p['dense_p50_ms']:.2f} ms, "
                f"BM25 p50 {p['bm25_p50_ms']:.2f} ms, recall@10 {p['recall_at_10']:.3f}")
    return points


def _shape(settings: Settings, say: Say) -> VectorShape:
    """Embedding-like vectors fitted to the article's sentences and words (as qa/bench_scale.py)."""
    from qa.engine import Engine

    index = Engine.load(settings.with_(backend="faiss"), progress=say).index
    return VectorShape.like(np.vstack([index.sentence_vectors, index.vocabulary_vectors]))


def fusion(settings: Settings, say: Say) -> dict[str, Any]:
    """Our three-leg fusion against Milvus's hybrid_search + RRFRanker, on every set's test questions."""
    from qa.engine import Engine
    from qa.evalsets import contains_any, load_sets

    agree_top1 = overlap = ours_hit = theirs_hit = total = 0
    embedder = None
    for eval_set in load_sets():
        engine = Engine.load(eval_set.settings_for(settings).with_(backend="milvus"), progress=say, embedder=embedder)
        embedder = engine.embedder
        s = engine.settings
        for item in eval_set.split("test"):
            found = engine.candidates(item["question"], item.get("history", []))
            ours = [row for row, _score in found.pool.fused[:s.pool_passages]]
            vector = engine.embedder.encode([found.query.searched_for])[0]
            theirs = [row for row, _score in engine.backend.hybrid(found.query.searched_for, vector, s.candidates,
                                                                   s.rrf_k)[:s.pool_passages]]
            total += 1
            agree_top1 += bool(ours and theirs and ours[0] == theirs[0])
            overlap += len(set(ours) & set(theirs)) / max(1, s.pool_passages)
            if item["answerable"] and item.get("support"):
                hit = lambda rows: any(contains_any(engine.index.chunks[r].text, item["support"]) for r in rows[:3])  # noqa: E731
                ours_hit += hit(ours)
                theirs_hit += hit(theirs)
    answerable = sum(1 for e in load_sets() for i in e.split("test") if i["answerable"] and i.get("support"))
    return {"questions": total, "same_top1": agree_top1 / total, "overlap_at_pool": overlap / total,
            "ours_hit_at_3": ours_hit / answerable, "milvus_rrf_hit_at_3": theirs_hit / answerable}


def run(quick: bool, say: Say) -> dict[str, Any]:
    settings = Settings.from_env()
    results: dict[str, Any] = {"milvus_uri": settings.milvus_target}
    results["fusion"] = fusion(settings, say)
    with tempfile.TemporaryDirectory(prefix="qa-bench-milvus-") as tmp:
        bench_settings = settings if settings.milvus_uri else settings.with_(milvus_uri=str(Path(tmp) / "bench.db"))
        results["scale"] = scale(QUICK_SIZES if quick else SIZES, bench_settings, say)
    return results


def print_results(r: dict[str, Any]) -> None:
    f = r["fusion"]
    print(f"Fusion over {f['questions']} eval test questions: Milvus hybrid_search + RRFRanker(60) against ours: "
          f"same first passage {f['same_top1']:.2f}, shared pool passages {f['overlap_at_pool']:.2f}; support in "
          f"the first 3: ours {f['ours_hit_at_3']:.2f}, Milvus RRF {f['milvus_rrf_hit_at_3']:.2f}")
    print()
    print(f"{'passages':>10} {'backend':<14} {'ingest/s':>9} {'dense p50':>10} {'dense p95':>10} "
          f"{'BM25 p50':>9} {'BM25 p95':>9} {'recall@10':>9}")
    for p in r["scale"]:
        print(f"{p['passages']:>10,} {p['backend']:<14} {p['ingest_per_s']:>9,.0f} {p['dense_p50_ms']:>10.2f} "
              f"{p['dense_p95_ms']:>10.2f} {p['bm25_p50_ms']:>9.2f} {p['bm25_p95_ms']:>9.2f} {p['recall_at_10']:>9.3f}")
