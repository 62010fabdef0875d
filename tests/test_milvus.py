"""QA_BACKEND=milvus, on Milvus Lite (a local file; the same pymilvus calls reach a server):
building, asking, grounding, staleness, two builds at once, a wrong URI, and parity with FAISS.
Engine tests use the test article; the parity gate uses the battery eval set's test split."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qa.backend_compare import PARITY_TOLERANCE, format_comparison, parity_gaps
from qa.cli import main
from qa.corpus import corpus_files
from qa.engine import Engine
from qa.errors import SettingsError
from qa.evalsets import load_sets
from qa.evaluate import run_eval
from qa.milvus_connect import connect
from qa.milvus_store import collection_base, current_build
from qa.retrieve import LocalSearch
from qa.settings import PROJECT_ROOT, Settings
from qa.types import Answer

from conftest import CORPUS, TEST_CORPUS

QUESTIONS = [
    ("Who designed the lighthouse?", "Tomas Reyes"),
    ("How many people do the mills employ?", "four hundred"),
    ("Who founded the town's first school?", "Margaret Holloway"),
]


def milvus_settings(corpus: Path, folder: Path, **changes: object) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=folder, backend="milvus", **changes)  # type: ignore[arg-type]


def grounded(engine: Engine, answer: Answer) -> None:
    assert answer.citations, answer.text
    for citation in answer.citations:
        assert citation.matches(engine.document(citation.source).text), citation


@pytest.fixture(scope="module")
def town_milvus(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Engine:
    """The test article's engine with its index in a Milvus Lite file."""
    return Engine.load(milvus_settings(TEST_CORPUS, tmp_path_factory.mktemp("milvus-town")), embedder=engine.embedder)


@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
def test_milvus_answers_the_same_grounded_quotes_as_faiss(town: Engine, town_milvus: Engine, question: str,
                                                          expected: str) -> None:
    answer = town_milvus.ask(question)
    assert not answer.abstained and expected in answer.text, answer.text
    grounded(town_milvus, answer)
    assert answer.text == town.ask(question).text


def test_the_tables_read_back_from_milvus_are_the_faiss_builds_tables(town: Engine, town_milvus: Engine) -> None:
    """Offsets, sections, pages and texts come back exactly, so citations keep their offsets."""
    import numpy as np

    faiss_index, milvus_index = town.index, town_milvus.index
    assert milvus_index.chunks == faiss_index.chunks
    assert milvus_index.sentences == faiss_index.sentences
    assert [(d.source, d.text, d.page_starts) for d in milvus_index.documents] == \
        [(d.source, d.text, d.page_starts) for d in faiss_index.documents]
    assert milvus_index.vocabulary == faiss_index.vocabulary and milvus_index.names == faiss_index.names
    assert milvus_index.stem_idf == faiss_index.stem_idf and milvus_index.terms == faiss_index.terms
    assert np.array_equal(milvus_index.key_chunk, faiss_index.key_chunk)
    assert np.allclose(milvus_index.sentence_vectors, faiss_index.sentence_vectors, atol=1e-6)
    assert np.allclose(milvus_index.vocabulary_vectors, faiss_index.vocabulary_vectors, atol=1e-6)


@pytest.mark.parametrize("question", ["How do visitors get to Eldermere?", "wool mills tonnes", "bridge mortar shells",
                                      "What did Margaret Holloway teach?"])
def test_each_milvus_leg_gives_the_rows_and_scores_faiss_and_bm25s_give(town: Engine, town_milvus: Engine,
                                                                        question: str) -> None:
    """Equal scores (BM25 included: the same stemmed terms and formula); rows may differ only in
    the order of equal scores, and at the cut where equal scores do not all fit."""
    local, milvus = LocalSearch(town.index), town_milvus.backend
    vector = town.embedder.encode([question])[0]
    for leg, args in (("dense_keys", (vector, 12)), ("dense_sentences", (vector, 8)),
                      ("bm25_chunks", (question, 8)), ("bm25_sentences", (question, 5))):
        ours, theirs = getattr(local, leg)(*args), getattr(milvus, leg)(*args)
        assert [round(s, 4) for _, s in ours] == [round(s, 4) for _, s in theirs], leg
        cut = round(ours[-1][1], 4) if ours else 0.0
        assert {r for r, s in ours if round(s, 4) > cut} == {r for r, s in theirs if round(s, 4) > cut}, leg
    assert any(getattr(local, leg)(question, 8) for leg in ("bm25_chunks", "bm25_sentences"))


def test_a_replica_reads_the_build_from_milvus_and_exports_its_own_query_model(
        tmp_path: Path, town: Engine, town_milvus: Engine, engine: Engine) -> None:
    """Another app process with an empty index folder, against the same Milvus: it builds
    nothing, exports the ONNX query model once, and answers as the builder does."""
    from qa.onnx_model import OnnxEncoder

    settings = town_milvus.settings.with_(index_dir=tmp_path / "replica", milvus_uri=town_milvus.settings.milvus_target)
    said: list[str] = []
    replica = Engine.load(settings, embedder=engine.embedder, progress=said.append)
    assert not any("Building" in m for m in said) and any("exporting it from the installed model" in m for m in said), said
    assert replica.index.manifest["build"] == town_milvus.index.manifest["build"]
    assert isinstance(replica.embedder, OnnxEncoder)
    answer = replica.ask("Who designed the lighthouse?")
    assert answer.text == town.ask("Who designed the lighthouse?").text
    grounded(replica, answer)


def test_a_stale_collection_is_rebuilt_never_answered_from(tmp_path: Path, engine: Engine) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(TEST_CORPUS, corpus)
    settings = milvus_settings(corpus, tmp_path / "index")
    first = Engine.load(settings, embedder=engine.embedder)
    old_build = first.index.manifest["build"]
    article = corpus / "eldermere.md"
    article.write_text(article.read_text(encoding="utf-8") + "\nThe harbour master is Elin Varga.\n", encoding="utf-8")
    said: list[str] = []
    second = Engine.load(settings, embedder=engine.embedder, progress=said.append)
    assert any("Building the Milvus index" in m and "changed" in m and "eldermere.md" in m for m in said), said
    assert second.index.manifest["build"] != old_build
    assert current_build(connect(settings), settings) == second.index.manifest["build"]
    answer = second.ask("Who is the harbour master?")
    assert "Elin Varga" in answer.text
    grounded(second, answer)
    said.clear()
    third = Engine.load(settings, embedder=engine.embedder, progress=said.append)  # fresh now: read, not built
    assert not any("Building" in m for m in said) and third.index.manifest["build"] == second.index.manifest["build"]


def test_a_changed_milvus_setting_makes_the_build_stale(tmp_path: Path, town_milvus: Engine, engine: Engine) -> None:
    settings = town_milvus.settings.with_(milvus_bm25="text")
    said: list[str] = []
    rebuilt = Engine.load(settings, embedder=engine.embedder, progress=said.append)
    assert any("Milvus settings differ" in m for m in said), said
    answer = rebuilt.ask("Who designed the lighthouse?")
    assert "Tomas Reyes" in answer.text
    grounded(rebuilt, answer)
    Engine.load(town_milvus.settings, embedder=engine.embedder)  # back to the module's build for later tests


BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from qa.engine import Engine
    from qa.settings import Settings
    from qa.embedding import Embedder

    corpus, index_dir, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    embedder = Embedder(None, 1)
    embedder.dim  # load the model before the race starts
    print("READY", flush=True)
    while not go.exists():
        time.sleep(0.005)
    engine = Engine.load(Settings(corpus_dir=corpus, index_dir=index_dir, backend="milvus"),
                         progress=lambda m: print("MSG " + m, flush=True), embedder=embedder)
    print("ANSWER " + engine.ask("Who designed the lighthouse?").text, flush=True)
""")


@pytest.mark.slow
def test_two_builds_at_once_leave_one_good_build(tmp_path: Path, engine: Engine) -> None:
    """Two processes start building into one Milvus Lite file at the same moment: one builds, the
    other waits for the file and then answers from that build."""
    index, go = tmp_path / "index", tmp_path / "go"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("QA_")}, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(PROJECT_ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(TEST_CORPUS), str(index), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=PROJECT_ROOT)
             for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().startswith("READY")
        go.touch()
        outputs = [proc.communicate(timeout=240) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [p.returncode for p in procs] == [0, 0], outputs
    built = [out for out, _err in outputs if "MSG Built the Milvus index" in out]
    waited = [out for out, _err in outputs if "MSG Waiting for" in out and "MSG Built" not in out]
    assert len(built) == 1 and len(waited) == 1, outputs
    assert all("ANSWER " in out and "Tomas Reyes" in out for out, _err in outputs), outputs
    settings = milvus_settings(TEST_CORPUS, index)
    engine_after = Engine.load(settings, embedder=engine.embedder)
    client = connect(settings)
    ours = [n for n in client.list_collections() if n.startswith(collection_base(settings))]
    assert len(ours) == 5 and all(engine_after.index.manifest["build"] in n for n in ours), ours
    grounded(engine_after, engine_after.ask("Who designed the lighthouse?"))


@pytest.mark.parametrize(("uri", "says"), [
    ("http://127.0.0.1:9", "Check that the Milvus server is running"),
    ("not-a-lite-file.txt", "must end in .db"),
])
def test_a_wrong_milvus_uri_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path, uri: str, says: str) -> None:
    monkeypatch.setenv("QA_BACKEND", "milvus")
    monkeypatch.setenv("QA_MILVUS_URI", uri if uri.startswith("http") else str(tmp_path / uri))
    monkeypatch.setenv("QA_CORPUS_DIR", str(TEST_CORPUS))
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    assert main(["ask", "Who designed the lighthouse?"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("qa: Cannot use Milvus at ") and says in err and (uri in err), err


def test_a_milvus_lite_path_through_a_file_names_the_file(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder", encoding="utf-8")
    monkeypatch.setenv("QA_BACKEND", "milvus")
    monkeypatch.setenv("QA_MILVUS_URI", str(tmp_path / "notes.txt" / "milvus.db"))
    monkeypatch.setenv("QA_CORPUS_DIR", str(TEST_CORPUS))
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    assert main(["ask", "Who designed the lighthouse?"]) == 1
    err = capsys.readouterr().err.strip()
    assert f"{tmp_path / 'notes.txt'} is a file, not a folder" in err and "File exists" not in err, err


def test_backend_settings_are_checked() -> None:
    assert Settings.from_env({"QA_BACKEND": "milvus"}).backend == "milvus"
    for env in ({"QA_BACKEND": "elastic"}, {"QA_MILVUS_BM25": "words"}, {"QA_MILVUS_COLLECTION": "9-bad name"}):
        with pytest.raises(SettingsError):
            Settings.from_env(env)
    assert Settings(index_dir=Path("/x")).milvus_target == "/x/milvus.db"
    assert Settings(milvus_uri="http://milvus:19530").milvus_target == "http://milvus:19530"


@pytest.mark.slow
def test_eval_shows_both_backends_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    items = [{"id": f"t{i}", "category": "fact", "question": q, "answerable": True, "expect_any": [a], "support": [a]}
             for i, (q, a) in enumerate(QUESTIONS)]
    eval_set = tmp_path / "town.jsonl"
    eval_set.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    monkeypatch.setenv("QA_CORPUS_DIR", str(TEST_CORPUS))
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    assert main(["eval", "--set", str(eval_set), "--backend", "faiss,milvus"]) == 0
    out = capsys.readouterr().out
    assert "same answer from both: 3" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("faiss ", "milvus "))}
    assert rows["faiss"][0] == rows["milvus"][0] == "1.00"  # HasAns
    assert "Parity (hit@k, MRR, HasAns within 0.02): met on every set." in out


@pytest.mark.slow
def test_parity_with_faiss_on_the_battery_test_split(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The gate of issue 12: hit@k, MRR and HasAns within PARITY_TOLERANCE of FAISS."""
    battery = next(s for s in load_sets() if s.name == "battery")
    # The set names the bundled article; the engine answers from the corpus folder, which holds it alone.
    assert corpus_files(battery.settings_for(engine.settings).corpus_dir) == corpus_files(CORPUS)
    milvus = Engine.load(milvus_settings(CORPUS, tmp_path_factory.mktemp("milvus-battery")), embedder=engine.embedder)
    items = battery.split("test")
    ours = run_eval(engine, items, name="battery", split="test")
    theirs = run_eval(milvus, items, name="battery", split="test")
    assert parity_gaps(ours, theirs, PARITY_TOLERANCE) == [], format_comparison(["faiss", "milvus"], [[ours], [theirs]])
