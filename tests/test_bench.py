"""The benchmark's own parts, on small real inputs: recall arithmetic, the scale runner, the
engine-facing measurements and the report. No timing assertions: speed goals live in
eval/bench.md, not in tests."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from qa import bench, bench_report, bench_scale
from qa.embedding import Embedder
from qa.engine import Engine
from qa.settings import Settings
from qa.text import content_stems

HEADLINE_KEYS = ("query_p50_ms", "query_floor_p50_ms", "query_ratio_p50", "torch_query_p50_ms",
                 "torch_query_floor_p50_ms", "torch_query_ratio_p50", "query_vs_torch_p50", "build_texts_per_s",
                 "raw_encode_texts_per_s", "build_ratio", "build_ratio_without_export", "cold_start_s",
                 "cold_start_floor_s", "cold_start_margin_s", "torch_cold_start_s", "torch_cold_start_floor_s",
                 "torch_cold_start_margin_s", "cold_start_vs_torch_floor")
SCALE_KEYS = {"passages", "index", "build_s", "bytes_per_passage", "query_p50_ms", "query_p95_ms", "recall_at_10"}


def quiet(_message: str) -> None:
    pass


def test_recall_at_10_matches_brute_force_count() -> None:
    exact = np.array([list(range(10)), list(range(10, 20))])
    approximate = np.array([[0, 1, 2, 3, 4, 50, 51, 52, 53, -1],  # 5 of 10 found
                            list(range(19, 9, -1))])  # all 10, in another order
    assert bench_scale.recall_at_k(approximate, exact) == pytest.approx(0.75)


def test_recall_never_counts_missing_results() -> None:
    exact = np.array([list(range(10))])
    assert bench_scale.recall_at_k(np.full((1, 10), -1), exact) == 0.0


def test_percentile_is_in_milliseconds() -> None:
    assert bench_scale.percentile_ms([0.001, 0.002, 0.003], 50) == pytest.approx(2.0)


def test_synthetic_words_are_one_token_each_for_our_tokenizer() -> None:
    vocabulary = bench_scale.synthetic_vocabulary(300, seed=1)
    assert len(set(vocabulary)) == 300
    text = " ".join(vocabulary)
    assert len(content_stems(text)) == 300


def test_embedding_like_vectors_are_unit_length_and_anisotropic() -> None:
    rng = np.random.default_rng(0)
    real = rng.standard_normal((200, 384)).astype(np.float32) * np.linspace(3, 0.1, 384, dtype=np.float32)
    vectors = bench_scale.VectorShape.like(real).sample(500, seed=2)
    assert vectors.shape == (500, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    spread = vectors.std(axis=0)
    assert spread[:10].mean() > 5 * spread[-10:].mean()


def test_scale_point_on_2000_passages_reports_every_index() -> None:
    found = bench_scale.scale_point(2000, Settings(), quiet, bench_scale.VectorShape.uniform(384), sweep=(16, 64))
    points = {p["index"].split("_")[0]: p for p in found["points"]}
    assert set(points) == {"flat", "hnsw", "bm25"}
    for point in found["points"]:
        assert SCALE_KEYS <= set(point) and point["passages"] == 2000 and point["bytes_per_passage"] > 0
    assert 0.0 < points["hnsw"]["recall_at_10"] <= 1.0
    assert points["bm25"]["recall_at_10"] is None
    assert [row["ef_search"] for row in found["sweep"]] == [16, 64]


def test_exact_index_search_agrees_with_a_numpy_brute_force() -> None:
    """The truth the scale runner scores HNSW against is FAISS's exact search: check that one
    against numpy, and that a deliberately thin HNSW graph falls short of it."""
    shape = bench_scale.VectorShape.uniform(32)
    vectors, queries = shape.sample(3000, seed=3), shape.sample(30, seed=4)
    truth = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]
    exact, _index = bench_scale.scale_vector_point(vectors, queries, truth, "exact", Settings(), quiet)
    assert exact["recall_at_10"] == 1.0
    thin = Settings(hnsw_m=2, hnsw_ef_construction=2, hnsw_ef_search=1)
    hnsw, _index = bench_scale.scale_vector_point(vectors, queries, truth, "hnsw", thin, quiet)
    assert hnsw["recall_at_10"] < 1.0


def test_engine_measurements_return_the_documented_keys(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """Both paths measured side by side: the engine as users get it (ONNX) and torch."""
    torch_embedder = engine.embedder.torch_embedder
    assert isinstance(torch_embedder, Embedder)
    questions = bench.load_questions()[:4]
    engines = {"": engine, "torch_": Engine(settings.with_(onnx=False), engine.index, torch_embedder)}
    query = bench.bench_query(engines, questions, rounds=1)
    assert query["query_count"] == 4 and query["query_ratio_p50"] > 0 and query["torch_query_ratio_p50"] > 0
    assert query["query_vs_torch_p50"] == query["query_p50_ms"] / query["torch_query_p50_ms"]
    build, index = bench.bench_build(torch_embedder, settings, rounds=1, say=quiet)
    assert build["build_texts"] == len(bench.build_texts(index)) and build["build_ratio"] > 0
    assert 0 < build["build_export_s"] < build["build_s"]
    assert build["build_ratio_without_export"] > build["build_ratio"]
    cold = bench.bench_cold_start(settings.index_dir, torch_embedder.path, questions[0][0], runs=1, say=quiet)
    for key in ("cold_start_s", "cold_start_floor_s", "torch_cold_start_s", "torch_cold_start_floor_s"):
        assert cold[key] > 0, key
    assert cold["cold_start_vs_torch_floor"] == cold["cold_start_s"] / cold["torch_cold_start_floor_s"]
    results = {**query, **build, **cold, "rss_mb": 200.0, "rss_with_gradio_mb": 290.0, "torch_rss_mb": 600.0,
               "torch_rss_with_gradio_mb": 700.0, "machine": bench.machine(), "settings": {
                   "exact_search_limit": 10, "hnsw_m": 8, "hnsw_ef_construction": 16, "hnsw_ef_search": 16}}
    for key in ("query_p50_ms", "query_floor_p50_ms", "query_ratio_p50", "torch_query_p50_ms", "build_ratio",
                "cold_start_s", "cold_start_floor_s", "torch_cold_start_floor_s"):  # measured, not set here
        assert isinstance(results[key], float) and results[key] > 0, key
    results.update(bench_scale.scale_point(500, Settings(), quiet, bench_scale.VectorShape.uniform(384), sweep=(16,)))
    results["scale"], results["ef_search_sweep"] = results.pop("points"), results.pop("sweep")
    report, plot = tmp_path / "bench.md", tmp_path / "bench.png"
    bench.write_report(results, "- a change", path=report, plot=plot)
    text = report.read_text(encoding="utf-8")
    assert "| 500 | flat_ip |" in text and "- a change" in text and "cores" in text
    assert "ONNX against torch path" in text and "290 with Gradio" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_batching_measurement_answers_the_same_questions_both_ways(engine: Engine) -> None:
    found = bench.bench_batching(engine, bench.load_questions()[:6], rounds=1)
    assert found["batch_max_size"] == engine.settings.batch_max_size
    assert found["alone_ms_per_question"] > 0 and found["batched_ms_per_question"] > 0
    assert found["batched_vs_alone"] == found["batched_ms_per_question"] / found["alone_ms_per_question"]
    summary = bench_report.headline({**found, **{k: 1.0 for k in HEADLINE_KEYS}})
    assert any(row[0].startswith(f"answering in batches of {found['batch_max_size']}") for row in summary)


def test_floor_processes_need_an_onnx_model_in_the_index(tmp_path: Path, settings: Settings) -> None:
    """The ONNX floor runs the build's own model file; an index without one is refused by name."""
    import json
    import shutil

    from qa.errors import QueryModelUnavailable
    from qa.index_files import CURRENT

    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir, ignore=shutil.ignore_patterns(".build.lock"))
    commands = bench.floor_commands(index_dir, Path("/model"), "Why?", threads=1)
    build = index_dir / "builds" / (index_dir / CURRENT).read_text().strip()
    assert str(build / "model.onnx") in commands[""] and commands[""][-1] == "Why?"
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["onnx"] = {"available": False, "reason": "a test said so"}
    (build / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(QueryModelUnavailable, match="a test said so"):
        bench.floor_commands(index_dir, Path("/model"), "Why?", threads=1)


def test_report_refuses_a_quick_run(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(quick=True, report=True, json_out=None)
    assert bench.run_cli(args) == 2
    assert "drop --quick" in capsys.readouterr().err


def test_growing_index_bench_changes_one_generated_file_and_compares_with_a_full_rebuild(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    from qa import bench_grow

    torch_embedder = engine.embedder.torch_embedder
    assert isinstance(torch_embedder, Embedder)
    found = bench_grow.bench_grow(torch_embedder, settings, documents=6, say=quiet)
    assert found["grow_embedded_documents"] == 1 and found["grow_reused_documents"] == 5
    assert 0 < found["grow_embedded_texts"] < found["grow_full_embedded_texts"]
    assert found["grow_embedded_texts"] + found["grow_reused_texts"] == found["grow_full_embedded_texts"]
    assert found["grow_ratio"] == found["grow_s"] / found["grow_full_s"]
    row = bench_grow.grow_row(found)
    assert row[1:3] == (found["grow_s"], found["grow_full_s"]) and "1 of 6 files" in row[0]
    assert "## An index that grows" in bench_grow.grow_section(found)


def test_generated_corpus_is_the_same_on_every_run_and_each_document_its_own(tmp_path: Path) -> None:
    from qa import bench_grow

    bench_grow.write_corpus(tmp_path / "a", 5)
    bench_grow.write_corpus(tmp_path / "b", 5)
    texts = [p.read_text(encoding="utf-8") for p in sorted((tmp_path / "a").glob("*.md"))]
    assert texts == [p.read_text(encoding="utf-8") for p in sorted((tmp_path / "b").glob("*.md"))]
    paragraphs = [p for text in texts for p in text.split("\n\n")[1:]]
    assert len(paragraphs) == 5 * bench_grow.PARAGRAPHS == len(set(paragraphs))


def summary_figures(rss_with_gradio_mb: float) -> dict:
    """A quick run's figures as `bench.run` returns them (the values of review 35b's run)."""
    return {"query_p50_ms": 5.0, "query_floor_p50_ms": 3.55, "query_ratio_p50": 1.41, "torch_query_p50_ms": 11.4,
            "torch_query_floor_p50_ms": 9.5, "torch_query_ratio_p50": 1.20, "query_vs_torch_p50": 0.44,
            "batch_max_size": 16, "batched_ms_per_question": 3.1, "alone_ms_per_question": 5.1,
            "batched_vs_alone": 0.61, "build_texts_per_s": 159.0, "raw_encode_texts_per_s": 294.0,
            "build_ratio": 0.54, "build_ratio_without_export": 0.98, "cold_start_s": 0.66, "cold_start_floor_s": 0.2,
            "cold_start_margin_s": 0.46, "torch_cold_start_s": 6.25, "torch_cold_start_floor_s": 6.02,
            "torch_cold_start_margin_s": 0.23, "cold_start_vs_torch_floor": 0.11, "grow_documents": 40,
            "grow_s": 1.15, "grow_full_s": 17.32, "grow_ratio": 0.066, "rss_mb": 221.0,
            "rss_with_gradio_mb": rss_with_gradio_mb, "torch_rss_mb": 604.0, "torch_rss_with_gradio_mb": 660.0,
            "scale": []}


@pytest.mark.parametrize(("rss", "verdict"), [(343.0, "MISSED"), (290.0, "met")])
def test_summary_gives_every_target_a_verdict_and_a_row_without_one_says_so(
        capsys: pytest.CaptureFixture[str], rss: float, verdict: str) -> None:
    bench_report.print_summary(summary_figures(rss))
    lines = capsys.readouterr().out.splitlines()
    memory = next(line for line in lines if line.startswith("peak RSS"))
    assert memory.endswith(f"(target ONNX with gradio <= {bench_report.TARGET_RSS_MB}) {verdict}"), memory
    batching = next(line for line in lines if line.startswith("answering in batches"))
    assert batching.endswith("0.61 (no target)"), batching
    rows = [line for line in lines if "(target " in line]
    assert len(rows) == 9 and all(line.endswith((" met", " MISSED")) for line in rows), rows
    assert "(target (" not in "\n".join(lines)
    onnx = next(line for line in lines if line.startswith("query p50, ONNX path"))
    assert onnx.endswith("1.41 (target <= 1.3) MISSED"), onnx


def test_a_run_says_where_its_figures_went_or_that_they_were_not_saved(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert bench.where_saved(out) == f"wrote {out}"
    assert bench.where_saved(out, [bench.REPORT, bench.PLOT]) == f"wrote {out} and {bench.REPORT} and {bench.PLOT}"
    unsaved = bench.where_saved(None)
    assert "not saved" in unsaved and "--json OUT" in unsaved
