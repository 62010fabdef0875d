"""`qa bench`, part 4: how the index layer holds up far beyond one article. Synthetic corpora
of 10k to 1M passages: exact and HNSW vector indexes and BM25, single-query latency, memory
and recall against exact search. Kept apart from qa/bench.py, which measures the engine itself."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from qa.retrieve import bm25_ranking
from qa.settings import Settings
from qa.stats import percentile

FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000,)
SCALE_QUERIES = 200  # single queries timed (and scored for recall) per index
# Targets of issue 6.
TARGET_SCALE_P50_MS = 5.0
TARGET_RECALL = 0.95

Say = Callable[[str], None]


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    """The q-th percentile of durations given in seconds, in milliseconds (`qa.stats.percentile`)."""
    return float(percentile([1000.0 * s for s in seconds], q) or 0.0)


def recall_at_k(approximate: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top-k rows that the approximate search also returned (rows of
    -1, FAISS's "no result", never count)."""
    if len(exact) == 0:
        raise ValueError("recall needs at least one query")
    found = [len({int(r) for r in a[:k] if r >= 0} & {int(r) for r in e[:k]}) / k
             for a, e in zip(approximate, exact)]
    return float(np.mean(found))


# ---------------------------------------------------------------- 4. scale

@dataclass(frozen=True)
class VectorShape:
    """Where synthetic vectors come from: a Gaussian with a mean and principal axes, each
    draw normalised. Made from real embeddings it has their anisotropy (a few dozen
    directions carry most of the variance); with no axes it is the uniform sphere."""

    mean: np.ndarray
    axes: np.ndarray  # (k, dim): principal directions scaled by their standard deviation
    name: str

    @classmethod
    def uniform(cls, dim: int) -> "VectorShape":
        return cls(np.zeros(dim, dtype=np.float32), np.eye(dim, dtype=np.float32), "uniform")

    @classmethod
    def like(cls, vectors: np.ndarray) -> "VectorShape":
        """The mean and covariance of real embeddings (here: the article's sentences and words)."""
        mean = vectors.mean(axis=0)
        _u, sd, axes = np.linalg.svd(vectors - mean, full_matrices=False)
        sd = sd / np.sqrt(max(1, len(vectors) - 1))
        return cls(mean.astype(np.float32), (axes * sd[:, None]).astype(np.float32), "embedding-like")

    def sample(self, n: int, seed: int, block: int = 100_000) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.axes.shape[1]), dtype=np.float32)
        for start in range(0, n, block):
            rows = min(block, n - start)
            x = self.mean + rng.standard_normal((rows, len(self.axes)), dtype=np.float32) @ self.axes
            out[start:start + rows] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out


def index_bytes(index: Any) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def single_query_seconds(search: Callable[[Any], Any], queries: Sequence[Any]) -> list[float]:
    """Each query alone, as a user sends it: no batching across users."""
    seconds = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        seconds.append(time.perf_counter() - started)
    return seconds


def build_vector_index(vectors: np.ndarray, settings: Settings, say: Say, step: int = 100_000) -> Any:
    """`make_vector_index` on the first block, then the rest added block by block with a
    progress line: the same index as one `add`, with a sign of life on a long HNSW build."""
    from qa.index import make_vector_index

    index = make_vector_index(vectors[:step], settings)
    for start in range(step, len(vectors), step):
        index.add(vectors[start:start + step])
        say(f"  added {min(start + step, len(vectors)):,} / {len(vectors):,} vectors")
    return index


def scale_vector_point(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, kind: str,
                       settings: Settings, say: Say) -> tuple[dict[str, Any], Any]:
    """Build one index type over `vectors` and time single queries; recall against `truth`.
    Returns the figures and the index (for an efSearch sweep without a rebuild)."""
    n = len(vectors)
    forced = settings.with_(exact_search_limit=n if kind == "exact" else 1)
    started = time.perf_counter()
    index = build_vector_index(vectors, forced, say)
    build_s = time.perf_counter() - started
    seconds = single_query_seconds(lambda q: index.search(q.reshape(1, -1), 10), queries)
    _scores, rows = index.search(queries, 10)
    label = "flat_ip" if kind == "exact" else f"hnsw_m{settings.hnsw_m}_efc{settings.hnsw_ef_construction}_efs{settings.hnsw_ef_search}"
    point = {"passages": n, "index": label, "build_s": build_s, "bytes_per_passage": index_bytes(index) / n,
             "query_p50_ms": percentile_ms(seconds, 50), "query_p95_ms": percentile_ms(seconds, 95),
             "recall_at_10": recall_at_k(rows, truth),
             "engine_choice": (kind == "exact") == (n <= settings.exact_search_limit)}
    return point, index


def ef_search_sweep(index: Any, queries: np.ndarray, truth: np.ndarray, efs: Sequence[int]) -> list[dict[str, Any]]:
    """Recall and latency at several efSearch values on one built HNSW index (efSearch is a
    search-time knob: no rebuild)."""
    rows = []
    for ef in efs:
        index.hnsw.efSearch = ef
        seconds = single_query_seconds(lambda q: index.search(q.reshape(1, -1), 10), queries)
        _scores, found = index.search(queries, 10)
        rows.append({"ef_search": ef, "query_p50_ms": percentile_ms(seconds, 50),
                     "query_p95_ms": percentile_ms(seconds, 95), "recall_at_10": recall_at_k(found, truth)})
    return rows


def synthetic_vocabulary(size: int, seed: int) -> list[str]:
    """Made-up lowercase words; each is one token for our tokenizer (checked in tests)."""
    from qa.text import STOPWORDS

    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    found: dict[str, None] = {}
    while len(found) < size:
        word = "".join(rng.choice(letters, int(rng.integers(4, 10))))
        if word not in STOPWORDS:
            found.setdefault(word, None)
    return list(found)


def zipf_word_ids(rows: int, length: int, vocabulary: int, seed: int, exponent: float = 1.1) -> np.ndarray:
    """Word ids with Zipf frequencies, as in natural text: a few very common, a long rare tail."""
    ids = np.random.default_rng(seed).zipf(exponent, size=(rows, length)) - 1
    return (ids % vocabulary).astype(np.int64)


def scale_bm25_point(n: int, settings: Settings, say: Say, words_per_passage: int = 60,
                     vocabulary_size: int = 50_000, seed: int = 7) -> dict[str, Any]:
    """BM25 over n generated passages, queried the way `bm25_ranking` does. Passages are made
    of words our tokenizer keeps whole, so a passage's tokens are its words' stems; the
    tokenizer's own cost per passage is measured on a sample and reported beside."""
    import bm25s

    from qa.text import content_stems

    vocabulary = synthetic_vocabulary(vocabulary_size, seed)
    stems = np.array([(content_stems(w) or [w])[0] for w in vocabulary], dtype=object)
    ids = zipf_word_ids(n, words_per_passage, vocabulary_size, seed)
    sample = [" ".join(vocabulary[i] for i in row) for row in ids[:2000]]
    started = time.perf_counter()
    for text in sample:
        content_stems(text)
    tokenize_us = (time.perf_counter() - started) / len(sample) * 1e6
    corpus = [stems[row].tolist() for row in ids]
    del ids
    say(f"  BM25: indexing {n:,} passages")
    started = time.perf_counter()
    bm25 = bm25s.BM25()
    bm25.index(corpus, show_progress=False)
    build_s = time.perf_counter() - started
    del corpus
    scores = bm25.scores
    nbytes = sum(scores[k].nbytes for k in ("data", "indices", "indptr"))
    query_ids = zipf_word_ids(SCALE_QUERIES, 4, vocabulary_size, seed + 1)
    queries = [" ".join(vocabulary[i] for i in row) for row in query_ids]
    seconds = single_query_seconds(lambda q: bm25_ranking(bm25, q, settings.candidates), queries)
    return {"passages": n, "index": "bm25", "build_s": build_s, "bytes_per_passage": nbytes / n,
            "query_p50_ms": percentile_ms(seconds, 50), "query_p95_ms": percentile_ms(seconds, 95),
            "recall_at_10": None, "tokenize_us_per_passage": tokenize_us}


def scale_point(n: int, settings: Settings, say: Say, shape: VectorShape,
                sweep: Sequence[int] = ()) -> dict[str, Any]:
    """Exact, HNSW and BM25 at one corpus size. Queries are fresh draws from the same
    distribution as the passages (a question is not a copy of a stored passage). Returns
    {"points": [...], "sweep": [...]}; the sweep reuses the HNSW index built for the point."""
    import faiss

    say(f"scale: {n:,} passages ({shape.name} vectors)")
    vectors = shape.sample(n, seed=n)
    queries = shape.sample(SCALE_QUERIES, seed=n + 1)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    _scores, truth = flat.search(queries, 10)
    del flat
    exact, index = scale_vector_point(vectors, queries, truth, "exact", settings, say)
    del index
    say(f"  exact: p50 {exact['query_p50_ms']:.2f} ms")
    say(f"  HNSW: building over {n:,} vectors")
    hnsw, index = scale_vector_point(vectors, queries, truth, "hnsw", settings, say)
    say(f"  HNSW: built in {hnsw['build_s']:.0f} s, p50 {hnsw['query_p50_ms']:.2f} ms, recall@10 {hnsw['recall_at_10']:.3f}")
    sweep_rows = [dict(row, passages=n) for row in ef_search_sweep(index, queries, truth, sweep)]
    del index, vectors
    points = [dict(p, vectors=shape.name) for p in (exact, hnsw)]
    points.append(scale_bm25_point(n, settings, say))
    say(f"  BM25: p50 {points[-1]['query_p50_ms']:.2f} ms")
    return {"points": points, "sweep": sweep_rows}


# ---------------------------------------------------------------- report

def scale_section(r: dict[str, Any], plot_name: str) -> list[str]:
    s = r["settings"]
    lines = [
        "## Scale", "",
        f"Synthetic corpora; settings: exact search up to {s['exact_search_limit']:,} vectors, HNSW above it with "
        f"M={s['hnsw_m']}, efConstruction={s['hnsw_ef_construction']}, efSearch={s['hnsw_ef_search']}. "
        f"Vectors: {r['scale'][0].get('vectors', 'synthetic')} (384-d Gaussian with the mean and covariance of the "
        "model's embeddings of the article's sentences and words, normalised); queries are fresh draws from the "
        f"same distribution, {SCALE_QUERIES} single queries per index, top 10. BM25: passages of 60 words drawn "
        "Zipf-distributed (exponent 1.1) from 50,000 made-up words, tokenized by `qa.text.content_stems`, "
        "4-word queries scored as `qa.retrieve.bm25_ranking` does.", "",
        "| passages | index | build (s) | bytes/passage | query p50 (ms) | query p95 (ms) | recall@10 |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in r["scale"]:
        recall = "" if p["recall_at_10"] is None else f"{p['recall_at_10']:.3f}"
        lines.append(f"| {p['passages']:,} | {p['index']} | {p['build_s']:.1f} | {p['bytes_per_passage']:,.0f} | "
                     f"{p['query_p50_ms']:.2f} | {p['query_p95_ms']:.2f} | {recall} |")
    bm25 = [p for p in r["scale"] if p["index"] == "bm25"]
    if bm25:
        lines += ["", f"BM25 build time excludes tokenizing, which costs {bm25[-1]['tokenize_us_per_passage']:.0f} µs "
                  "per 60-word passage with `content_stems` (so about that many seconds per million passages)."]
    if r.get("ef_search_sweep"):
        lines += ["", f"efSearch sweep on the HNSW index of {r['ef_search_sweep'][0]['passages']:,} vectors "
                  "(a search-time setting: no rebuild):", "",
                  "| efSearch | query p50 (ms) | query p95 (ms) | recall@10 |", "| ---: | ---: | ---: | ---: |"]
        lines += [f"| {w['ef_search']} | {w['query_p50_ms']:.2f} | {w['query_p95_ms']:.2f} | {w['recall_at_10']:.3f} |"
                  for w in r["ef_search_sweep"]]
    lines += ["", f"![query latency against corpus size]({plot_name})", ""]
    return lines


def save_plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, label in (("flat", "exact (IndexFlatIP)"), ("hnsw", "HNSW"), ("bm25", "BM25")):
        rows = sorted((p for p in points if p["index"].startswith(kind)), key=lambda p: p["passages"])
        if rows:
            x = [p["passages"] for p in rows]
            ax.plot(x, [p["query_p50_ms"] for p in rows], marker="o", label=f"{label} p50")
            ax.plot(x, [p["query_p95_ms"] for p in rows], marker=".", linestyle=":", label=f"{label} p95")
    ax.axhline(TARGET_SCALE_P50_MS, color="grey", linestyle="--", label="5 ms target")
    ax.set(xscale="log", yscale="log", xlabel="passages", ylabel="single-query latency (ms)",
           title="Query latency against corpus size (2 cores)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
