"""An earlier build's vectors, reused, so that a rebuild embeds only what is new.

Embedding is nearly all of a build's time, and nearly all of it is repeated when one file of
many changes. A text's vector depends on the text and the model alone, not on the file it
comes from, so the vectors of the previous build are found by their text: its dense keys
(`chunks.jsonl` with `key_vectors.npy`), its sentences (`sentences.jsonl` with
`sentence_vectors.npy`) and its vocabulary words (`vocabulary.json` with
`vocabulary_vectors.npy`). A new or changed file brings new texts and is embedded; an
unchanged one brings none; a removed one is simply not looked up. A word any file already
used is never embedded again. Finding vectors by text rather than trusting a file's hash
also covers a file whose bytes changed but whose text did not (a PDF's metadata), and a
loader that now extracts other text from the same bytes.

Vectors are reused only under the same `embedding_key`: the same model files (their
SHA-256), the same versions of the libraries that turn text into vectors, and the same
chunking settings. A chunking change is rare and deliberate, and then everything is embedded
afresh: one rule that is easy to state and to check. Everything cheap (chunking, FAISS, BM25,
idf, names) is always recomputed for the whole corpus, so an incremental build differs from a
full one only by float rounding in the reused vectors (batches pad differently, about 1e-7).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    from qa.embedding import Embedder
    from qa.index import Index
    from qa.onnx_export import QueryModel
    from qa.settings import Settings
    from qa.types import Chunk, Sentence

# What turns a text into a vector besides the model's files: a new tokenizer or transformer
# release may cut or pool differently, so vectors made under other versions are not reused.
EMBED_LIBRARIES = ("torch", "transformers", "sentence-transformers", "tokenizers")


@lru_cache(maxsize=8)
def model_fingerprint(model_path: Path) -> str:
    """SHA-256 over every file of the model folder (names and bytes). Once per process: the
    loaded model does not change under a running process (hashing its 90 MB takes 0.12 s here)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_path.rglob("*") if p.is_file()):
        digest.update(path.relative_to(model_path).as_posix().encode("utf-8") + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def embedding_key(embedder: "Embedder", chunking: dict[str, Any]) -> dict[str, Any]:
    """What the vectors of a build depend on. Two builds with equal keys embed a text alike."""
    versions = {}
    for name in EMBED_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "unknown"
    return {"model": embedder.name, "model_sha256": model_fingerprint(embedder.path), "chunking": chunking,
            "versions": versions}


KEY_PARTS = {"model": "another model", "model_sha256": "other model files", "chunking": "other chunking settings",
             "versions": "other library versions"}


def stored_key(manifest: dict[str, Any]) -> Any:
    """The embedding key a build's manifest records (None when it records none)."""
    record = manifest.get("embedding")
    return record.get("key") if isinstance(record, dict) else None


def key_change(stored: Any, key: dict[str, Any]) -> str | None:
    """How a build's embedding key differs from `key`, in words; None when they are equal."""
    if stored == key:
        return None
    if not isinstance(stored, dict):
        return "no record of how they were made"
    return ", ".join(label for part, label in KEY_PARTS.items() if stored.get(part) != key.get(part)) or "another key"


class VectorCache:
    """Vectors of an earlier build, found by their text. Holds views of that build's arrays
    (its key vectors stay memory-mapped), so it costs one dictionary of its texts."""

    def __init__(self, parts: Sequence[tuple[Sequence[str], np.ndarray]], build: str) -> None:
        """`parts`: (texts, vectors) pairs, row i of the vectors embedding texts[i]."""
        self.parts = tuple(vectors for _texts, vectors in parts)
        self.rows: dict[str, tuple[int, int]] = {}
        for part, (texts, vectors) in enumerate(parts):
            if len(texts) != len(vectors):
                raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
            for row, text in enumerate(texts):
                self.rows.setdefault(text, (part, row))
        self.build = build
        dims = {vectors.shape[1] for vectors in self.parts if vectors.ndim == 2}
        if len(dims) != 1 or any(vectors.ndim != 2 for vectors in self.parts):
            raise ValueError(f"the vectors are not rows of one size ({sorted(dims)})")
        self.dim = dims.pop()

    def get(self, text: str) -> np.ndarray | None:
        found = self.rows.get(text)
        return None if found is None else self.parts[found[0]][found[1]]


@dataclass(frozen=True)
class Embedded:
    """Vectors for every text of a build, and which of them this build embedded itself."""

    vectors: np.ndarray  # row i embeds texts[i]
    fresh: np.ndarray  # bool per text: embedded now, not reused
    seconds: float  # spent in the model


def embed(texts: Sequence[str], embedder: "Embedder", cache: VectorCache | None,
          say: Callable[[str], None] = lambda _msg: None) -> Embedded:
    """One vector per text: the cache's where it has the text, the model's for the rest, in one
    `encode` call over the missing texts in build order. A full build so embeds exactly the list
    it always did: batched otherwise, a vector moves by about 1e-7, and `qa train` reproduces
    its committed weights only from the same vectors.

    A text that recurs (the question heading every chunk of one answer is keyed by, a repeated
    sentence) is embedded once and its copies share that vector. Embedded apart, in batches
    padded differently, the copies differed by about 1e-7, so which of them ranked first was
    decided by that rounding, and differently on another CPU; sharing one vector makes them tie
    exactly, and ties rank by row."""
    if cache is not None and cache.dim != embedder.dim:
        say(f"Embedding everything afresh: the previous build holds {cache.dim}-d vectors, the model makes {embedder.dim}-d")
        cache = None
    missing = [row for row, text in enumerate(texts) if cache is None or text not in cache.rows]
    if cache is not None:
        say(f"Embedding {len(missing)} new texts; reusing the vectors of {len(texts) - len(missing)} "
            "from the previous build")
    distinct = list(dict.fromkeys(texts[row] for row in missing))
    started = time.perf_counter()
    computed = embedder.encode(distinct)
    seconds = time.perf_counter() - started
    position = {text: i for i, text in enumerate(distinct)}
    vectors = np.empty((len(texts), embedder.dim), dtype=np.float32)
    fresh = np.zeros(len(texts), dtype=bool)
    fresh[missing] = True
    vectors[missing] = computed[[position[texts[row]] for row in missing]]
    for row in np.flatnonzero(~fresh).tolist():
        vectors[row] = cache.get(texts[row])  # type: ignore[union-attr]  # not missing, so the cache has it
    return Embedded(vectors=vectors, fresh=fresh, seconds=seconds)


def embedding_record(key: dict[str, Any], embedded: Embedded, cache: VectorCache | None, documents: Sequence[str],
                     owners: Sequence[str | None]) -> dict[str, Any]:
    """The manifest's `embedding` entry: the key, and what this build embedded and reused. A
    document counts as embedded when any of its keys or sentences was (`owners[i]` is the
    source of texts[i], None for a vocabulary word, which belongs to the whole corpus)."""
    touched = {owner for owner, fresh in zip(owners, embedded.fresh.tolist()) if fresh and owner is not None}
    reused = int(np.count_nonzero(~embedded.fresh))
    return {
        "key": key,
        "texts": int(np.count_nonzero(embedded.fresh)),
        "reused_texts": reused,
        "documents": {"embedded": sum(d in touched for d in documents),
                      "reused": sum(d not in touched for d in documents)},
        "reused_from": cache.build if cache is not None and reused else None,
        "seconds": round(embedded.seconds, 3),
    }


def text_owners(chunks: list["Chunk"], key_chunk: np.ndarray, sentences: list["Sentence"],
                n_words: int) -> list[str | None]:
    """The source file of each embedded text, in the build's order: keys, sentences, words."""
    return ([chunks[row].source for row in key_chunk.tolist()] + [s.source for s in sentences]
            + [None] * n_words)


def query_model(previous: "Index | None", key: dict[str, Any], embedder: "Embedder", settings: "Settings",
                texts: list[str], embedded: Embedded) -> "QueryModel":
    """The ONNX query model: the previous build's, when it was exported from the same model
    files with the same settings, checked on the texts embedded now; else a fresh export,
    checked on every text.

    Why check only the new texts: every text of the previous build was checked against these
    very model bytes when it was embedded, so checking each new text keeps the build's promise
    (every indexed text's ONNX vector matches the model's) at a cost that grows with the change,
    not with the corpus. A fresh export takes seconds, longer than all the rest of an
    incremental build."""
    from qa.onnx_export import export_query_model, recheck_query_model

    files = _reusable_onnx_files(previous, key, settings)
    if files is not None and previous is not None:
        new = np.flatnonzero(embedded.fresh).tolist()
        kept = recheck_query_model(previous.manifest["onnx"], files, embedder, [texts[i] for i in new],
                                   embedded.vectors[new], settings.torch_threads, indexed=len(texts),
                                   origin=previous.location.name if previous.location else "memory")
        if kept is not None:
            return kept
    return export_query_model(embedder, texts, embedded.vectors, settings.onnx_int8, settings.torch_threads)


def _reusable_onnx_files(previous: "Index | None", key: dict[str, Any], settings: "Settings") -> dict[str, bytes] | None:
    """The previous build's ONNX files when they can be reused: exported (and kept) from model
    files with this SHA-256, with the same int8 setting, and still matching their checksums."""
    if previous is None:
        return None
    manifest = previous.manifest
    spec = manifest.get("onnx")
    stored = stored_key(manifest)
    if not isinstance(spec, dict) or not spec.get("available") or not isinstance(stored, dict) \
            or stored.get("model_sha256") != key["model_sha256"] \
            or manifest["inputs"].get("query_model") != {"onnx_int8": settings.onnx_int8}:
        return None
    names = [spec.get(field) for field in ("file", "weights", "tokenizer")]
    if previous.onnx_files:  # a build held in memory
        return dict(previous.onnx_files)
    if previous.location is None or not all(isinstance(n, str) for n in names):
        return None
    files = {}
    for name in names:
        try:
            data = (previous.location / name).read_bytes()
        except OSError:  # swept away by a newer build since it was loaded
            return None
        if hashlib.sha256(data).hexdigest() != manifest.get("artifacts", {}).get(name):
            return None
        files[name] = data
    return files
