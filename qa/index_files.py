"""The built index on disk, and back.

A build is written into a fresh folder under `builds/` and only then made current by
atomically replacing the one-line `CURRENT` file, under a file lock: a crash mid-build
leaves the previous index in force, and two builds at once cannot interleave. Every
artifact's SHA-256 is in the manifest and is checked before the file is read, so a damaged
file is reported, never parsed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from qa.errors import IndexCorrupt, IndexMissing, IndexStale
from qa.index import FORMAT_VERSION, CorpusTerms, Index, bm25s_module, stale_reason
from qa.types import Chunk, Document, Sentence

CURRENT = "CURRENT"
LOCK = ".build.lock"


# ---------------------------------------------------------------- saving

def save_index(index: Index, index_dir: Path) -> Path:
    """Write a new build folder and make it current. Returns the build folder.
    Raises OSError when the folder cannot be written (the caller keeps the in-memory index)."""
    import faiss

    builds = index_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    build_dir = Path(tempfile.mkdtemp(prefix="build-", dir=builds))
    try:
        faiss.write_index(index.chunk_vectors, str(build_dir / "chunks.faiss"))
        faiss.write_index(index.sentence_index, str(build_dir / "sentences.faiss"))
        np.save(build_dir / "key_chunk.npy", index.key_chunk, allow_pickle=False)
        np.save(build_dir / "key_vectors.npy", index.key_vectors, allow_pickle=False)
        _write_jsonl(build_dir / "documents.jsonl", (
            {"source": d.source, "title": d.title, "sha256": d.sha256, "text": d.text,
             "page_starts": list(d.page_starts)} for d in index.documents))
        _write_jsonl(build_dir / "chunks.jsonl", (asdict(c) for c in index.chunks))
        _write_jsonl(build_dir / "sentences.jsonl", (asdict(s) for s in index.sentences))
        np.save(build_dir / "sentence_vectors.npy", index.sentence_vectors, allow_pickle=False)
        np.save(build_dir / "vocabulary_vectors.npy", index.vocabulary_vectors, allow_pickle=False)
        (build_dir / "vocabulary.json").write_text(
            json.dumps({"words": index.vocabulary, "names": sorted(index.names), "idf": index.stem_idf,
                        "subjects": index.name_subject, "terms": index.terms.to_json()}, ensure_ascii=False),
            encoding="utf-8")
        index.bm25.save(str(build_dir / "bm25"), show_progress=False)
        index.sentence_bm25.save(str(build_dir / "bm25_sentences"), show_progress=False)
        for name, data in index.onnx_files.items():
            (build_dir / name).write_bytes(data)
        manifest = dict(index.manifest, artifacts=_checksums(build_dir))
        _write_atomic(build_dir / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        _fsync_dir(build_dir)
        _write_atomic(index_dir / CURRENT, build_dir.name + "\n")
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    index.manifest = manifest
    index.location = build_dir
    index.onnx_files = {}  # on disk now: the engine loads them from there
    _remove_old_builds(builds, keep=build_dir.name)
    return build_dir


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        with file.open("rb") as fh:
            os.fsync(fh.fileno())


def _checksums(build_dir: Path) -> dict[str, str]:
    return {p.relative_to(build_dir).as_posix(): _sha256(p)
            for p in sorted(build_dir.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _remove_old_builds(builds: Path, keep: str) -> None:
    for old in builds.iterdir():
        if old.name != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def build_lock(index_dir: Path, timeout: float = 600.0):  # type: ignore[no-untyped-def]
    """A cross-process lock so that two builds never write at once."""
    from filelock import FileLock

    index_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(index_dir / LOCK), timeout=timeout)


# ---------------------------------------------------------------- loading

def current_build(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):  # no folder, or a file where it should be
        raise IndexMissing(index_dir) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(index_dir, f"cannot read {CURRENT}: {exc}") from None
    build_dir = index_dir / "builds" / name
    if not name or "/" in name or name in (".", "..") or not build_dir.is_dir():
        raise IndexCorrupt(index_dir, f"{CURRENT} names a build that is not there ({name!r})")
    return build_dir


def read_manifest(build_dir: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(build_dir, "manifest.json is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(build_dir, f"manifest.json is unreadable ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), dict) \
            or not isinstance(manifest.get("inputs"), dict):
        raise IndexCorrupt(build_dir, "manifest.json lacks its inputs or artifact checksums")
    return manifest


def load_index(index_dir: Path, expected: dict[str, Any], dim: int | None = None) -> Index:
    """The current build, after checking it was made from `expected` inputs (and holds
    `dim`-d vectors, when given) and that every artifact matches its checksum.
    Raises IndexMissing, IndexStale or IndexCorrupt."""
    build_dir = current_build(index_dir)
    manifest = read_manifest(build_dir)
    try:
        reason = stale_reason(manifest["inputs"], expected)
    except (TypeError, AttributeError):  # e.g. "corpus": 5 in a hand-edited manifest
        raise IndexCorrupt(build_dir, "manifest.json has malformed inputs") from None
    if reason is None and dim is not None and manifest.get("dim") != dim:
        reason = f"it holds {manifest.get('dim')}-d vectors, the model makes {dim}-d"
    if reason:
        raise IndexStale(index_dir, reason)
    return _read_build(build_dir, manifest)


def load_current_build(index_dir: Path) -> Index:
    """The current build whatever corpus and settings it was made from, every artifact checked
    against its checksum: a rebuild reuses its vectors. Raises IndexMissing, IndexCorrupt, or
    IndexStale when it was written in another index format (whose files this code cannot read)."""
    build_dir = current_build(index_dir)
    manifest = read_manifest(build_dir)
    if manifest["inputs"].get("format_version") != FORMAT_VERSION:
        raise IndexStale(index_dir, f"index format {manifest['inputs'].get('format_version')} != {FORMAT_VERSION}")
    return _read_build(build_dir, manifest)


def _read_build(build_dir: Path, manifest: dict[str, Any]) -> Index:
    _verify_checksums(build_dir, manifest["artifacts"])
    try:
        return _read_artifacts(build_dir, manifest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(build_dir, f"cannot read an artifact ({type(exc).__name__}: {exc})") from None


def _verify_checksums(build_dir: Path, artifacts: dict[str, str]) -> None:
    on_disk = {p.relative_to(build_dir).as_posix() for p in build_dir.rglob("*")
               if p.is_file() and p.name != "manifest.json"}
    missing = sorted(set(artifacts) - on_disk)
    if missing:
        raise IndexCorrupt(build_dir, f"missing {', '.join(missing)}")
    for name, digest in artifacts.items():
        try:
            actual = _sha256(build_dir / name)
        except OSError as exc:  # a disk error, or a build swept away by a newer one mid-read
            raise IndexCorrupt(build_dir, f"cannot read {name} ({exc.strerror or exc})") from None
        if actual != digest:
            raise IndexCorrupt(build_dir, f"{name} does not match its checksum")


def _read_artifacts(build_dir: Path, manifest: dict[str, Any]) -> Index:
    import faiss

    bm25s = bm25s_module()

    documents = [Document(**{**row, "page_starts": tuple(row.get("page_starts", ()))}, blocks=())
                 for row in _read_jsonl(build_dir / "documents.jsonl")]
    chunks = [Chunk(**{**row, "sentence_ids": tuple(row["sentence_ids"])})
              for row in _read_jsonl(build_dir / "chunks.jsonl")]
    sentences = [Sentence(**row) for row in _read_jsonl(build_dir / "sentences.jsonl")]
    vocab = json.loads((build_dir / "vocabulary.json").read_text(encoding="utf-8"))
    chunk_vectors = faiss.read_index(str(build_dir / "chunks.faiss"))
    sentence_index = faiss.read_index(str(build_dir / "sentences.faiss"))
    key_chunk = np.load(build_dir / "key_chunk.npy", allow_pickle=False)
    # Read by rebuilds only: mapped, so a serving process does not hold a second copy of the keys.
    key_vectors = np.load(build_dir / "key_vectors.npy", allow_pickle=False, mmap_mode="r")
    sentence_vectors = np.load(build_dir / "sentence_vectors.npy", allow_pickle=False)
    vocabulary_vectors = np.load(build_dir / "vocabulary_vectors.npy", allow_pickle=False)
    bm25 = bm25s.BM25.load(str(build_dir / "bm25"), show_progress=False, verbosity=0)
    sentence_bm25 = bm25s.BM25.load(str(build_dir / "bm25_sentences"), show_progress=False, verbosity=0)
    if chunk_vectors.ntotal != len(key_chunk) or len(key_vectors) != len(key_chunk) \
            or len(sentence_vectors) != len(sentences) \
            or sentence_index.ntotal != len(sentences) or len(vocabulary_vectors) != len(vocab["words"]) \
            or (len(key_chunk) and int(key_chunk.max()) >= len(chunks)):
        raise ValueError("artifact row counts disagree")
    return Index(
        manifest=manifest, documents=documents, chunks=chunks, sentences=sentences, chunk_vectors=chunk_vectors,
        key_chunk=key_chunk, key_vectors=key_vectors,
        sentence_vectors=sentence_vectors, sentence_index=sentence_index, bm25=bm25,
        sentence_bm25=sentence_bm25, vocabulary=list(vocab["words"]),
        vocabulary_vectors=vocabulary_vectors, names=frozenset(vocab["names"]),
        stem_idf={str(k): float(v) for k, v in vocab["idf"].items()},
        name_subject={str(k): str(v) for k, v in vocab["subjects"].items()},
        terms=CorpusTerms.from_json(vocab["terms"]), location=build_dir,
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path.name} line {number}: {exc.msg}") from None
    return rows
