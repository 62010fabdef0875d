"""Index and corpus faults: each one is detected, reported in one line, rebuilt from the
corpus, and the engine then answers correctly. Crashes mid-build and concurrent builds use
real subprocesses. A tiny article keeps each rebuild under a second or two; the model is the
one the session `engine` fixture already loaded."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

import pytest

from qa.corpus import load_corpus
from qa.engine import Engine
from qa.errors import CorpusError, IndexStale
from qa.index import expected_inputs
from qa.index_files import CURRENT, build_lock, load_index
from qa.settings import PROJECT_ROOT, Settings

ARTICLE = """# Sodium Cells

## Costs

Sodium-ion cells cost about 40 dollars per kilowatt-hour in 2024. They use no lithium and no cobalt.

## Makers

The largest maker of sodium-ion cells is based in Ningde. It opened its first sodium line in 2023.

## Recycling

Recycling plants recover aluminium and copper from spent sodium cells.
"""
QUESTION = "How much do sodium-ion cells cost?"
FACT = "40 dollars per kilowatt-hour"


# ---------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-corpus")
    (folder / "cells.md").write_text(ARTICLE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def built_index(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: Path, engine: Engine) -> Path:
    """A good index of the tiny article, built once; each test damages its own copy."""
    folder = tmp_path_factory.mktemp("tiny-index") / "index"
    Engine.load(Settings(corpus_dir=tiny_corpus, index_dir=folder), embedder=engine.embedder)
    return folder


@pytest.fixture()
def index_dir(tmp_path: Path, built_index: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(built_index, target)
    return target


def load(corpus: Path, index_dir: Path, engine: Engine) -> tuple[Engine, list[str]]:
    messages: list[str] = []
    loaded = Engine.load(Settings(corpus_dir=corpus, index_dir=index_dir), progress=messages.append,
                         embedder=engine.embedder)
    return loaded, messages


def build_dir(index_dir: Path) -> Path:
    return index_dir / "builds" / (index_dir / CURRENT).read_text(encoding="utf-8").strip()


def assert_answers(loaded: Engine, question: str = QUESTION, fact: str = FACT) -> None:
    answer = loaded.ask(question)
    assert not answer.abstained, answer.text
    assert fact in answer.text
    for citation in answer.citations:
        assert citation.matches(loaded.document(citation.source).text), citation


def assert_reported_once(messages: list[str], *fragments: str) -> None:
    """The fault is named in exactly one single-line message."""
    naming = [m for m in messages if all(f in m for f in fragments)]
    assert len(naming) == 1, messages
    assert "\n" not in naming[0]


def assert_loads_cleanly(corpus: Path, index_dir: Path, engine: Engine) -> Engine:
    loaded, messages = load(corpus, index_dir, engine)
    assert messages == [], "a rebuilt index must load without another rebuild"
    assert loaded.index.location == build_dir(index_dir)
    return loaded


def edit_manifest(index_dir: Path, change: Callable[[dict], None]) -> None:
    path = build_dir(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def refresh_checksum(index_dir: Path, artifact: str) -> None:
    """Make the manifest agree with a damaged file, so the reader itself must notice."""
    import hashlib

    digest = hashlib.sha256((build_dir(index_dir) / artifact).read_bytes()).hexdigest()
    edit_manifest(index_dir, lambda m: m["artifacts"].__setitem__(artifact, digest))


# ---------------------------------------------------------------- damaged artifacts

def truncate_faiss(d: Path) -> None:
    path = build_dir(d) / "chunks.faiss"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage_faiss(d: Path) -> None:
    (build_dir(d) / "sentences.faiss").write_bytes(os.urandom(4096))


def bad_jsonl_line(d: Path) -> None:
    path = build_dir(d) / "chunks.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = '{"id": "broken", '
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def missing_artifact(d: Path) -> None:
    (build_dir(d) / "vocabulary_vectors.npy").unlink()


def unreadable_artifact(d: Path) -> None:
    """A file that exists but cannot be read, even by root: reading /proc/self/mem at offset 0
    fails with EIO (a stand-in for a disk error, or a build swept away mid-read)."""
    path = build_dir(d) / "vocabulary.json"
    path.unlink()
    path.symlink_to("/proc/self/mem")


def missing_manifest(d: Path) -> None:
    (build_dir(d) / "manifest.json").unlink()


def garbage_manifest(d: Path) -> None:
    (build_dir(d) / "manifest.json").write_bytes(b"\xff\xfe not json at all \x00")


def manifest_wrong_shape(d: Path) -> None:
    (build_dir(d) / "manifest.json").write_text(json.dumps({"inputs": {"format_version": 2, "corpus": 5}, "artifacts": []}))


def manifest_wrong_types(d: Path) -> None:
    edit_manifest(d, lambda m: m["inputs"].__setitem__("corpus", 5))


def manifest_other_model(d: Path) -> None:
    edit_manifest(d, lambda m: m["inputs"].__setitem__("model", "sentence-transformers/all-mpnet-base-v2"))


def manifest_other_dimension(d: Path) -> None:
    edit_manifest(d, lambda m: m.__setitem__("dim", 768))


def missing_current(d: Path) -> None:
    (d / CURRENT).unlink()


def current_names_missing_build(d: Path) -> None:
    (d / CURRENT).write_text("build-gone\n", encoding="utf-8")


def current_garbage_bytes(d: Path) -> None:
    (d / CURRENT).write_bytes(b"\xff\xfe\x00build\x00")


def current_escapes_builds(d: Path) -> None:
    (d / CURRENT).write_text("..\n", encoding="utf-8")


FAULTS = [
    (truncate_faiss, ("chunks.faiss", "checksum")),
    (garbage_faiss, ("sentences.faiss", "checksum")),
    (bad_jsonl_line, ("chunks.jsonl", "checksum")),
    (missing_artifact, ("missing vocabulary_vectors.npy",)),
    (unreadable_artifact, ("cannot read vocabulary.json",)),
    (missing_manifest, ("manifest.json is missing",)),
    (garbage_manifest, ("manifest.json is unreadable",)),
    (manifest_wrong_shape, ("manifest.json",)),
    (manifest_wrong_types, ("manifest.json", "inputs")),
    (manifest_other_model, ("model", "all-mpnet-base-v2")),
    (manifest_other_dimension, ("768-d",)),  # not "768": a random build name may hold it
    (missing_current, ("No index",)),
    (current_names_missing_build, ("build-gone",)),
    (current_garbage_bytes, ("cannot read CURRENT",)),
    (current_escapes_builds, ("names a build that is not there",)),
]


@pytest.mark.parametrize("damage, fragments", FAULTS, ids=[f.__name__ for f, _ in FAULTS])
def test_damaged_index_is_reported_in_one_line_rebuilt_and_answers(
        damage: Callable[[Path], None], fragments: tuple[str, ...], tiny_corpus: Path, index_dir: Path,
        engine: Engine) -> None:
    damage(index_dir)
    loaded, messages = load(tiny_corpus, index_dir, engine)
    assert_reported_once(messages, *fragments)
    assert any(m.startswith("Built the index") for m in messages), messages
    assert_answers(loaded)
    assert_answers(assert_loads_cleanly(tiny_corpus, index_dir, engine))
    assert [p.name for p in (index_dir / "builds").iterdir()] == [build_dir(index_dir).name]


def test_jsonl_line_damaged_behind_a_matching_checksum_is_caught_by_the_reader(
        tiny_corpus: Path, index_dir: Path, engine: Engine) -> None:
    bad_jsonl_line(index_dir)
    refresh_checksum(index_dir, "chunks.jsonl")
    loaded, messages = load(tiny_corpus, index_dir, engine)
    assert_reported_once(messages, "chunks.jsonl line 2")
    assert_answers(loaded)


def test_faiss_file_damaged_behind_a_matching_checksum_is_caught_by_the_reader(
        tiny_corpus: Path, index_dir: Path, engine: Engine) -> None:
    truncate_faiss(index_dir)
    refresh_checksum(index_dir, "chunks.faiss")
    loaded, messages = load(tiny_corpus, index_dir, engine)
    assert_reported_once(messages, "cannot read an artifact")
    assert_answers(loaded)


@pytest.mark.parametrize(("table", "damaged"), [
    ("initialisms", {"ev": ["EV"]}),  # forms must map to counts
    ("numbered", {"written": [[["world", "war"], "two", "World War II"]], "forms": []}),  # the number must be one
    ("money", 5),  # a list of words
])
def test_corpus_terms_damaged_behind_a_matching_checksum_are_caught_by_the_reader(
        tiny_corpus: Path, index_dir: Path, engine: Engine, table: str, damaged: object) -> None:
    path = build_dir(index_dir) / "vocabulary.json"
    vocab = json.loads(path.read_text(encoding="utf-8"))
    vocab["terms"][table] = damaged
    path.write_text(json.dumps(vocab), encoding="utf-8")
    refresh_checksum(index_dir, "vocabulary.json")
    loaded, messages = load(tiny_corpus, index_dir, engine)
    assert_reported_once(messages, "cannot read an artifact", "corpus terms")
    assert_answers(loaded)


@pytest.fixture()
def own_corpus(tmp_path: Path, tiny_corpus: Path, engine: Engine) -> tuple[Path, Path]:
    """A private corpus copy with its own index: corpus files are keyed by path, so the
    copy must be indexed where it lies before it is edited."""
    corpus, index = tmp_path / "corpus", tmp_path / "own-index"
    shutil.copytree(tiny_corpus, corpus)
    load(corpus, index, engine)
    return corpus, index


def test_changed_corpus_is_noticed_by_name_and_rebuilt(own_corpus: tuple[Path, Path], engine: Engine) -> None:
    corpus, index = own_corpus
    with (corpus / "cells.md").open("a", encoding="utf-8") as fh:
        fh.write("\n## Safety\n\nSodium cells can be shipped at zero volts without damage.\n")
    expected = expected_inputs(load_corpus(corpus), Settings(), engine.embedder.name)
    with pytest.raises(IndexStale) as stale:
        load_index(index, expected)
    assert "changed" in stale.value.reason and "cells.md" in stale.value.reason
    loaded, messages = load(corpus, index, engine)
    assert_reported_once(messages, "Rebuilding", "changed", "cells.md")
    assert_answers(loaded, "Can sodium cells be shipped at zero volts?", "zero volts")
    assert_loads_cleanly(corpus, index, engine)


def test_added_and_removed_corpus_files_are_noticed_by_name(own_corpus: tuple[Path, Path], engine: Engine) -> None:
    corpus, index = own_corpus
    (corpus / "grid.md").write_text("# Grid\n\nGrid batteries smooth the output of wind farms.\n", encoding="utf-8")
    _, messages = load(corpus, index, engine)
    assert_reported_once(messages, "Rebuilding", "added", "grid.md")
    (corpus / "grid.md").unlink()
    loaded, messages = load(corpus, index, engine)
    assert_reported_once(messages, "Rebuilding", "removed", "grid.md")
    assert_answers(loaded)


# ---------------------------------------------------------------- unwritable index folder

def test_index_folder_that_cannot_be_created_still_answers_and_says_where(
        tmp_path: Path, tiny_corpus: Path, engine: Engine) -> None:
    """A path below a regular file cannot be created, even by root (CI runs as root, where
    chmod does not stop writes)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file, not a folder")
    target = blocker / "index"
    loaded, messages = load(tiny_corpus, target, engine)
    assert_reported_once(messages, "Cannot write", str(target), "in-memory")
    assert not [m for m in messages if "damaged" in m or "Rebuilding" in m], messages
    assert loaded.index.location is None
    assert_answers(loaded)


def test_builds_folder_that_cannot_be_written_still_answers_and_says_where(
        tmp_path: Path, tiny_corpus: Path, engine: Engine) -> None:
    target = tmp_path / "index"
    target.mkdir()
    (target / "builds").write_text("a file where the builds folder should be")
    loaded, messages = load(tiny_corpus, target, engine)
    assert_reported_once(messages, "Cannot write", str(target), "in-memory")
    assert loaded.index.location is None
    assert not (target / CURRENT).exists()
    assert_answers(loaded)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0o555; covered by the tests above")
def test_read_only_index_folder_still_answers_and_says_where(tmp_path: Path, tiny_corpus: Path,
                                                             engine: Engine) -> None:
    target = tmp_path / "index"
    target.mkdir()
    target.chmod(0o555)
    try:
        loaded, messages = load(tiny_corpus, target, engine)
    finally:
        target.chmod(0o755)
    assert_reported_once(messages, "Cannot write", str(target))
    assert_answers(loaded)


def test_missing_index_folder_is_created_and_built(tmp_path: Path, tiny_corpus: Path, engine: Engine) -> None:
    target = tmp_path / "deep" / "er" / "index"
    loaded, messages = load(tiny_corpus, target, engine)
    assert_reported_once(messages, "No index", str(target))
    assert loaded.index.location == build_dir(target)
    assert_answers(loaded)


# ---------------------------------------------------------------- corpus faults

def test_empty_corpus_folder_is_refused_by_name(tmp_path: Path, engine: Engine) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="empty|no .md"):
        load(empty, tmp_path / "index", engine)


@pytest.mark.parametrize("name, data, says", [
    ("photo.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("latin1.md", "Caf\u00e9 cr\u00e8me costs 3 euros.".encode("latin-1"), "UTF-8"),
])
def test_unreadable_corpus_file_is_skipped_by_name_and_the_rest_answers(
        tmp_path: Path, tiny_corpus: Path, engine: Engine, caplog: pytest.LogCaptureFixture,
        name: str, data: bytes, says: str) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    (corpus / name).write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="qa.corpus"):
        loaded, _messages = load(corpus, tmp_path / "index", engine)
    naming = [r.getMessage() for r in caplog.records if name in r.getMessage()]
    assert len(naming) == 1 and says in naming[0] and "\n" not in naming[0], naming
    assert [Path(d.source).name for d in loaded.documents] == ["cells.md"]
    assert_answers(loaded)


def test_corpus_with_no_readable_file_is_refused_by_name(tmp_path: Path, engine: Engine) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "photo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(CorpusError, match="No readable document") as error:
        load(corpus, tmp_path / "index", engine)
    assert "photo.md" in str(error.value) and "binary" in str(error.value)
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------- crashes and concurrency

SUBPROCESS_BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from qa.engine import Engine
    from qa.settings import Settings

    corpus, index_dir, go = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    settings = Settings(corpus_dir=corpus, index_dir=index_dir)
    if go == "slow-save":
        # Stretch the save so the parent can kill us with a half-written build folder:
        # faiss (a library, not our code) writes one file, then we stall.
        import faiss
        real_write = faiss.write_index
        def slow_write(index, path):
            real_write(index, path)
            print("WROTE " + path, flush=True)
            time.sleep(60)
        faiss.write_index = slow_write
    from qa.embedding import Embedder
    embedder = Embedder(None, 1)
    embedder.dim  # load the model before the race starts
    print("READY", flush=True)
    if go not in ("now", "slow-save"):
        while not Path(go).exists():
            time.sleep(0.005)
    Engine.load(settings, progress=lambda m: print("MSG " + m, flush=True), embedder=embedder)
    print("DONE", flush=True)
""")


def start_build(corpus: Path, index_dir: Path, go: str) -> subprocess.Popen:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("QA_")}, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen([sys.executable, "-c", SUBPROCESS_BUILD, str(corpus), str(index_dir), go],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=PROJECT_ROOT)


def wait_for_line(proc: subprocess.Popen, prefix: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"subprocess ended before {prefix!r}: {proc.stderr.read() if proc.stderr else ''}")
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no {prefix!r} line within {timeout} s")


@pytest.mark.slow
def test_build_killed_halfway_leaves_the_previous_index_intact(
        tmp_path: Path, tiny_corpus: Path, index_dir: Path, engine: Engine) -> None:
    before = build_dir(index_dir)
    changed = tmp_path / "changed"
    shutil.copytree(tiny_corpus, changed)
    with (changed / "cells.md").open("a", encoding="utf-8") as fh:
        fh.write("\nA new paragraph forces a rebuild.\n")
    proc = start_build(changed, index_dir, "slow-save")
    try:
        wait_for_line(proc, "WROTE")  # the new build folder is half written
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert build_dir(index_dir) == before, "CURRENT must still name the previous build"
    assert len(list((index_dir / "builds").iterdir())) == 2, "a half-written build folder is left behind"
    with build_lock(index_dir, timeout=5):  # the dead process's lock is free
        pass
    loaded = assert_loads_cleanly(tiny_corpus, index_dir, engine)
    assert_answers(loaded)
    # The next real build replaces the index and sweeps the half-written folder away.
    rebuilt, messages = load(changed, index_dir, engine)
    assert_reported_once(messages, "Rebuilding", "cells.md")
    assert [p.name for p in (index_dir / "builds").iterdir()] == [build_dir(index_dir).name]
    assert_answers(rebuilt)


@pytest.mark.slow
def test_two_builds_at_once_are_serialised_and_the_second_reuses_the_first(
        tmp_path: Path, tiny_corpus: Path, engine: Engine) -> None:
    """Both processes load the model first, then start Engine.load at the same moment."""
    index = tmp_path / "index"
    go = tmp_path / "go"
    procs = [start_build(tiny_corpus, index, str(go)) for _ in range(2)]
    try:
        for proc in procs:
            wait_for_line(proc, "READY")
        go.touch()
        outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [p.returncode for p in procs] == [0, 0], outputs
    built = [o for o in outputs if "MSG Built the index" in o]
    reused = [o for o in outputs if "MSG Another process built the index meanwhile" in o]
    assert len(built) == 1 and len(reused) == 1, outputs
    assert [p.name for p in (index / "builds").iterdir()] == [build_dir(index).name]
    assert_answers(assert_loads_cleanly(tiny_corpus, index, engine))
