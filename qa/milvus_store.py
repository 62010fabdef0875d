"""The index in Milvus (QA_BACKEND=milvus): the same tables as the FAISS build, as collections.

One build is five collections named `<base>_<build>_<role>`:
- `chunks`: every chunk's fields (id, source, section, text, offsets, page, sentence ids), its
  own dense vector, and its stemmed terms with the BM25 sparse vector Milvus computes from them;
- `keys`: the dense chunk keys (each chunk's text, and each FAQ question heading) and their chunk;
- `sentences`: every sentence's fields (offsets, paragraph, page), its vector and BM25 terms;
- `words`: the corpus vocabulary and its vectors (the answer stage's soft word overlap);
- `blobs`: the manifest, the documents' texts and the corpus names, as JSON in parts.
`<base>` is the collection prefix and a digest of the corpus folder, so several corpora share a
server; the alias `<base>` names the current build's `blobs` collection. A build writes new
collections and only then moves the alias, in one call: a reader sees the old build or the new
one, never half of one, and two builds at once each write their own collections. The manifest
records the same inputs as the FAISS manifest (corpus hashes, model, settings), so a stale
build is rebuilt, never answered from.

A process reads the tables back into an `Index` at start: the answer stage reads per-sentence
data for every candidate, and keeping it in memory costs what the FAISS index costs. The search
legs run in Milvus (`qa.milvus_search`). The ONNX query model stays on the local disk
(`index/milvus-query-model/`): a replica that lacks it exports it once from the installed model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from qa.errors import IndexCorrupt, IndexStale, QAError
from qa.milvus_connect import connect, guarded
from qa.index import CorpusTerms, Index, build_index, name_subjects, sentence_idf, stale_reason
from qa.settings import Settings, is_server_uri
from qa.text import STOPWORDS, content_stems
from qa.types import Chunk, Document, Sentence

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from qa.embedding import Embedder
    from qa.milvus_search import MilvusSearch

log = logging.getLogger(__name__)

FORMAT = 1
ROLES = ("chunks", "keys", "sentences", "words", "blobs")
MAX_TEXT = 65_535  # Milvus's longest VARCHAR, in bytes
BLOB_PART = 60_000  # characters of ASCII-only JSON per blobs row, within MAX_TEXT
BATCH = 1_000  # rows per insert call: a few MB per gRPC message
# bm25s's defaults (method "lucene", k1 1.5, b 0.75), so both backends score with one formula.
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
QUERY_MODEL_DIR = "milvus-query-model"


def collection_base(settings: Settings) -> str:
    digest = hashlib.sha256(str(settings.corpus_dir.resolve()).encode("utf-8")).hexdigest()[:10]
    return f"{settings.milvus_collection}_{digest}"


def milvus_inputs(settings: Settings) -> dict[str, Any]:
    """What a Milvus build depends on beyond the FAISS manifest's inputs."""
    return {"format": FORMAT, "bm25": settings.milvus_bm25}


def bm25_text(text: str, mode: str) -> str:
    """What Milvus's BM25 function reads for `text`. "stems": our stemmed content words, each made
    a single \\w+ token ("u.s." -> "u_s_", "70%" -> "70_") so that the standard analyzer, of Milvus
    Lite and of the server alike, keeps it whole; "text": the text itself."""
    if mode == "text":
        return text
    return " ".join(re.sub(r"\W", "_", stem) for stem in content_stems(text))


def analyzer(mode: str) -> dict[str, Any]:
    """The analyzer of the BM25 input field: the standard tokenizer, lower case, and (raw text
    only) our stopwords. The only analyzer Milvus Lite has besides jieba; no stemmer."""
    filters: list[Any] = ["lowercase"]
    if mode == "text":
        filters.append({"type": "stop", "stop_words": sorted(STOPWORDS)})
    return {"tokenizer": "standard", "filter": filters}


# ---------------------------------------------------------------- writing

def _schemas(client: "MilvusClient", dim: int, mode: str) -> dict[str, Any]:
    from pymilvus import DataType, Function, FunctionType

    def schema(*fields: tuple[str, Any, dict[str, Any]], bm25: bool = False) -> Any:
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("id", DataType.INT64, is_primary=True)
        for name, dtype, params in fields:
            s.add_field(name, dtype, **params)
        if bm25:
            s.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True,
                        analyzer_params=analyzer(mode))
            s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            s.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                    output_field_names=["sparse"]))
        return s

    text = (DataType.VARCHAR, {"max_length": MAX_TEXT})
    vector = ("vector", DataType.FLOAT_VECTOR, {"dim": dim})
    span = [("source", *text), ("section", *text), ("text", *text), ("start", DataType.INT64, {}),
            ("end", DataType.INT64, {}), ("page", DataType.INT64, {})]
    return {
        "chunks": schema(("chunk_id", *text), *span, ("sentence_ids", *text), ("embed_text", *text), vector, bm25=True),
        "keys": schema(("chunk", DataType.INT64, {}), vector),
        "sentences": schema(*span, ("paragraph", DataType.INT64, {}), vector, bm25=True),
        "words": schema(("word", *text), vector),
        "blobs": schema(("kind", *text), ("part", DataType.INT64, {}), ("text", *text),
                        ("vector", DataType.FLOAT_VECTOR, {"dim": 2})),  # Milvus wants a vector field
    }


def _index_params(client: "MilvusClient", role: str, rows: int, settings: Settings) -> Any:
    """Exact search up to `exact_search_limit` rows, HNSW above, as the FAISS backend does."""
    params = client.prepare_index_params()
    if rows <= settings.exact_search_limit or role == "blobs":
        params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    else:
        params.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                         params={"M": settings.hnsw_m, "efConstruction": settings.hnsw_ef_construction})
    if role in ("chunks", "sentences"):
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                         params=BM25_PARAMS)
    return params


def _rows(index: Index, settings: Settings) -> dict[str, Iterable[dict[str, Any]]]:
    mode = settings.milvus_bm25
    keys = np.stack([index.chunk_vectors.reconstruct(i) for i in range(index.chunk_vectors.ntotal)]) \
        if index.chunk_vectors.ntotal else np.zeros((0, index.sentence_vectors.shape[1]), np.float32)
    span = lambda x: {"source": x.source, "section": x.section, "text": x.text, "start": x.start,  # noqa: E731
                      "end": x.end, "page": -1 if x.page is None else x.page}
    blobs = {"manifest": index.manifest, "names": sorted(index.names), "terms": index.terms.to_json(),
             "documents": [{"source": d.source, "title": d.title, "sha256": d.sha256, "text": d.text,
                            "page_starts": list(d.page_starts)} for d in index.documents]}
    parts = [(kind, part, text) for kind, value in blobs.items() for part, text in enumerate(_split(value))]
    return {
        "chunks": ({"id": row, "chunk_id": c.id, **span(c), "sentence_ids": json.dumps(list(c.sentence_ids)),
                    "embed_text": c.embed_text, "vector": keys[row].tolist(), "terms": bm25_text(c.embed_text, mode)}
                   for row, c in enumerate(index.chunks)),
        "keys": ({"id": key, "chunk": int(chunk), "vector": keys[key].tolist()}
                 for key, chunk in enumerate(index.key_chunk.tolist())),
        "sentences": ({"id": s.id, **span(s), "paragraph": s.paragraph, "vector": index.sentence_vectors[s.id].tolist(),
                       "terms": bm25_text(f"{_heading(s.section)} {s.text}", mode)} for s in index.sentences),
        "words": ({"id": row, "word": word, "vector": index.vocabulary_vectors[row].tolist()}
                  for row, word in enumerate(index.vocabulary)),
        "blobs": ({"id": n, "kind": kind, "part": part, "text": text, "vector": [0.0, 1.0]}
                  for n, (kind, part, text) in enumerate(parts)),
    }


def _heading(section: str) -> str:
    from qa.index import heading_of

    return heading_of(section)


def _split(value: Any) -> list[str]:
    text = json.dumps(value, ensure_ascii=True)  # ASCII: characters are bytes, so parts fit MAX_TEXT
    return [text[i:i + BLOB_PART] for i in range(0, len(text), BLOB_PART)] or [""]


def write_build(client: "MilvusClient", index: Index, settings: Settings) -> str:
    """Write `index` as a new build and make it current. Returns the build id."""
    uri, base = settings.milvus_target, collection_base(settings)
    build = f"{time.time_ns():x}{os.getpid() % 65536:04x}"  # sorts by time: cleanup keeps newer builds
    names = {role: f"{base}_{build}_{role}" for role in ROLES}
    manifest = dict(index.manifest, milvus=milvus_inputs(settings), build=build)
    index.manifest = manifest
    schemas = _schemas(client, int(manifest["dim"]), settings.milvus_bm25)
    counts = {"chunks": len(index.chunks), "keys": len(index.key_chunk), "sentences": len(index.sentences),
              "words": len(index.vocabulary), "blobs": 0}
    try:
        for role, rows in _rows(index, settings).items():
            guarded(uri, lambda: client.create_collection(names[role], schema=schemas[role]))
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) == BATCH:
                    guarded(uri, lambda: client.insert(names[role], batch))
                    batch = []
            if batch:
                guarded(uri, lambda: client.insert(names[role], batch))
            guarded(uri, lambda: client.flush(names[role]))
            # A server builds indexes in the background: wait for them. Milvus Lite builds them in
            # the call, and lacks the timestamp call that waiting makes.
            guarded(uri, lambda: client.create_index(names[role], _index_params(client, role, counts[role], settings),
                                                     sync=is_server_uri(uri)))
            guarded(uri, lambda: client.load_collection(names[role]))
        _point_alias(client, uri, base, names["blobs"])
    except BaseException:
        for name in names.values():
            _drop_quietly(client, name)
        raise
    _drop_old_builds(client, base, keep=build)
    return build


def _point_alias(client: "MilvusClient", uri: str, base: str, collection: str) -> None:
    from pymilvus.exceptions import MilvusException

    if base not in guarded(uri, client.list_aliases).get("aliases", []):
        try:
            client.create_alias(collection, base)
            return
        except MilvusException:  # another first build made it meanwhile
            pass
    guarded(uri, lambda: client.alter_alias(collection, base))


def _builds(client: "MilvusClient", base: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    pattern = re.compile(re.escape(base) + r"_([0-9a-f]+)_(" + "|".join(ROLES) + ")$")
    for name in client.list_collections():
        match = pattern.match(name)
        if match:
            found.setdefault(match.group(1), []).append(name)
    return found


def _drop_old_builds(client: "MilvusClient", base: str, keep: str) -> None:
    """Keep this build and the one before it (a replica may still be reading it); drop older ones.
    A build newer than both may be another builder's, still being written: it is left alone."""
    builds = sorted(_builds(client, base), key=lambda b: int(b, 16))
    if keep not in builds:
        return
    older = [b for b in builds if int(b, 16) < int(keep, 16)]
    for build in older[:-1]:
        for name in _builds(client, base)[build]:
            _drop_quietly(client, name)


def _drop_quietly(client: "MilvusClient", name: str) -> None:
    from pymilvus.exceptions import MilvusException

    try:
        client.drop_collection(name)
    except MilvusException as exc:  # already gone, or the server went away: the next build's cleanup retries
        log.debug("could not drop %s: %s", name, exc)


# ---------------------------------------------------------------- reading

def current_build(client: "MilvusClient", settings: Settings) -> str | None:
    """The build the alias names, or None when there is none yet."""
    base, uri = collection_base(settings), settings.milvus_target
    if base not in guarded(uri, client.list_aliases).get("aliases", []):
        return None
    target = guarded(uri, lambda: client.describe_alias(base))["collection_name"]
    match = re.fullmatch(re.escape(base) + r"_([0-9a-f]+)_blobs", target)
    if not match:
        raise IndexCorrupt(Path(settings.milvus_target), f"alias {base} names {target}, not a build of ours")
    return match.group(1)


def collection_names(settings: Settings, build: str) -> dict[str, str]:
    return {role: f"{collection_base(settings)}_{build}_{role}" for role in ROLES}


def _all_rows(client: "MilvusClient", uri: str, name: str, fields: list[str], count: int) -> list[dict[str, Any]]:
    """Rows 0..count-1 (ids are row numbers), read in id ranges: Milvus caps one query at
    16,384 rows, and Milvus Lite has no query iterator."""
    rows: list[dict[str, Any]] = []
    step = 4_000
    for low in range(0, max(count, 1), step):
        rows.extend(guarded(uri, lambda: client.query(name, filter=f"id >= {low} and id < {low + step}",
                                                      output_fields=fields, limit=step)))
    return sorted(rows, key=lambda r: r["id"])


def read_blobs(client: "MilvusClient", settings: Settings, build: str) -> dict[str, Any]:
    uri = settings.milvus_target
    name = collection_names(settings, build)["blobs"]
    guarded(uri, lambda: client.load_collection(name))  # Milvus Lite opens collections released
    count = guarded(uri, lambda: client.query(name, filter="id >= 0", output_fields=["count(*)"]))[0]["count(*)"]
    rows = _all_rows(client, uri, name, ["kind", "part", "text"], count)
    texts: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        texts.setdefault(row["kind"], []).append((row["part"], row["text"]))
    try:
        return {kind: json.loads("".join(t for _p, t in sorted(parts))) for kind, parts in texts.items()}
    except json.JSONDecodeError as exc:
        raise IndexCorrupt(Path(uri), f"build {build}'s blobs are not JSON ({exc.msg})") from None


def load_build(client: "MilvusClient", settings: Settings, expected: dict[str, Any]) -> Index:
    """The current build as an Index, after checking it was made from `expected` inputs.
    Raises IndexStale when there is none or it is stale, IndexCorrupt when it is damaged."""
    uri = settings.milvus_target
    build = current_build(client, settings)
    if build is None:
        raise IndexStale(Path(uri), f"no build of {collection_base(settings)} yet")
    blobs = read_blobs(client, settings, build)
    manifest = blobs.get("manifest")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("inputs"), dict):
        raise IndexCorrupt(Path(uri), f"build {build} has no manifest")
    reason = stale_reason(manifest["inputs"], expected)
    if reason is None and manifest.get("milvus") != milvus_inputs(settings):
        reason = f"Milvus settings differ (index: {manifest.get('milvus')}, now: {milvus_inputs(settings)})"
    if reason:
        raise IndexStale(Path(uri), reason)
    try:
        return _read_tables(client, settings, build, manifest, blobs)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorrupt(Path(uri), f"build {build} cannot be read ({type(exc).__name__}: {exc})") from None


def _read_tables(client: "MilvusClient", settings: Settings, build: str, manifest: dict[str, Any],
                 blobs: dict[str, Any]) -> Index:
    import faiss

    uri, names = settings.milvus_target, collection_names(settings, build)
    for name in names.values():
        guarded(uri, lambda: client.load_collection(name))
    page = lambda row: None if row["page"] < 0 else int(row["page"])  # noqa: E731
    span = ["source", "section", "text", "start", "end", "page"]
    counts = manifest.get("counts", {})
    chunk_rows = _all_rows(client, uri, names["chunks"], ["chunk_id", *span, "sentence_ids", "embed_text"],
                           counts["chunks"])
    chunks = [Chunk(id=r["chunk_id"], source=r["source"], section=r["section"], text=r["text"], start=r["start"],
                    end=r["end"], sentence_ids=tuple(json.loads(r["sentence_ids"])), embed_text=r["embed_text"],
                    page=page(r)) for r in chunk_rows]
    sentence_rows = _all_rows(client, uri, names["sentences"], [*span, "paragraph", "vector"], counts["sentences"])
    sentences = [Sentence(id=r["id"], source=r["source"], section=r["section"], text=r["text"], start=r["start"],
                          end=r["end"], paragraph=r["paragraph"], page=page(r)) for r in sentence_rows]
    key_rows = _all_rows(client, uri, names["keys"], ["chunk", "vector"], counts["keys"])
    word_rows = _all_rows(client, uri, names["words"], ["word", "vector"], counts["vocabulary"])
    dim = int(manifest["dim"])
    vectors = lambda rows: np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(-1, dim)  # noqa: E731
    key_vectors = vectors(key_rows)
    key_index = faiss.IndexFlatIP(dim)  # a flat index of the keys, as the FAISS build holds (no search runs on it)
    key_index.add(key_vectors)
    if [len(chunks), len(key_rows), len(sentences), len(word_rows)] != \
            [counts.get("chunks"), counts.get("keys"), counts.get("sentences"), counts.get("vocabulary")] \
            or any(r["id"] != i for rows in (chunk_rows, sentence_rows, key_rows, word_rows) for i, r in enumerate(rows)):
        raise ValueError("row counts disagree with the manifest")
    documents = [Document(source=d["source"], title=d["title"], text=d["text"], sha256=d["sha256"], blocks=(),
                          page_starts=tuple(d["page_starts"])) for d in blobs["documents"]]
    names_set = frozenset(blobs["names"])
    return Index(
        manifest=manifest, documents=documents, chunks=chunks, sentences=sentences, chunk_vectors=key_index,
        key_chunk=np.asarray([r["chunk"] for r in key_rows], dtype=np.int64), key_vectors=key_vectors,
        sentence_vectors=vectors(sentence_rows),
        sentence_index=None, bm25=None, sentence_bm25=None,  # the search legs run in Milvus
        vocabulary=[r["word"] for r in word_rows], vocabulary_vectors=vectors(word_rows), names=names_set,
        stem_idf=sentence_idf(sentences), name_subject=name_subjects(sentences, names_set),
        terms=CorpusTerms.from_json(blobs["terms"]),
    )


# ---------------------------------------------------------------- opening

def open_index(documents: list[Document], builder: "Embedder", settings: Settings, expected: dict[str, Any],
               say: Callable[[str], None], force: bool = False) -> tuple[Index, "MilvusSearch"]:
    """The current Milvus build for the corpus, or a new one when there is none, it is stale or
    damaged, or `force`. Two builders at once each write a complete build of their own."""
    from qa.milvus_search import MilvusSearch

    client = connect(settings, say)
    uri = settings.milvus_target
    index = None
    if not force:
        try:
            index = load_build(client, settings, expected)
        except (IndexStale, IndexCorrupt) as exc:
            say(f"Building the Milvus index at {uri}: {exc.reason}")
    if index is None:
        started = time.perf_counter()
        index = build_index(documents, builder, settings, progress=say)
        build = write_build(client, index, settings)
        _save_query_model(settings, build, index.onnx_files)
        say(f"Built the Milvus index in {time.perf_counter() - started:.1f} s: {uri}, {collection_base(settings)} "
            f"build {build}")
    else:
        _ensure_query_model(index, builder, settings, say)
    index.onnx_files = {}
    index.location = settings.index_dir / QUERY_MODEL_DIR / index.manifest["build"]
    return index, MilvusSearch(client, settings, index.manifest["build"], len(index.chunks), len(index.sentences))


def _save_query_model(settings: Settings, build: str, files: dict[str, bytes]) -> None:
    """The ONNX files, in a local folder per build; older builds' folders are removed."""
    root = settings.index_dir / QUERY_MODEL_DIR
    folder = root / build
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, folder / name)
        for old in root.iterdir():
            if old.is_dir() and old.name != build:
                shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise QAError(f"Cannot write the query model to {folder} ({exc.strerror or exc}); "
                      "check that QA_INDEX_DIR can be written") from None


def _ensure_query_model(index: Index, builder: "Embedder", settings: Settings, say: Callable[[str], None]) -> None:
    """A replica that did not build the index exports the ONNX query model from the installed
    model once, checked against sentence vectors read from Milvus (as a build checks it)."""
    from qa.onnx_export import export_query_model

    spec = index.manifest.get("onnx") or {}
    folder = settings.index_dir / QUERY_MODEL_DIR / index.manifest["build"]
    if not spec.get("available") or all((folder / spec[k]).is_file() for k in ("file", "weights", "tokenizer")
                                        if spec.get(k)):
        return
    say(f"No ONNX query model for this Milvus build in {folder.parent}: exporting it from the installed model")
    sample = index.sentences[:256]
    query_model = export_query_model(builder, [s.text for s in sample], index.sentence_vectors[:len(sample)],
                                     settings.onnx_int8, settings.torch_threads)
    say(query_model.summary())
    index.manifest = dict(index.manifest, onnx=query_model.spec)
    if query_model.available:
        _save_query_model(settings, index.manifest["build"], query_model.files)
