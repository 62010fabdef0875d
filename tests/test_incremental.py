"""An index that grows: a rebuild after the corpus changed embeds only the new texts, reusing
the previous build's vectors, and comes out as a full build of the changed corpus would. A
small corpus written for these tests; the model is the one the session `engine` loaded."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa import cli
from qa.corpus import load_corpus
from qa.embedding import Embedder
from qa.engine import Engine
from qa.index import Index, build_index, chunk_keys
from qa.index_files import CURRENT
from qa.settings import Settings

FILES = {
    "lighthouse.md": """# The Harrow Point Lighthouse

The lighthouse at Harrow Point was first lit in 1871. Its tower is 38 metres tall and painted in red and white bands.

## Keepers

Three keepers lived at the point until 1952, when the light was automated. The last head keeper was Agnes Morrow.

## The lens

The lamp shines through a first-order Fresnel lens made in Paris. Its beam reaches ships 22 nautical miles away.
""",
    "bees.md": """# Orchard Bees

Mason bees nest in hollow stems and pollinate apple blossoms early in spring. A single mason bee visits about 1,600 flowers a day.

## Nests

Growers set out bundles of paper tubes in March. Each female seals her eggs behind walls of mud.

## Why they matter

An orchard with mason bees needs fewer hired honeybee hives. They fly in cold and wet weather when honeybees stay home.
""",
    "glass.md": """# Sea Glass

Sea glass forms when broken bottles tumble in the surf for decades. Waves and sand frost its surface.

## Colours

Green, brown and white pieces are common. Red sea glass is the rarest colour, found about once in ten thousand pieces.
""",
    "tides.md": """# Spring and Neap Tides

Spring tides happen twice a month, at new and full moon, when the sun and moon pull in line. Neap tides come at the quarter moons.

## Tidal range

The Bay of Fundy has the largest tidal range on Earth, about 16 metres. Most open-ocean coasts see less than two metres.
""",
}
QUESTIONS = ["When was the Harrow Point lighthouse first lit?", "How many flowers does a mason bee visit a day?",
             "What is the rarest colour of sea glass?", "Which bay has the largest tidal range?"]
CHANGE = "\n## Fog signal\n\nA foghorn was added at Harrow Point in 1903. It sounded two blasts every minute in fog.\n"
ADDED = """# Salt Marshes

Salt marshes flood with every high tide. Cordgrass traps mud and slowly raises the marsh by a few millimetres a year.
"""


# ---------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> tuple[Path, Path]:
    """The corpus and a full index of it, built once; each test works on its own copy of both.
    Vectors are found by their text, not their path, so a copy reuses the built ones."""
    root = tmp_path_factory.mktemp("grow")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in FILES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    load(corpus, root / "index", engine)
    return corpus, root / "index"


@pytest.fixture()
def own(tmp_path: Path, built: tuple[Path, Path], engine: Engine) -> tuple[Path, Path]:
    """A private corpus with an up-to-date index of it (nothing embedded: the copy's texts are the original's)."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(built[0], corpus)
    shutil.copytree(built[1], index, ignore=shutil.ignore_patterns(".build.lock"))
    loaded, _messages = load(corpus, index, engine)
    assert loaded.index.manifest["embedding"]["texts"] == 0
    return corpus, index


def load(corpus: Path, index: Path, engine: Engine, rebuild: bool = False, **changes: object) -> tuple[Engine, list[str]]:
    messages: list[str] = []
    loaded = Engine.load(Settings(corpus_dir=corpus, index_dir=index).with_(**changes), rebuild=rebuild,
                         progress=messages.append, embedder=engine.embedder)
    return loaded, messages


def embedding(loaded: Engine) -> dict:
    return loaded.index.manifest["embedding"]


def all_texts(index: Index) -> list[str]:
    """Every text the index embeds, in its order: dense keys, sentences, vocabulary words."""
    keys, _owners = chunk_keys(index.chunks)
    return keys + [s.text for s in index.sentences] + index.vocabulary


def new_texts(grown: Index, before: Index) -> list[str]:
    """The texts of `grown` that `before` did not embed: what a rebuild must embed."""
    known = set(all_texts(before))
    return [text for text in all_texts(grown) if text not in known]


def build_folder(index: Path) -> Path:
    return index / "builds" / (index / CURRENT).read_text(encoding="utf-8").strip()


def assert_same_index(grown: Index, full: Index) -> None:
    """What a full build makes: the same chunks, sentences, words and documents, the same vectors
    up to float rounding (the reused ones came from other batches)."""
    assert grown.chunks == full.chunks
    assert grown.sentences == full.sentences
    assert grown.vocabulary == full.vocabulary and grown.names == full.names
    assert grown.documents == full.documents
    assert grown.stem_idf == full.stem_idf and grown.name_subject == full.name_subject
    assert grown.terms == full.terms
    np.testing.assert_array_equal(grown.key_chunk, full.key_chunk)
    for ours, theirs in ((grown.key_vectors, full.key_vectors), (grown.sentence_vectors, full.sentence_vectors),
                         (grown.vocabulary_vectors, full.vocabulary_vectors)):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(np.asarray(ours), theirs, atol=1e-5, rtol=0)
    assert grown.chunk_vectors.ntotal == full.chunk_vectors.ntotal
    assert grown.sentence_index.ntotal == full.sentence_index.ntotal


def assert_same_answers(grown: Engine, full: Engine, questions: list[str]) -> None:
    for question in questions:
        ours, theirs = grown.ask(question), full.ask(question)
        assert ours.text == theirs.text and ours.abstained == theirs.abstained, question
        assert ours.confidence == pytest.approx(theirs.confidence, abs=1e-4)
        assert [(c.source, c.start, c.end) for c in ours.citations] == \
            [(c.source, c.start, c.end) for c in theirs.citations]
        for citation in ours.citations:
            assert citation.matches(grown.document(citation.source).text)


# ---------------------------------------------------------------- one file changed, added, removed

def test_a_changed_file_rebuilds_to_what_a_full_build_makes(own: tuple[Path, Path], engine: Engine,
                                                            tmp_path: Path) -> None:
    corpus, index = own
    before = Engine.load(Settings(corpus_dir=corpus, index_dir=index), embedder=engine.embedder).index
    with (corpus / "lighthouse.md").open("a", encoding="utf-8") as fh:
        fh.write(CHANGE)
    grown, messages = load(corpus, index, engine)
    full, _ = load(corpus, tmp_path / "full-index", engine, rebuild=True)

    record = embedding(grown)
    assert record["documents"] == {"embedded": 1, "reused": 3}
    assert record["texts"] == len(new_texts(grown.index, before)) > 0
    assert record["reused_from"] == before.location.name
    assert embedding(full)["reused_texts"] == 0 and embedding(full)["documents"] == {"embedded": 4, "reused": 0}
    assert any(m.startswith(f"Embedding {record['texts']} new texts") for m in messages), messages
    assert_same_index(grown.index, full.index)
    assert_same_answers(grown, full, QUESTIONS + ["When was a foghorn added at Harrow Point?"])
    assert "1903" in grown.ask("When was a foghorn added at Harrow Point?").text


def test_an_added_file_is_the_only_one_embedded(own: tuple[Path, Path], engine: Engine) -> None:
    corpus, index = own
    before = Engine.load(Settings(corpus_dir=corpus, index_dir=index), embedder=engine.embedder).index
    (corpus / "marsh.md").write_text(ADDED, encoding="utf-8")
    grown, _messages = load(corpus, index, engine)
    record = embedding(grown)
    assert record["documents"] == {"embedded": 1, "reused": 4}
    embedded = set(new_texts(grown.index, before))
    assert record["texts"] == len(new_texts(grown.index, before))
    marsh = next(d for d in grown.documents if d.source.endswith("marsh.md"))
    keys, owners = chunk_keys(grown.index.chunks)
    of_marsh = {k for k, o in zip(keys, owners.tolist()) if grown.index.chunks[o].source == marsh.source}
    of_marsh |= {s.text for s in grown.index.sentences if s.source == marsh.source}
    # Only the new file's keys and sentences, and words no other file used, were embedded.
    assert embedded - of_marsh <= set(grown.index.vocabulary) - set(before.vocabulary)
    assert of_marsh <= embedded
    assert record["reused_texts"] == len(keys) + len(grown.index.sentences) + len(grown.index.vocabulary) \
        - record["texts"]
    assert "Cordgrass" in grown.ask("What traps mud in a salt marsh?").text


def test_a_removed_file_is_dropped_and_nothing_is_embedded(own: tuple[Path, Path], engine: Engine,
                                                           tmp_path: Path) -> None:
    corpus, index = own
    (corpus / "glass.md").unlink()
    grown, _messages = load(corpus, index, engine)
    assert embedding(grown)["texts"] == 0
    assert embedding(grown)["documents"] == {"embedded": 0, "reused": 3}
    assert not [c for c in grown.index.chunks if c.source.endswith("glass.md")]
    assert "tumble" not in grown.index.vocabulary  # a word only the removed file used
    full, _ = load(corpus, tmp_path / "full-index", engine, rebuild=True)
    assert_same_index(grown.index, full.index)
    assert_same_answers(grown, full, QUESTIONS)


def test_qa_index_says_how_many_documents_were_embedded_and_reused(
        own: tuple[Path, Path], engine: Engine, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    corpus, index = own
    (corpus / "marsh.md").write_text(ADDED, encoding="utf-8")
    load(corpus, index, engine)  # the rebuild, with the session's model loaded
    monkeypatch.setenv("QA_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("QA_INDEX_DIR", str(index))
    assert cli.main(["index"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "embedded 1 of 5 documents, reused 4" in out, out


# ---------------------------------------------------------------- when nothing is reused

def test_changed_chunking_settings_embed_everything_afresh(own: tuple[Path, Path], engine: Engine) -> None:
    corpus, index = own
    grown, messages = load(corpus, index, engine, window_sentences=2)
    naming = [m for m in messages if "afresh" in m]
    assert len(naming) == 1 and "chunking settings" in naming[0], messages
    record = embedding(grown)
    assert record["reused_texts"] == 0 and record["reused_from"] is None
    assert record["documents"] == {"embedded": 4, "reused": 0}
    assert record["texts"] == len(all_texts(grown.index))


def test_rebuild_flag_embeds_everything(own: tuple[Path, Path], engine: Engine) -> None:
    corpus, index = own
    rebuilt, _messages = load(corpus, index, engine, rebuild=True)
    assert embedding(rebuilt)["reused_texts"] == 0
    assert embedding(rebuilt)["documents"] == {"embedded": 4, "reused": 0}
    assert rebuilt.index.manifest["onnx"]["verified"].get("reused_from") is None


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x93NUMPY garbage" * 10)


def _wrong_rows_behind_a_matching_checksum(path: Path) -> None:
    np.save(path, np.zeros((2, 384), dtype=np.float32), allow_pickle=False)
    manifest_path = path.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["artifacts"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("damage, says", [(_garbage, "sentence_vectors.npy does not match its checksum"),
                                          (_wrong_rows_behind_a_matching_checksum, "row counts disagree")])
def test_a_damaged_previous_build_falls_back_to_a_full_build_in_one_line(
        own: tuple[Path, Path], engine: Engine, damage, says: str) -> None:  # type: ignore[no-untyped-def]
    corpus, index = own
    damage(build_folder(index) / ("sentence_vectors.npy" if damage is _garbage else "key_vectors.npy"))
    with (corpus / "lighthouse.md").open("a", encoding="utf-8") as fh:
        fh.write(CHANGE)
    grown, messages = load(corpus, index, engine)
    naming = [m for m in messages if "cannot be reused" in m]
    assert len(naming) == 1 and says in naming[0] and "\n" not in naming[0], messages
    assert embedding(grown)["reused_texts"] == 0
    assert "1903" in grown.ask("When was a foghorn added at Harrow Point?").text
    reloaded, messages = load(corpus, index, engine)
    assert messages == [] and reloaded.index.location == build_folder(index)


def test_other_model_files_embed_everything_and_export_the_model_again(own: tuple[Path, Path], engine: Engine) -> None:
    """The key records the model files' SHA-256: vectors of other weights under the same name are not reused."""
    corpus, index = own
    manifest_path = build_folder(index) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["embedding"]["key"]["model_sha256"] = "0" * 64
    manifest["inputs"]["corpus"] = {}  # out of date, so that it rebuilds
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    grown, messages = load(corpus, index, engine)
    assert any("afresh" in m and "other model files" in m for m in messages), messages
    assert embedding(grown)["reused_texts"] == 0
    assert any(m.startswith("Exported the model to ONNX") for m in messages), messages


# ---------------------------------------------------------------- for an upload: in memory, no folder

def test_build_index_reuses_an_index_held_in_memory(engine: Engine, built: tuple[Path, Path], tmp_path: Path) -> None:
    """What an upload calls: the current index and the new corpus in, the new index out, with
    only the new document embedded and the ONNX model kept (checked on the new texts)."""
    embedder = engine.embedder.torch_embedder
    assert isinstance(embedder, Embedder)
    settings = Settings(corpus_dir=built[0], index_dir=tmp_path / "unused")
    documents = load_corpus(built[0])
    first = build_index(documents, embedder, settings)
    assert first.location is None and first.onnx_files
    corpus = tmp_path / "corpus"
    shutil.copytree(built[0], corpus)
    (corpus / "marsh.md").write_text(ADDED, encoding="utf-8")
    renamed = load_corpus(corpus)  # every source moved: the texts, and so the vectors, did not
    messages: list[str] = []
    grown = build_index(renamed, embedder, settings, progress=messages.append, previous=first)
    record = grown.manifest["embedding"]
    assert record["documents"] == {"embedded": 1, "reused": 4} and record["reused_from"] == "memory"
    assert record["texts"] == len(new_texts(grown, first))
    verified = grown.manifest["onnx"]["verified"]
    assert verified["reused_from"] == "memory" and verified["checked_now"] == record["texts"]
    assert grown.onnx_files == first.onnx_files
    assert_same_index(grown, build_index(renamed, embedder, settings))


def test_a_kept_onnx_model_is_checked_on_the_new_texts(engine: Engine) -> None:
    """The session build's export, offered to a new build: kept when it matches the model's
    vectors of the new texts, refused when one vector is off or the libraries changed."""
    from qa.onnx_export import MIN_COSINE, recheck_query_model

    embedder = engine.embedder.torch_embedder
    spec = engine.index.manifest["onnx"]
    assert engine.index.location is not None and spec["available"]
    files = {spec[k]: (engine.index.location / spec[k]).read_bytes() for k in ("file", "weights", "tokenizer")}
    texts = ["Kelp forests grow up to half a metre a day.", "A new sentence no build has seen."]
    vectors = embedder.encode(texts)
    kept = recheck_query_model(spec, files, embedder, texts, vectors, threads=1, indexed=600, origin="build-x")
    assert kept is not None and kept.files is files
    verified = kept.spec["verified"]
    assert verified["checked_now"] == 2 and verified["texts"] == 600 and verified["reused_from"] == "build-x"
    assert MIN_COSINE <= verified["min_cosine"] <= spec["verified"]["min_cosine"]
    off = vectors.copy()
    off[1] = -off[1]
    assert recheck_query_model(spec, files, embedder, texts, off, threads=1, indexed=600, origin="build-x") is None
    other = dict(spec, versions=dict(spec["versions"], onnxruntime="0.0"))
    assert recheck_query_model(other, files, embedder, texts, vectors, threads=1, indexed=600, origin="x") is None
