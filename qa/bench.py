"""`qa bench`: how fast the chatbot is against the floor of what its parts can do, measured
side by side in one run on this machine, for both ways of embedding a question: the ONNX
model stored with the index (what users get) and torch with sentence-transformers (the
fallback, and what the engine did before). qa/bench_scale.py measures the index layer far
beyond one article.

Every figure is a ratio or a comparison with a floor measured in the same process, at the same
moment, because the machine is shared: absolute milliseconds swing with the load of the other
core, ratios of interleaved measurements much less.

1. Query latency: warm `Engine.ask` against one question encode plus one FAISS search, per path;
   and the cost per question of answering in batches (`Engine.ask_many`, as the server does).
2. Index build: texts embedded per second by `build_index` against raw `model.encode`.
3. Cold start: a fresh `qa ask --json` against a process that only loads the model and encodes
   one question: onnxruntime + tokenizers for the ONNX path, sentence-transformers for torch.
4. Scale: exact and HNSW vector indexes and BM25 on synthetic corpora up to 1M passages.
5. Peak RSS of a serving process (engine loaded, every eval question answered), per path.
6. An index that grows: the rebuild after one of many files changed, against a full rebuild
   (qa/bench_grow.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from qa.bench_grow import GROW_DOCUMENTS, QUICK_GROW_DOCUMENTS, bench_grow
from qa.bench_report import CHANGES, PLOT, REPORT, print_summary, write_report
from qa.bench_scale import FULL_SIZES, QUICK_SIZES, VectorShape, percentile_ms, scale_point
from qa.errors import QueryModelUnavailable
from qa.outputs import check_writable, write_text
from qa.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from qa.embedding import Embedder
    from qa.engine import Engine

QUESTIONS = PROJECT_ROOT / "eval" / "sets" / "battery.jsonl"
PATHS = ("", "torch_")  # key prefixes: the ONNX path as users get it, then torch

Say = Callable[[str], None]


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def load_questions(path: Path = QUESTIONS) -> list[tuple[str, tuple[str, ...]]]:
    """(question, history) pairs of the battery eval set: the questions users are expected to ask."""
    from qa.evalsets import load_eval_set

    return [(item["question"], tuple(item["history"])) for item in load_eval_set(path).items]


# ---------------------------------------------------------------- 1. query latency

def floor_query(engine: "Engine", question: str) -> None:
    """The least any answer costs: one question embedding and one FAISS search."""
    vector = engine.embedder.encode([question])
    engine.index.chunk_vectors.search(vector, min(engine.settings.candidates, engine.index.chunk_vectors.ntotal))


def _timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - started


def bench_query(engines: dict[str, "Engine"], questions: list[tuple[str, tuple[str, ...]]],
                rounds: int) -> dict[str, Any]:
    """Each path timed in a pass of its own, as a server runs one path only: with a torch
    encode between two ONNX ones, the ONNX floor slowed from about 3.5 to 6 ms (the torch run
    evicts what the ONNX one had cached), which flattered the ONNX ratio (1.28-1.35 interleaved
    against 1.39-1.50 alone). Within a pass each question is asked and floored back to back,
    so that a burst of load on the shared machine hits both alike, and which goes first
    alternates, as whichever runs first meets caches the other has cooled. ONNX against torch
    compares two passes, not interleaved questions. `engines` maps a key prefix to an engine."""
    results: dict[str, Any] = {"query_count": len(questions) * rounds, "query_questions": len(questions)}
    for prefix, engine in engines.items():
        results.update(_query_pass(prefix, engine, questions, rounds))
    if "torch_query_p50_ms" in results and "query_p50_ms" in results:
        results["query_vs_torch_p50"] = results["query_p50_ms"] / results["torch_query_p50_ms"]
    return results


def _query_pass(prefix: str, engine: "Engine", questions: list[tuple[str, tuple[str, ...]]],
                rounds: int) -> dict[str, Any]:
    for question, history in questions[:5]:  # warm: first calls allocate buffers
        engine.ask(question, history=history)
        floor_query(engine, question)
    asked: list[float] = []
    floor: list[float] = []
    stages: dict[str, list[float]] = {"embed": [], "retrieve": [], "features": [], "answer": []}
    for _ in range(rounds):
        for n, (question, history) in enumerate(questions):
            floor_first = n % 2 == 1
            if floor_first:
                floor.append(_timed(floor_query, engine, question)[1])
            answer, seconds = _timed(engine.ask, question, history=history)
            asked.append(seconds)
            if not floor_first:
                floor.append(_timed(floor_query, engine, question)[1])
            for name, values in stages.items():
                values.append(answer.timings_ms[name] / 1000)
    p50, floor_p50 = percentile_ms(asked, 50), percentile_ms(floor, 50)
    return {
        f"{prefix}query_p50_ms": p50, f"{prefix}query_p95_ms": percentile_ms(asked, 95),
        f"{prefix}query_floor_p50_ms": floor_p50, f"{prefix}query_floor_p95_ms": percentile_ms(floor, 95),
        f"{prefix}query_ratio_p50": p50 / floor_p50,
        f"{prefix}query_stage_p50_ms": {name: percentile_ms(v, 50) for name, v in stages.items()},
    }


def bench_batching(engine: "Engine", questions: list[tuple[str, tuple[str, ...]]], rounds: int) -> dict[str, Any]:
    """What answering questions that arrive together costs (the server's micro-batches, `qa
    eval`): every question asked alone against `Engine.ask_many` in batches of `batch_max_size`,
    alternated round by round; the best round of each, in ms per question."""
    from qa.engine import Question

    size = engine.settings.batch_max_size
    asked = [Question(q, h) for q, h in questions]
    alone, batched = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        for question in asked:
            engine.ask(question.text, history=question.history)
        alone.append(time.perf_counter() - started)
        started = time.perf_counter()
        for start in range(0, len(asked), size):
            engine.ask_many(asked[start:start + size])
        batched.append(time.perf_counter() - started)
    per_alone, per_batched = 1000 * min(alone) / len(asked), 1000 * min(batched) / len(asked)
    return {"batch_max_size": size, "alone_ms_per_question": per_alone, "batched_ms_per_question": per_batched,
            "batched_vs_alone": per_batched / per_alone}


# ---------------------------------------------------------------- 2. index build

def build_texts(index: Any) -> list[str]:
    """The texts `build_index` embeds, in its order: dense keys, sentences, vocabulary."""
    from qa.index import chunk_keys

    keys, _owners = chunk_keys(index.chunks)
    return keys + [s.text for s in index.sentences] + list(index.vocabulary)


def raw_encode_seconds(embedder: "Embedder", texts: list[str]) -> float:
    """The model's own encode, no wrapper: the ceiling for build throughput."""
    import torch

    started = time.perf_counter()
    with torch.inference_mode():
        embedder.model.encode(texts, batch_size=embedder.batch_size, show_progress_bar=False)
    return time.perf_counter() - started


def bench_build(embedder: "Embedder", settings: Settings, rounds: int, say: Say) -> tuple[dict[str, Any], Any]:
    """Whole `build_index` runs (chunking, token counting, embedding, FAISS, BM25, the ONNX
    export and its check) against raw encodes of the same texts, alternated; the best of each
    side counts, the least disturbed by the other helpers' load. The export is new work that
    raw encode does not do, so the ratio is also given without it. Returns the figures and the
    last index built."""
    from qa.corpus import load_corpus
    from qa.index import build_index

    documents = load_corpus(settings.corpus_dir)
    builds, embeds, exports, raws, index = [], [], [], [], None
    for round_ in range(rounds):
        say(f"index build round {round_ + 1}/{rounds}")
        started = time.perf_counter()
        index = build_index(documents, embedder, settings)
        builds.append(time.perf_counter() - started)
        embeds.append(float(index.manifest["embedding"]["seconds"]))
        exports.append(float(index.manifest["onnx"]["seconds"]))
        raws.append(raw_encode_seconds(embedder, build_texts(index)))
    texts = int(index.manifest["embedding"]["texts"])
    best_build = min(builds)
    without_export = min(b - e for b, e in zip(builds, exports))
    raw_rate = texts / min(raws)
    return {
        "build_texts": texts, "build_s": best_build, "build_texts_per_s": texts / best_build,
        "build_embed_texts_per_s": texts / min(embeds), "raw_encode_texts_per_s": raw_rate,
        "build_ratio": texts / best_build / raw_rate, "build_embed_ratio": texts / min(embeds) / raw_rate,
        "build_export_s": min(exports), "build_ratio_without_export": texts / without_export / raw_rate,
        "embed_batch_size": embedder.batch_size,
    }, index


# ---------------------------------------------------------------- 3. cold start and 5. memory

def qa_command() -> list[str]:
    """The installed `qa` script next to this Python, or the module when not installed."""
    script = Path(sys.executable).with_name("qa")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "qa.cli"]


def child_env(index_dir: Path) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", QA_INDEX_DIR=str(index_dir))
    return env


def _timed_run(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one child process."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                 stdin=subprocess.DEVNULL, cwd=PROJECT_ROOT)
        _pid, status = os.waitpid(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            message = err.read().decode("utf-8", "replace").strip()[-500:]
            raise RuntimeError(f"{' '.join(command[:3])} ... failed ({child.returncode}): {message}")
    return seconds


ONNX_FLOOR = """
import sys
import numpy as np, onnxruntime
from tokenizers import Tokenizer
model, tokenizer, threads, question = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = threads
session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
tok = Tokenizer.from_file(tokenizer)
tok.no_padding()
tok.enable_truncation(256)
e = tok.encode(question)
fields = {"input_ids": e.ids, "attention_mask": e.attention_mask, "token_type_ids": e.type_ids}
feeds = {i.name: np.array([fields[i.name]], dtype=np.int64) for i in session.get_inputs()}
session.run(None, feeds)
"""

TORCH_FLOOR = """
import sys
import sentence_transformers as st
model = st.SentenceTransformer(sys.argv[1], device="cpu", local_files_only=True)
model.encode([sys.argv[2]], normalize_embeddings=True)
"""


def floor_commands(index_dir: Path, model_path: Path, question: str, threads: int) -> dict[str, list[str]]:
    """The floor processes: each only loads a model and encodes one question. ONNX: the model
    stored in the current build with onnxruntime and tokenizers, nothing of ours imported."""
    from qa.index_files import current_build, read_manifest

    build = current_build(index_dir)
    spec = read_manifest(build).get("onnx") or {}
    if not spec.get("available"):
        raise QueryModelUnavailable(f"the index holds no ONNX model to measure ({spec.get('reason')})")
    onnx = [sys.executable, "-c", ONNX_FLOOR, str(build / spec["file"]), str(build / spec["tokenizer"]),
            str(threads), question]
    return {"": onnx, "torch_": [sys.executable, "-c", TORCH_FLOOR, str(model_path), question]}


def bench_cold_start(index_dir: Path, model_path: Path, question: str, runs: int, say: Say,
                     threads: int = 1) -> dict[str, Any]:
    """Fresh processes, the four kinds alternated; medians. The index is built beforehand. `qa
    ask --json` as users run it (ONNX), and with QA_ONNX=0 (torch), each against its floor."""
    env = child_env(index_dir)
    ask = qa_command() + ["ask", "--json", question]
    floors = floor_commands(index_dir, model_path, question, threads)
    runs_of: dict[str, list[float]] = {key: [] for key in ("ask", "floor", "torch_ask", "torch_floor")}
    for run in range(runs):
        say(f"cold start run {run + 1}/{runs}")
        for prefix in PATHS:
            runs_of[f"{prefix}ask"].append(_timed_run(ask, dict(env, QA_ONNX="0" if prefix else "1")))
            runs_of[f"{prefix}floor"].append(_timed_run(floors[prefix], env))
    med = {key: statistics.median(values) for key, values in runs_of.items()}
    results: dict[str, Any] = {"cold_start_runs": runs}
    for p in PATHS:
        results.update({f"{p}cold_start_s": med[f"{p}ask"], f"{p}cold_start_floor_s": med[f"{p}floor"],
                        f"{p}cold_start_margin_s": med[f"{p}ask"] - med[f"{p}floor"]})
    results["cold_start_vs_torch_floor"] = med["ask"] / med["torch_floor"]
    return results


RSS_SCRIPT = """
import json, sys
from qa.engine import Question, get_engine
from qa.bench import load_questions
engine = get_engine()
asked = [Question(question, history) for question, history in load_questions()]
size = engine.settings.batch_max_size  # in batches, as the server answers questions that arrive together
for start in range(0, len(asked), size):
    engine.ask_many(asked[start:start + size])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child would report
# the (larger) benchmark process's peak.
peak = next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(type(engine.embedder).__name__, peak)
"""
ENCODERS = {"": "OnnxEncoder", "torch_": "Embedder"}


def bench_rss(index_dir: Path, with_gradio: bool = True) -> dict[str, Any]:
    """Peak RSS of a process that loaded the engine and answered every eval question, on each
    path, and the same with Gradio imported too (what `qa serve` holds)."""
    figures = {}
    probes = (("rss_mb", ""), ("rss_with_gradio_mb", "import gradio\n"))
    for path in PATHS:
        env = dict(child_env(index_dir), QA_ONNX="0" if path else "1")
        for key, prefix in probes[: 2 if with_gradio else 1]:
            done = subprocess.run([sys.executable, "-c", prefix + RSS_SCRIPT], env=env, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL, cwd=PROJECT_ROOT)
            if done.returncode != 0:
                raise RuntimeError(f"memory probe failed: {done.stderr.strip()[-500:]}")
            encoder, peak = done.stdout.split()[-2:]
            if encoder != ENCODERS[path]:
                raise RuntimeError(f"memory probe of the {path or 'onnx_'}path embedded with {encoder}")
            figures[path + key] = int(peak) / 1024  # VmHWM is in kB
    return figures


def import_costs(top: int = 12) -> list[dict[str, Any]]:
    """Top-level packages by cumulative import time in a fresh `qa ask` start-up (python -X importtime)."""
    code = "import qa.cli, qa.engine, qa.index, qa.embedding, qa.answer, qa.onnx_model, faiss, bm25s, onnxruntime, tokenizers"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    costs: dict[str, int] = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if name.startswith(" ") and not name.startswith("  "):  # depth 1: imported by the script itself
            package = name.strip().split(".")[0]
            costs[package] = costs.get(package, 0) + int(parts[1])
    ranked = sorted(costs.items(), key=lambda item: -item[1])[:top]
    return [{"package": name, "seconds": micros / 1e6} for name, micros in ranked]


# ---------------------------------------------------------------- the run


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from qa.index import library_versions

    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "platform": platform.platform(), "versions": library_versions(),
            "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS")
                    if k in os.environ}}


@contextmanager
def bench_index_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        yield Path(tmp) / "index"


def run(quick: bool, say: Say = _say, settings: Settings | None = None,
        checkpoint: Path | None = None) -> dict[str, Any]:
    """All six benchmarks. Quick: one round each, 10k-passage scale only, 40 documents for the
    growing index (about two minutes).
    `checkpoint`: a JSON file rewritten after each stage, so a long run leaves its figures."""
    from qa.embedding import Embedder
    from qa.engine import Engine
    from qa.index_files import save_index
    from qa.onnx_model import OnnxEncoder

    base = settings or Settings.from_env()
    results: dict[str, Any] = {"quick": quick, "machine": machine(), "settings": {
        k: getattr(base, k) for k in ("exact_search_limit", "hnsw_m", "hnsw_ef_construction", "hnsw_ef_search",
                                      "embed_batch_size", "torch_threads", "candidates", "top_k", "onnx_int8")}}
    questions = load_questions()
    with bench_index_dir() as index_dir:
        s = base.with_(index_dir=index_dir, onnx=True)
        say("loading the model")
        embedder = Embedder(s.model_path, s.torch_threads, s.embed_batch_size)
        embedder.model  # noqa: B018 - load now, outside every timed part
        build, index = bench_build(embedder, s, rounds=1 if quick else 3, say=say)
        results.update(build)
        save_index(index, index_dir)
        engine = Engine.load(s, embedder=embedder)
        if not isinstance(engine.embedder, OnnxEncoder):
            raise QueryModelUnavailable(f"the build did not keep an ONNX model ({index.manifest['onnx'].get('reason')})")
        results["onnx"] = {k: engine.index.manifest["onnx"][k] for k in ("file", "int8", "verified", "seconds")}
        engines = {"": engine, "torch_": Engine(s.with_(onnx=False), engine.index, embedder)}
        say(f"query latency over {len(questions)} eval questions, both paths")
        results.update(bench_query(engines, questions, rounds=1 if quick else 3))
        say(f"answering the {len(questions)} eval questions in batches against one by one")
        results.update(bench_batching(engine, questions, rounds=3 if quick else 5))
        results.update(bench_cold_start(index_dir, embedder.path, questions[0][0], 1 if quick else 3, say,
                                        threads=s.torch_threads))
        say("peak memory, both paths")
        results.update(bench_rss(index_dir))
        shape = VectorShape.like(np.vstack([index.sentence_vectors, index.vocabulary_vectors]))
    results.update(bench_grow(embedder, base, QUICK_GROW_DOCUMENTS if quick else GROW_DOCUMENTS, say))
    if not quick:
        results["import_costs"] = import_costs()
    sweep = () if quick else (16, 32, 64, 128, 256, 512)
    _save(results, checkpoint)
    sizes = QUICK_SIZES if quick else FULL_SIZES
    results.update(scale=[], ef_search_sweep=[])
    for n in sizes:
        found = scale_point(n, base, say, shape, sweep=sweep if n == max(sizes) else ())
        results["scale"] += found["points"]
        results["ef_search_sweep"] += found["sweep"]
        _save(results, checkpoint)
    return results


def _save(results: dict[str, Any], path: Path | None) -> None:
    if path is not None:
        write_text(Path(path), json.dumps(results, indent=2) + "\n", "--json")


def run_cli(args: argparse.Namespace) -> int:
    """`qa bench [--quick] [--json OUT] [--report]`. The report is always from a full run."""
    if args.report and args.quick:
        print("qa: --report needs the full run (eval/bench.md states full-run figures); drop --quick", file=sys.stderr)
        return 2
    out = Path(args.json_out) if args.json_out else None
    if out:
        check_writable(out, "--json")
    if getattr(args, "backend", None) == "milvus" or getattr(args, "clustered", None):
        return _run_extra(args, out)
    results = run(quick=args.quick, checkpoint=out)
    print_summary(results)
    if args.report:
        write_report(results, CHANGES)
    _say(where_saved(out, [REPORT, PLOT] if args.report else []))
    return 0


def where_saved(out: Path | None, report: Sequence[Path] = ()) -> str:
    """The run's last line: where its figures went, or that they went nowhere but the screen and
    how to keep them next time (a run takes minutes; its figures should not be lost by surprise)."""
    written = [str(path) for path in ([out] if out else []) + list(report)]
    if written:
        return f"wrote {' and '.join(written)}"
    return ("these figures were printed only, not saved: give --json OUT to keep them "
            "(the full run's --report rewrites eval/bench.md)")


def _run_extra(args: argparse.Namespace, out: Path | None) -> int:
    """`--backend milvus` (qa/bench_milvus.py) and `--clustered N` (qa/bench_clusters.py): apart
    from the main run, each prints its own table."""
    results: dict[str, Any] = {}
    if args.backend == "milvus":
        from qa import bench_milvus

        results["milvus"] = bench_milvus.run(args.quick, _say)
        bench_milvus.print_results(results["milvus"])
    if args.clustered:
        from qa.bench_clusters import print_clustered, run_clustered

        results["clustered"] = run_clustered(args.clustered, _say)
        print_clustered(results["clustered"])
    _save(results, out)
    _say(where_saved(out))
    return 0
