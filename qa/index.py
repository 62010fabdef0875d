"""Chunks and sentences -> the built index (FAISS + BM25 + vocabulary tables) in memory: what
retrieval and answering read, and how it is built. Writing it to disk and reading it back,
with the checks that make that safe, is qa/index_files.py."""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from qa.acronyms import initialism_forms, spelt_table
from qa.build_cache import (VectorCache, embed, embedding_key, embedding_record, key_change, query_model, stored_key,
                            text_owners)
from qa.chunking import chunk_documents, is_question_heading
from qa.numbered import NumberedNames
from qa.settings import Settings
from qa.spelling import possessed_names
from qa.text import STOPWORDS, content_stems, content_words, normalize, plain_words, stem, words
from qa.types import Chunk, Document, Sentence
from qa.units import money_words

if TYPE_CHECKING:
    import bm25s
    import faiss

    from qa.embedding import Embedder

log = logging.getLogger(__name__)

# 5: the ONNX query model (manifest `onnx`, query_model input); 6: sentence BM25, paragraphs;
# 7: key_vectors.npy and the embedding key, so that a rebuild reuses vectors (qa/build_cache.py);
# 8: a text that recurs is embedded once, its copies sharing the vector (qa/build_cache.py embed);
# 9: CorpusTerms stored, headings' initials included (vocabulary.json `terms`; a Milvus blob)
# 10: the corpus terms hold its numbered names ("World War II") and the money it speaks of
# 11: a sentence too long to cite or to embed whole is cut into parts (qa/chunking.py cut_long);
#     a fenced code block in Markdown is one block, its lines never headings; a UTF-8 byte-order mark is dropped;
#     underlined (setext) headings are headings, and separator lines ("---", "* * *") no text;
#     in plain text, a byline under the title and a date line are text, not headings; front matter left out;
#     a Markdown table row is a block of its own
# 12: a PDF without an outline has its headings found by type size and weight (qa/loaders/pdf.py)
#     an HTML page that declares no charset and is not UTF-8 is read as windows-1252 (qa/loaders/web.py)
#     after a Word "Title" (level 0), headings are written one `#` deeper: "Heading 1" is `##` (qa/loaders/__init__.py)
FORMAT_VERSION = 12
_COMPOUND = re.compile(r"[^\W_]+(?:-[^\W_]+)+")


@dataclass(frozen=True)
class CorpusTerms:
    """What reading a question needs from the whole corpus text, read once at build time and
    stored with the index: read at a question instead, a corpus of 4 MB made its first question
    wait 1.7 s (the phrase table alone 1.35 s), and the wait grows with the corpus."""

    phrases: dict[str, str]  # initials -> the term or heading of the corpus they spell (qa.acronyms)
    initialisms: dict[str, dict[str, int]]  # initials -> how the corpus writes them in capitals, and how often
    possessed: frozenset[str]  # names the corpus writes with a possessive (qa.spelling)
    numbered: NumberedNames  # "World War II" and how the corpus writes it (qa.numbered)
    money: frozenset[str]  # words for money the corpus speaks of without writing them (qa.units)

    @classmethod
    def of(cls, texts: list[str], names: frozenset[str], headings: Iterable[str],
           words: frozenset[str]) -> "CorpusTerms":
        """`words`: the corpus vocabulary."""
        return cls(phrases=spelt_table(texts, headings),
                   initialisms={k: dict(v) for k, v in initialism_forms(texts).items()},
                   possessed=possessed_names(texts, names), numbered=NumberedNames.of(texts),
                   money=money_words(texts, words))

    def to_json(self) -> dict[str, Any]:
        return {"phrases": self.phrases, "initialisms": self.initialisms, "possessed": sorted(self.possessed),
                "numbered": self.numbered.to_json(), "money": sorted(self.money)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CorpusTerms":
        """Raises ValueError, naming the corpus terms, on a damaged record (the loaders report IndexCorrupt)."""
        try:
            tables = isinstance(data, dict) and all(isinstance(data.get(k), dict) for k in ("phrases", "initialisms"))
            if not tables or not all(isinstance(forms, dict) for forms in data["initialisms"].values()):
                raise TypeError("not tables")
            if not isinstance(data["money"], list):
                raise TypeError("money is not a list of words")
            return cls(phrases={str(k): str(v) for k, v in data["phrases"].items()},
                       initialisms={str(k): {str(form): int(n) for form, n in forms.items()}
                                    for k, forms in data["initialisms"].items()},
                       possessed=frozenset(map(str, data["possessed"])),
                       numbered=NumberedNames.from_json(data["numbered"]), money=frozenset(map(str, data["money"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the corpus terms are damaged ({type(exc).__name__}: {exc})") from None


@dataclass
class Index:
    """Everything retrieval and answering read. Built once, then only read."""

    manifest: dict[str, Any]
    # The text of every corpus document as indexed: all offsets point into these texts.
    documents: list[Document]
    chunks: list[Chunk]
    sentences: list[Sentence]
    # Dense keys: one per chunk (heading + text), plus one per question heading, so a reader's
    # rewording of an FAQ question meets the question itself, not only its (often flowery) answer.
    chunk_vectors: "faiss.Index"
    key_chunk: np.ndarray  # key row -> chunk row
    key_vectors: np.ndarray  # row i embeds key i: what chunk_vectors searches, kept for rebuilds to reuse
    sentence_vectors: np.ndarray  # row i embeds sentences[i].text
    # The searchable indexes; None when the search legs run in Milvus (qa.milvus_store).
    sentence_index: "faiss.Index | None"  # the same vectors, searchable
    bm25: "bm25s.BM25 | None"  # document i is chunks[i]
    sentence_bm25: "bm25s.BM25 | None"  # document i is sentences[i] with its heading
    vocabulary: list[str]  # distinct normalised corpus words
    vocabulary_vectors: np.ndarray  # row i embeds vocabulary[i]
    names: frozenset[str]  # normalised words the corpus writes capitalised mid-sentence
    # Computed once at build time and stored (vocabulary.json), not at every load:
    stem_idf: dict[str, float]  # rarity of each word stem across sentences
    name_subject: dict[str, str]  # each name -> the section that uses it most (see subjects())
    terms: CorpusTerms
    location: Path | None = None  # build folder on disk, None when held only in memory
    # The ONNX query model's files (manifest `onnx`) until save_index writes them into the build folder.
    onnx_files: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def stems(self) -> frozenset[str]:
        return self._stems

    def __post_init__(self) -> None:
        self._stems = frozenset(stem(w) for w in self.vocabulary)
        self.words = frozenset(self.vocabulary)  # normalised words and compounds the corpus uses
        self.word_row = {w: i for i, w in enumerate(self.vocabulary)}
        self._chunk_row = {c.id: i for i, c in enumerate(self.chunks)}
        self._chunk_keys: dict[int, list[int]] = {}
        for key, chunk in enumerate(self.key_chunk.tolist()):
            self._chunk_keys.setdefault(chunk, []).append(key)
        self._sentence_chunks: dict[int, list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            for sid in chunk.sentence_ids:
                self._sentence_chunks.setdefault(sid, []).append(row)
        self._max_idf = math.log(1 + len(self.sentences))
        # What the answer stage derives from each sentence (its words, what it can answer),
        # filled on first use by qa.features and kept: the same sentences come up question after question.
        self.profiles: dict[int, Any] = {}
        self._section_sentences: dict[tuple[str, str], list[int]] = {}
        for sentence in self.sentences:
            self._section_sentences.setdefault((sentence.source, sentence.section), []).append(sentence.id)
        # The chunks under each FAQ heading, by the heading's words ("why might i need ..."):
        # a question asked word for word gets that section (qa.answer).
        self._heading_rows: dict[tuple[str, ...], list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            heading = heading_of(chunk.section)
            if is_question_heading(heading):
                self._heading_rows.setdefault(tuple(plain_words(heading)), []).append(row)

    def subjects(self, text: str) -> set[str]:
        """The subjects the text names: each corpus name stands for the section where the
        corpus uses it most, so "U.S.", "American" and "North America" are one subject."""
        return {self.name_subject[w] for w in content_words(text) if w in self.name_subject}

    def idf(self, word_stem: str) -> float:
        """Rarity of a word stem across sentences; an unseen stem is rarest of all."""
        return self.stem_idf.get(word_stem, self._max_idf)

    def title_of(self, source: str) -> str:
        """The title of the document a sentence comes from ("" when unknown)."""
        return next((d.title for d in self.documents if d.source == source), "")

    def sections(self) -> list[tuple[str, str]]:
        """Every (source, section) of the corpus, in order."""
        return list(self._section_sentences)

    def section_sentences(self, source: str, section: str) -> list[Sentence]:
        """The sentences of one section of one document, in order."""
        return [self.sentences[sid] for sid in self._section_sentences.get((source, section), [])]

    def text_of(self, source: str) -> str:
        """The text of a document, what its offsets point into ("" when unknown)."""
        return next((d.text for d in self.documents if d.source == source), "")

    def rows_asking(self, question: str) -> list[int]:
        """Rows of the chunks whose FAQ heading is the question, word for word (case and punctuation aside)."""
        return self._heading_rows.get(tuple(plain_words(question)), [])

    def neighbour(self, sid: int, step: int) -> Sentence | None:
        """The sentence `step` places away in the same paragraph, if there is one."""
        other = sid + step
        if 0 <= other < len(self.sentences) and self.sentences[other].paragraph == self.sentences[sid].paragraph:
            return self.sentences[other]
        return None

    def chunk_row(self, chunk_id: str) -> int:
        return self._chunk_row[chunk_id]

    def chunk_keys(self, chunk_row: int) -> list[int]:
        return self._chunk_keys.get(chunk_row, [])

    def sentence_chunks(self, sentence_id: int) -> list[int]:
        """Rows of the chunks holding the sentence (two where windows overlap)."""
        return self._sentence_chunks.get(sentence_id, [])


def heading_of(section: str) -> str:
    """The innermost heading of a section path ("FAQ > How do ...?" -> "How do ...?")."""
    return section.rsplit(" > ", 1)[-1]


def section_headings(sentences: list[Sentence]) -> list[str]:
    """Every heading of the corpus's section paths ("FAQ > How do ...?" gives both), once each."""
    return list(dict.fromkeys(h for section in dict.fromkeys(s.section for s in sentences)
                              for h in section.split(" > ")))


def name_subjects(sentences: list[Sentence], names: frozenset[str]) -> dict[str, str]:
    """Each name -> the section that uses it most (ties: the earlier section)."""
    counts: dict[str, Counter[str]] = {}
    for sentence in sentences:
        for word in content_words(sentence.text):
            if word in names:
                counts.setdefault(word, Counter())[sentence.section] += 1
    return {name: by_section.most_common(1)[0][0] for name, by_section in counts.items()}


def sentence_idf(sentences: list[Sentence]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for sentence in sentences:
        counts.update(set(content_stems(f"{sentence.section} {sentence.text}")))
    n = len(sentences)
    return {s: math.log(1 + (n - df + 0.5) / (df + 0.5)) for s, df in counts.items()}


def expected_inputs(documents: Iterable[Document], settings: Settings, model_name: str) -> dict[str, Any]:
    """What an index is built from. Any difference from the manifest makes the index stale."""
    return {
        "format_version": FORMAT_VERSION,
        "corpus": {d.source: d.sha256 for d in documents},
        "model": model_name,
        "chunking": {"window_sentences": settings.window_sentences, "window_overlap": settings.window_overlap,
                     "max_chunk_chars": settings.max_chunk_chars, "max_sentence_chars": settings.max_sentence_chars,
                     "max_embed_tokens": settings.max_embed_tokens},
        "vector_index": {"exact_search_limit": settings.exact_search_limit, "hnsw_m": settings.hnsw_m,
                         "hnsw_ef_construction": settings.hnsw_ef_construction},
        "query_model": {"onnx_int8": settings.onnx_int8},
    }


def stale_reason(stored: dict[str, Any], expected: dict[str, Any]) -> str | None:
    """A short account of what changed, or None when the index fits the inputs."""
    if stored.get("format_version") != expected["format_version"]:
        return f"index format {stored.get('format_version')} != {expected['format_version']}"
    old_corpus, new_corpus = stored.get("corpus", {}), expected["corpus"]
    if old_corpus != new_corpus:
        added = sorted(set(new_corpus) - set(old_corpus))
        removed = sorted(set(old_corpus) - set(new_corpus))
        changed = sorted(k for k in set(old_corpus) & set(new_corpus) if old_corpus[k] != new_corpus[k])
        parts = [f"{label} {', '.join(names)}" for label, names in
                 (("added", added), ("removed", removed), ("changed", changed)) if names]
        return "corpus " + "; ".join(parts)
    for key in ("model", "chunking", "vector_index", "query_model"):
        if stored.get(key) != expected[key]:
            return f"{key} settings differ (index: {stored.get(key)}, now: {expected[key]})"
    return None


# ---------------------------------------------------------------- building

def build_index(documents: list[Document], embedder: "Embedder", settings: Settings,
                progress: Callable[[str], None] = lambda _msg: None, previous: Index | None = None) -> Index:
    """The index of `documents`. `previous`, an earlier build (the current one, even out of
    date), lends its vectors wherever its texts recur, so that only new texts are embedded
    (qa/build_cache.py); everything else is computed afresh. The result is the same either
    way, up to float rounding in the reused vectors."""
    limit = min(settings.max_embed_tokens, embedder.max_tokens)
    sentences, chunks = chunk_documents(
        documents, settings.window_sentences, settings.window_overlap,
        fits=lambda text: embedder.count_tokens(text) <= limit, max_chars=settings.max_chunk_chars,
        max_sentence_chars=settings.max_sentence_chars,
    )
    vocabulary, names = corpus_vocabulary(documents)
    key_texts, key_chunk = chunk_keys(chunks)
    inputs = expected_inputs(documents, settings, embedder.name)
    key = embedding_key(embedder, inputs["chunking"])
    cache = _vector_cache(previous, key, progress)
    if cache is None:
        progress(f"Embedding {len(chunks)} chunks, {len(sentences)} sentences and {len(vocabulary)} words")
    texts = key_texts + [s.text for s in sentences] + vocabulary
    embedded = embed(texts, embedder, cache, progress)
    vectors = embedded.vectors
    n_keys, n_sents = len(key_texts), len(sentences)
    sentence_vectors = vectors[n_keys:n_keys + n_sents]
    # The model as one ONNX graph, checked against these vectors, so questions need no torch.
    onnx = query_model(previous, key, embedder, settings, texts, embedded)
    progress(onnx.summary())
    manifest = {
        "inputs": inputs,
        "model_path": str(embedder.path),
        "dim": int(vectors.shape[1]),
        "vector_index": describe_vector_index(n_keys, settings),
        "counts": {"documents": len(documents), "chunks": len(chunks), "keys": n_keys, "sentences": n_sents,
                   "vocabulary": len(vocabulary)},
        "embedding": embedding_record(key, embedded, cache, [d.source for d in documents],
                                      text_owners(chunks, key_chunk, sentences, len(vocabulary))),
        "onnx": onnx.spec,
        "versions": library_versions(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return Index(
        manifest=manifest, documents=[_text_only(d) for d in documents], chunks=chunks, sentences=sentences,
        chunk_vectors=make_vector_index(vectors[:n_keys], settings), key_chunk=key_chunk,
        key_vectors=vectors[:n_keys], sentence_vectors=sentence_vectors,
        sentence_index=make_vector_index(sentence_vectors, settings),
        bm25=make_bm25([c.embed_text for c in chunks]),
        sentence_bm25=make_bm25([f"{heading_of(s.section)} {s.text}" for s in sentences]),
        vocabulary=vocabulary, vocabulary_vectors=vectors[n_keys + n_sents:], names=names,
        stem_idf=sentence_idf(sentences), name_subject=name_subjects(sentences, names),
        terms=CorpusTerms.of([d.text for d in documents], names, section_headings(sentences), frozenset(vocabulary)),
        onnx_files=onnx.files,
    )


def _vector_cache(previous: Index | None, key: dict[str, Any], say: Callable[[str], None]) -> VectorCache | None:
    """The vectors of `previous` by their text, when they were embedded under the same key."""
    if previous is None:
        return None
    change = key_change(stored_key(previous.manifest), key)
    if change:
        say(f"Embedding everything afresh: the previous build's vectors were made with {change}")
        return None
    keys, _owners = chunk_keys(previous.chunks)
    return VectorCache([(keys, previous.key_vectors), ([s.text for s in previous.sentences], previous.sentence_vectors),
                        (previous.vocabulary, previous.vocabulary_vectors)],
                       build=previous.location.name if previous.location is not None else "memory")


def _text_only(document: Document) -> Document:
    """The document as stored with the index: its text and identity, without the parse."""
    return Document(source=document.source, title=document.title, text=document.text, sha256=document.sha256,
                    blocks=(), page_starts=document.page_starts)


def chunk_keys(chunks: list[Chunk]) -> tuple[list[str], np.ndarray]:
    """Texts to embed as dense keys and the chunk each belongs to: every chunk's own text,
    then the question heading of every chunk that answers a question. A rebuild finds the
    previous build's key vectors by these texts, made again from its chunks: a change to what
    a key's text is must bump FORMAT_VERSION."""
    texts = [c.embed_text for c in chunks]
    owners = list(range(len(chunks)))
    for row, chunk in enumerate(chunks):
        heading = heading_of(chunk.section)
        if is_question_heading(heading):
            texts.append(heading)
            owners.append(row)
    return texts, np.asarray(owners, dtype=np.int64)


def corpus_vocabulary(documents: Iterable[Document]) -> tuple[list[str], frozenset[str]]:
    """Distinct normalised words of the corpus (headings included), and those written with a
    capital letter where a sentence does not start: the corpus's names (China, U.S., ...)."""
    vocabulary: dict[str, None] = {}
    names: set[str] = set()
    for doc in documents:
        for line in doc.text.splitlines():
            tokens = words(line)
            heading = line.lstrip().startswith("#")  # Title Case headings say nothing about names
            position = 0
            for compound in _COMPOUND.findall(line):  # "lithium-ion" as a whole, beside its parts
                vocabulary.setdefault(compound.lower(), None)
            for i, token in enumerate(tokens):
                word = normalize(token)
                vocabulary.setdefault(word, None)
                found = line.find(token, position)
                position = found + len(token)
                starts_sentence = i == 0 or line[:found].rstrip().endswith((".", "!", "?", ":", "-"))
                if token[:1].isupper() and not starts_sentence and not heading and word not in STOPWORDS:
                    names.add(word)
    return list(vocabulary), frozenset(names)


def describe_vector_index(n_vectors: int, settings: Settings) -> dict[str, Any]:
    if n_vectors <= settings.exact_search_limit:
        return {"type": "flat_ip"}
    return {"type": "hnsw_flat_ip", "m": settings.hnsw_m, "ef_construction": settings.hnsw_ef_construction,
            "ef_search": settings.hnsw_ef_search}


def make_vector_index(vectors: np.ndarray, settings: Settings) -> "faiss.Index":
    """Exact inner-product search for small corpora; HNSW above `exact_search_limit`, where
    exact search grows linear in the corpus (measured in eval/bench.md)."""
    import faiss

    dim = vectors.shape[1]
    if len(vectors) <= settings.exact_search_limit:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.hnsw_ef_construction
        index.hnsw.efSearch = settings.hnsw_ef_search
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def bm25s_module():  # type: ignore[no-untyped-def]
    """bm25s, imported on first use. It sets its own logger to DEBUG at import, which prints
    "Building index from tokens" into every app and CLI run: put it back to warnings."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def make_bm25(texts: list[str]) -> "bm25s.BM25":
    bm25 = bm25s_module().BM25()
    bm25.index([content_stems(t) or [""] for t in texts], show_progress=False)
    return bm25


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("faiss-cpu", "bm25s", "sentence-transformers", "torch", "numpy", "onnxruntime", "tokenizers"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "unknown"
    return found
