"""The ONNX query path: the index build exports the model and checks it, asking then never
imports torch (checked in fresh processes, as a user runs them), the vectors are the model's,
and every way the export can be missing or unusable falls back to torch with one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from qa.embedding import Embedder
from qa.engine import Engine
from qa.index_files import CURRENT
from qa.onnx_export import MIN_COSINE, export_query_model
from qa.onnx_model import OnnxEncoder
from qa.settings import PROJECT_ROOT, Settings

ARTICLE = """# Flow Batteries

## Chemistry

Vanadium flow batteries store energy in two tanks of liquid electrolyte. A membrane keeps the
two liquids apart while ions cross it.

## Uses

Grid operators in Hokkaido run a 60 megawatt-hour vanadium plant. Flow batteries last for more
than 20 years because the electrolyte does not wear out.
"""
QUESTION = "What keeps the two liquids of a flow battery apart?"
FACT = "membrane"
# Texts written for these tests: ordinary, empty, long past the 256 word-piece limit, mixed
# scripts, emoji, control characters, a lone UTF-16 surrogate and a split surrogate pair.
TEXTS = [
    "How long do flow batteries last?",
    "",
    "   ",
    "vanadium",
    "Grid storage " * 200,
    "Électrolyte liquide, 液流电池 and эмодзи 🔋⚡ side by side",
    "tab\tand\x00nul and a\u202eright-to-left override",
    "U.S. plants reached 2.5 GWh in 2024.",
    "\ud800 alone, then \ud83d\ude00 as a pair",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def build_dir(index_dir: Path) -> Path:
    return index_dir / "builds" / (index_dir / CURRENT).read_text(encoding="utf-8").strip()


@pytest.fixture(scope="module")
def torch_embedder(engine: Engine) -> Embedder:
    """The torch model the session engine built its index with (already loaded)."""
    embedder = engine.embedder if isinstance(engine.embedder, Embedder) else engine.embedder.torch_embedder
    assert isinstance(embedder, Embedder)
    return embedder


@pytest.fixture(scope="module")
def flow_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("flow-corpus")
    (folder / "flow.md").write_text(ARTICLE, encoding="utf-8")
    return folder


def load(corpus: Path, index_dir: Path, embedder: Embedder, **changes: object) -> tuple[Engine, list[str]]:
    messages: list[str] = []
    loaded = Engine.load(Settings(corpus_dir=corpus, index_dir=index_dir).with_(**changes),
                         progress=messages.append, embedder=embedder)
    return loaded, messages


def assert_answers(loaded: Engine) -> None:
    answer = loaded.ask(QUESTION)
    assert not answer.abstained, answer.text
    assert FACT in answer.text
    for citation in answer.citations:
        assert citation.matches(loaded.document(citation.source).text), citation


# ---------------------------------------------------------------- the export

def test_engine_embeds_questions_with_the_checked_onnx_export(engine: Engine) -> None:
    spec = engine.index.manifest["onnx"]
    assert isinstance(engine.embedder, OnnxEncoder)
    assert spec["available"] is True
    assert spec["source_model"] == "sentence-transformers/all-MiniLM-L6-v2" == engine.embedder.name
    assert spec["pooling"] == "mean" and spec["normalized"] is True
    assert spec["verified"]["texts"] == engine.index.manifest["embedding"]["texts"]
    assert spec["verified"]["min_cosine"] >= MIN_COSINE
    artifacts = engine.index.manifest["artifacts"]
    assert {spec["file"], spec["weights"], spec["tokenizer"]} <= set(artifacts), "all three are checksummed"


def test_onnx_vectors_equal_the_models_on_new_texts(engine: Engine, torch_embedder: Embedder) -> None:
    onnx = engine.embedder
    ours, theirs = onnx.encode(TEXTS), torch_embedder.encode(TEXTS)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), torch_embedder.dim)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cosines(ours, theirs).min() >= MIN_COSINE
    one_by_one = np.vstack([onnx.encode([text]) for text in TEXTS])
    assert cosines(one_by_one, ours).min() >= MIN_COSINE, "padding in a batch must not move a vector"
    assert onnx.encode([]).shape == (0, torch_embedder.dim)


def test_runs_side_by_side_give_the_vectors_of_runs_in_turn(engine: Engine) -> None:
    onnx = engine.embedder
    assert onnx.lanes == max(1, (os.cpu_count() or 1) // engine.settings.torch_threads)
    pair = ["How long do the flow batteries at Varnholt last?", "Varnholt"]
    many = [f"{text} {n}" for n in range(7) for text in TEXTS]
    side_by_side = [onnx.encode(pair), onnx.encode(many)]
    lanes, onnx.lanes = onnx.lanes, 1
    try:
        in_turn = [onnx.encode(pair), onnx.encode(many)]
    finally:
        onnx.lanes = lanes
    for ours, theirs in zip(side_by_side, in_turn):
        assert ours.shape == theirs.shape
        assert cosines(ours, theirs).min() >= MIN_COSINE
    assert np.array_equal(side_by_side[0][1], onnx.encode(["Varnholt"])[0]), "a name is run on its own"


def test_onnx_encoder_counts_tokens_like_the_model(engine: Engine, torch_embedder: Embedder) -> None:
    onnx = engine.embedder
    assert (onnx.dim, onnx.max_tokens, onnx.path) == (torch_embedder.dim, torch_embedder.max_tokens,
                                                      torch_embedder.path)
    counts = [onnx.count_tokens(text) for text in TEXTS]
    assert counts == [torch_embedder.count_tokens(text) for text in TEXTS]
    assert max(counts) > onnx.max_tokens, "counting never cuts at the limit (chunking relies on it)"


def test_model_whose_pooling_the_graph_lacks_is_not_exported(torch_embedder: Embedder) -> None:
    """A real model with max pooling: the export says why it is not used, and nothing is stored."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    model = torch_embedder.model
    max_pooled = SentenceTransformer(modules=[model[0], Pooling(torch_embedder.dim, pooling_mode="max")], device="cpu")
    other = Embedder(None, 1)
    other.__dict__["model"] = max_pooled  # the cached_property's slot: this model, not the bundled one
    query_model = export_query_model(other, TEXTS[:2], other.encode(TEXTS[:2]), int8=False, threads=1)
    assert not query_model.available and query_model.files == {}
    assert "pooling 'max'" in query_model.spec["reason"]
    assert "torch" in query_model.summary() and "\n" not in query_model.summary()


# ---------------------------------------------------------------- no torch when asking

PROBE = """
import json, sys
from qa.cli import main
code = main(["ask", "--json", {question!r}])
print(json.dumps({{"code": code, "torch": "torch" in sys.modules,
                  "sentence_transformers": "sentence_transformers" in sys.modules}}), file=sys.stderr)
"""


def test_qa_ask_in_a_fresh_process_never_imports_torch(settings: Settings, engine: Engine) -> None:
    env = {"HF_HUB_OFFLINE": "1", "QA_INDEX_DIR": str(settings.index_dir), "QA_CORPUS_DIR": str(settings.corpus_dir),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", PROBE.format(question="How does China keep battery costs low?")],
                          env=env, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "torch": False, "sentence_transformers": False}, done.stderr
    answer = json.loads(done.stdout)
    assert answer["citations"] and not answer["abstained"]


def test_served_app_never_loads_torch(settings: Settings, engine: Engine, load_tool: ModuleType,
                                      tmp_path: Path) -> None:
    """`app.py` as a user starts it, asked through its API; torch's libraries must not be
    mapped into the server process."""
    port = load_tool.free_port()
    env = {"QA_INDEX_DIR": str(settings.index_dir), "QA_CORPUS_DIR": str(settings.corpus_dir),
           "QA_FEEDBACK_PATH": str(tmp_path / "feedback.jsonl")}
    server = load_tool.start_server(port, tmp_path / "app.log", env=env)
    try:
        outcome, data = load_tool.ApiClient(port).ask("What does Europe focus on?", [])
        maps = Path(f"/proc/{server.pid}/maps").read_text()
    finally:
        load_tool.stop_server(server)
    assert outcome == "complete" and data[1]["citations"], data
    assert "/torch/" not in maps and "libtorch" not in maps
    assert "onnxruntime" in maps


# ---------------------------------------------------------------- fallback and faults

def test_index_without_a_usable_export_falls_back_to_torch_in_one_line(
        tmp_path: Path, flow_corpus: Path, torch_embedder: Embedder) -> None:
    index_dir = tmp_path / "index"
    built, _ = load(flow_corpus, index_dir, torch_embedder)
    assert isinstance(built.embedder, OnnxEncoder)
    manifest_path = build_dir(index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["onnx"]["file"] = "chunks.jsonl"  # an artifact that exists but is no ONNX model
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    loaded, messages = load(flow_corpus, index_dir, torch_embedder)
    assert isinstance(loaded.embedder, Embedder)
    torch_lines = [m for m in messages if "with torch" in m]
    assert len(torch_lines) == 1 and "ONNX Runtime cannot load the model" in torch_lines[0], messages
    assert loaded.index.location == build_dir(index_dir), "the index itself is fine: no rebuild"
    assert_answers(loaded)


def test_onnx_switched_off_uses_torch_without_a_word(tmp_path: Path, flow_corpus: Path,
                                                      torch_embedder: Embedder) -> None:
    index_dir = tmp_path / "index"
    load(flow_corpus, index_dir, torch_embedder)
    loaded, messages = load(flow_corpus, index_dir, torch_embedder, onnx=False)
    assert loaded.embedder is torch_embedder and messages == []
    assert_answers(loaded)


def test_damaged_onnx_weights_are_caught_by_their_checksum_and_rebuilt(
        tmp_path: Path, flow_corpus: Path, torch_embedder: Embedder) -> None:
    index_dir = tmp_path / "index"
    load(flow_corpus, index_dir, torch_embedder)
    weights = build_dir(index_dir) / "model.onnx.data"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit of one weight: ONNX Runtime would run it unawares
    weights.write_bytes(bytes(data))
    loaded, messages = load(flow_corpus, index_dir, torch_embedder)
    naming = [m for m in messages if "model.onnx.data" in m and "checksum" in m]
    assert len(naming) == 1, messages
    assert isinstance(loaded.embedder, OnnxEncoder)
    assert_answers(loaded)


def test_build_that_cannot_be_written_still_embeds_with_onnx_from_memory(
        tmp_path: Path, flow_corpus: Path, torch_embedder: Embedder) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file, not a folder")
    loaded, messages = load(flow_corpus, blocker / "index", torch_embedder)
    assert loaded.index.location is None
    assert isinstance(loaded.embedder, OnnxEncoder)
    assert not [m for m in messages if "with torch" in m], messages
    assert_answers(loaded)


def test_int8_setting_rebuilds_with_a_quantised_model_close_to_the_models(
        tmp_path: Path, flow_corpus: Path, torch_embedder: Embedder) -> None:
    index_dir = tmp_path / "index"
    load(flow_corpus, index_dir, torch_embedder)
    loaded, messages = load(flow_corpus, index_dir, torch_embedder, onnx_int8=True)
    assert any("Rebuilding" in m and "onnx_int8" in m for m in messages), messages
    spec = loaded.index.manifest["onnx"]
    assert spec["int8"] is True and (spec["file"], spec["weights"]) == ("model-int8.onnx", "model-int8.onnx.data")
    assert not (build_dir(index_dir) / "model.onnx.data").exists()
    assert (build_dir(index_dir) / "model-int8.onnx.data").stat().st_size < 30_000_000, "a quarter of fp32's 90 MB"
    assert isinstance(loaded.embedder, OnnxEncoder) and loaded.embedder.int8
    close = cosines(loaded.embedder.encode(TEXTS), torch_embedder.encode(TEXTS))
    assert close.min() >= 0.9, close
    assert_answers(loaded)


def test_another_local_model_folder_is_exported_the_same_way(
        tmp_path: Path, flow_corpus: Path, torch_embedder: Embedder) -> None:
    """QA_MODEL_PATH pointing at a copy of the bundled model: the manifest names the copy."""
    copy = tmp_path / "my-model"
    shutil.copytree(torch_embedder.path, copy)
    loaded, _ = load(flow_corpus, tmp_path / "index", torch_embedder, model_path=copy)
    spec = loaded.index.manifest["onnx"]
    assert spec["available"] and spec["source_model"] == str(copy) == spec["source_path"]
    assert isinstance(loaded.embedder, OnnxEncoder) and loaded.embedder.path == copy
    assert cosines(loaded.embedder.encode(TEXTS), torch_embedder.encode(TEXTS)).min() >= MIN_COSINE
    assert_answers(loaded)


@pytest.mark.parametrize(("checked_now", "says"), [(0, "no new texts to check it on"), (4, "checked on the 4 new texts")])
def test_a_kept_export_says_what_was_checked_now(checked_now: int, says: str) -> None:
    from qa.onnx_export import QueryModel

    spec = {"available": True, "file": "model.onnx",
            "verified": {"min_cosine": 0.9999996, "texts": 249, "reused_from": "build-x", "checked_now": checked_now}}
    line = QueryModel(spec).summary()
    assert says in line and "over 249 texts" in line and "the 0 new texts" not in line
