"""The engine: corpus -> index (loaded, or built when missing or stale) -> ask().
The UI, the CLI and the eval all call `Engine.ask`, so what the eval measures is what
users get."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from qa.acronyms import Acronyms
from qa.answer import Scoring, chunk_similarity, compose, missing_names, rank_passages
from qa.features import ANSWERABILITY, FEATURES, TOPIC, feature_matrix
from qa.model import AnswerModel, load_model
from qa.corpus import display_path, load_corpus
from qa.embedding import Embedder, Encoder, model_name, resolve_model_path
from qa.errors import CorpusError, IndexCorrupt, IndexMissing, IndexStale, QueryModelUnavailable, QuestionInvalid
from qa.index import Index, build_index, expected_inputs
from qa.index_files import build_lock, load_current_build, load_index, save_index
from qa.query import Query, analyse, clean_question, forms_as_written, name_answering, printable
from qa.retrieve import Lexical, LocalSearch, Pool, SearchBackend, legs_for, lexical_hits, search
from qa.settings import RETRIEVERS, Settings
from qa.spelling import Speller
from qa.text import content_words
from qa.types import Answer, Document

if TYPE_CHECKING:
    from qa.onnx_model import OnnxEncoder

log = logging.getLogger("qa")


class Engine:
    def __init__(self, settings: Settings, index: Index, embedder: Encoder, model: AnswerModel | None = None,
                 backend: SearchBackend | None = None) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.backend = backend or LocalSearch(index)  # where the search legs run (Settings.backend)
        self.model = model or load_model(settings.answer_model_path, FEATURES, ANSWERABILITY, TOPIC)
        # A word is whole in the model's vocabulary when it reads as one piece beside the special
        # tokens the tokenizer adds to any text ([CLS] and [SEP] for this model).
        specials = embedder.count_tokens("")
        self.speller = Speller(index.words, index.stems, is_word=lambda word: embedder.count_tokens(word) <= specials + 1,
                               names=index.names, possessed=index.terms.possessed)
        self.acronyms = Acronyms(tuple(d.text for d in index.documents), index.words, index.name_subject,
                                 phrases=index.terms.phrases, initialisms=index.terms.initialisms)
        # The words a question may use that the corpus speaks of without writing them ("money").
        self.question_words = index.words | index.terms.money
        self.numbered = index.terms.numbered  # "World War II" for "WWII" or "the Second World War"
        _apply_search_settings(index, settings)

    @classmethod
    def load(cls, settings: Settings | None = None, rebuild: bool = False,
             progress: Callable[[str], None] | None = None, embedder: Encoder | None = None,
             model: AnswerModel | None = None) -> "Engine":
        """Load the index for the corpus, building it first when it is missing, stale,
        damaged, or `rebuild` is asked for. Never answers from a stale index.
        The index is checked from its manifest first; questions are then embedded with the
        ONNX model stored in it, and torch is loaded only to build, or when that model is
        missing or unusable (one log line says so).
        Pass an already loaded `embedder` (of the same model) to skip loading the model again."""
        settings = settings or Settings.from_env()
        say = progress or log.info
        documents = load_corpus(settings.corpus_dir, settings)
        builder = _torch_embedder(embedder, settings)  # the model loads on first use only
        expected = expected_inputs(documents, settings, model_name(settings.model_path))
        if settings.backend == "milvus":
            return cls._load_milvus(settings, documents, builder, expected, say, rebuild, model)
        index = None if rebuild else _try_load(settings, expected, say)
        encoder = None if index is None else _query_encoder(index, builder, settings, say)
        if index is None or encoder is None:
            index = _build(documents, builder, settings, expected, say, force=rebuild)
            # The build said in one line which embeds questions; a fresh build fits the model.
            encoder = _query_encoder(index, builder, settings, say=lambda _m: None) or builder
        return cls(settings, index, encoder, model)

    @classmethod
    def _load_milvus(cls, settings: Settings, documents: list, builder: Embedder, expected: dict,
                     say: Callable[[str], None], rebuild: bool, model: AnswerModel | None) -> "Engine":
        """The index from Milvus (QA_BACKEND=milvus), built there when missing or stale; see qa.milvus_store."""
        from qa.milvus_store import open_index

        index, backend = open_index(documents, builder, settings, expected, say, force=rebuild)
        encoder = _query_encoder(index, builder, settings, say)
        if encoder is None:  # its vectors do not fit the model's
            index, backend = open_index(documents, builder, settings, expected, say, force=True)
            encoder = _query_encoder(index, builder, settings, say=lambda _m: None) or builder
        return cls(settings, index, encoder, model, backend)

    @property
    def documents(self) -> tuple[Document, ...]:
        """The corpus documents as indexed (source, title, text): every citation's offsets point
        into one of these texts, so this is what a reader checks a quote against."""
        return tuple(self.index.documents)

    def document(self, source: str) -> Document:
        """The indexed document whose `source` a citation names."""
        for document in self.index.documents:
            if document.source == source:
                return document
        raise CorpusError(f"No document {source!r} in the index. Known: {', '.join(d.source for d in self.index.documents)}.")

    def candidates(self, question: str, history: Sequence[str] = (), k: int | None = None,
                   retriever: str | None = None, resolve_follow_ups: bool | None = None,
                   sources: Sequence[str] | None = None) -> Candidates:
        """Everything the answer model weighs for one question, before it decides: the analysed
        question, the candidate pool and each candidate's features. `qa train` learns from these.
        Raises QuestionInvalid for an empty or over-long question, before any model work."""
        found = self.candidates_many([Question(question, history, k, sources)], retriever, resolve_follow_ups)[0]
        if isinstance(found, QuestionInvalid):
            raise found
        return found

    def candidates_many(self, questions: Sequence[Question], retriever: str | None = None,
                        resolve_follow_ups: bool | None = None) -> list[Candidates | QuestionInvalid]:
        """`candidates` for many questions, with the texts of all of them embedded in one encode:
        on this machine ONNX takes about 5 ms for one question alone and 3.5 ms each in a batch of
        8 to 16. Each is then retrieved and featured on its own, as `candidates` does. A bad
        question gets its QuestionInvalid in its place and does not stop the others. A question's
        embed time is its own analysis and BM25 legs plus its share of the one encode."""
        prepared: list[tuple[_Prepared, float] | QuestionInvalid] = []  # with the ms its analysis took
        for q in questions:
            started = time.perf_counter()
            try:
                one = self._prepare(q.text, q.history, q.k, retriever, resolve_follow_ups, q.sources)
            except QuestionInvalid as exc:
                prepared.append(exc)
                continue
            prepared.append((one, 1000 * (time.perf_counter() - started)))
        ready = [p for p in prepared if not isinstance(p, QuestionInvalid)]
        if not ready:
            return list(prepared)  # type: ignore[arg-type]  # every question was refused
        started = time.perf_counter()
        vectors = self.embedder.encode([text for one, _ms in ready for text in one.texts])
        share_ms = 1000 * (time.perf_counter() - started) / len(ready)
        results: list[Candidates | QuestionInvalid] = []
        row = 0
        for p in prepared:
            if isinstance(p, QuestionInvalid):
                results.append(p)
                continue
            one, analysis_ms = p
            results.append(self._candidates_from(one, vectors[row:row + len(one.texts)], analysis_ms + share_ms))
            row += len(one.texts)
        return results

    def ask_many(self, questions: Sequence[Question], retriever: str | None = None,
                 resolve_follow_ups: bool | None = None) -> list[Answer | QuestionInvalid]:
        """`ask` for many questions, embedded together (`candidates_many`); each answer is the one
        `ask` gives alone. A bad question gets its QuestionInvalid in its place."""
        return [found if isinstance(found, QuestionInvalid) else self.decide(found)
                for found in self.candidates_many(questions, retriever, resolve_follow_ups)]

    def _prepare(self, question: str, history: Sequence[str], k: int | None, retriever: str | None,
                 resolve_follow_ups: bool | None, sources: Sequence[str] | None = None) -> _Prepared:
        """The checked and analysed question, and the texts to embed for it. No model work."""
        s = self.settings
        text = clean_question(question, s.max_question_chars)
        k = s.top_k if k is None else k
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise QuestionInvalid(f"k must be a whole number of at least 1, got {k!r}.")
        mode = retriever or s.retriever
        if mode not in RETRIEVERS:
            raise QuestionInvalid(f"retriever must be one of {', '.join(RETRIEVERS)}, got {mode!r}.")
        chosen = self.chosen_sources(sources)
        resolving = s.resolve_followups if resolve_follow_ups is None else resolve_follow_ups
        answered = ((lambda asked, earlier: self._answered_name(asked, earlier, k, mode, chosen))
                    if s.pronouns_for_answers else None)
        query = analyse(text, _clean_history(history, s), self.index.names, self.index.stems, self.question_words,
                        resolving, self._as_corpus_words, answered)
        # Only the question and its unknown names are embedded: each extra text costs about as
        # much as the question itself. Other words take their vectors from the index vocabulary;
        # a word the corpus never uses has none, and counts as absent from every sentence.
        return self._prepared(query, k, mode, chosen)

    def _prepared(self, query: Query, k: int, mode: str, sources: frozenset[str] | None) -> _Prepared:
        """The analysed question with its BM25 hits, which need no embedding (`lexical_hits`)."""
        s = self.settings
        lexical = lexical_hits(legs_for(self.index, self.backend, sources), query.searched_for,
                               depth=max(s.candidates, k), sentence_hits=s.pool_sentence_hits, mode=mode)
        return _Prepared(query, k, mode, lexical, sources)

    def _answered_name(self, question: str, earlier: tuple[str, ...], k: int, mode: str,
                       sources: frozenset[str] | None) -> str | None:
        """The name the article answers an earlier question with ("China" for "Who leads the
        race?"), as `ask` answered it then, or None when it declined or names no one new. The
        earlier question is resolved against its own history, but not through answers again."""
        s = self.settings
        query = analyse(question, earlier, self.index.names, self.index.stems, self.question_words,
                        s.resolve_followups, self._as_corpus_words)
        prepared = self._prepared(query, k, mode, sources)
        answer = self.decide(self._candidates_from(prepared, self.embedder.encode(prepared.texts), 0.0))
        if answer.abstained or not answer.citations:
            return None
        first = answer.citations[0]
        chunk = self.index.chunks[self.index.chunk_row(first.chunk_id)]
        sid = next((i for i in chunk.sentence_ids if self.index.sentences[i].start == first.start), None)
        before = self.index.neighbour(sid, -1) if sid is not None else None
        return name_answering(query.searched_for, first.quote, before.text if before else "", self.index.names)

    def _as_corpus_words(self, text: str) -> str:
        """The user's words read as the corpus writes them: numbered names, short years,
        percentages, units, titles and months, typing slips, initialisms, and names the corpus
        writes as initialisms."""
        text = forms_as_written(self.numbered.as_written(text), self.question_words, self.index.stems)
        return self.acronyms.abbreviate(self.acronyms.expand(self.speller.correct(text)))

    def chosen_sources(self, sources: Sequence[str] | None) -> frozenset[str] | None:
        """The documents a question is restricted to, as citations name them (None: all), read
        from what the user typed (`documents_named`). Raises QuestionInvalid for a name that
        is no document or could be several."""
        if not sources:
            return None
        if isinstance(sources, str):
            sources = [sources]
        chosen, problems = set(), []
        for name in sources:
            found = documents_named(self.index.documents, name)
            if len(found) == 1:
                chosen.add(found[0].source)
            elif found:
                problems.append(f"{name!r} could be any of {', '.join(d.source for d in found)}: give its path")
            else:
                problems.append(f"No document {name!r} in the index")
        if problems:
            known = sorted(d.source for d in self.index.documents)
            raise QuestionInvalid(f"{'. '.join(problems)}. Known: {', '.join(known)}.")
        return frozenset(chosen)

    def _candidates_from(self, prepared: _Prepared, vectors: np.ndarray, embed_ms: float) -> Candidates:
        """The rest of `candidates`, given the vectors of `prepared.texts`."""
        s, query, k = self.settings, prepared.query, prepared.k
        embedded = time.perf_counter()
        word_vectors = _word_vectors(query, vectors[1:], self.index)
        pool = search(self.index, vectors[0], prepared.lexical, depth=max(s.candidates, k), rrf_k=s.rrf_k,
                      mode=prepared.mode, pool_passages=max(s.pool_passages, k), sentence_hits=s.pool_sentence_hits,
                      backend=self.backend, sources=prepared.sources)
        retrieved = time.perf_counter()
        missing = missing_names(query, vectors[1:], self.index, s.unknown_term_similarity)
        rows = {row for sid in pool.sentences for row in self.index.sentence_chunks(sid)}
        similarity = chunk_similarity(self.index, rows, vectors[0])
        features = feature_matrix(query=query, query_vector=vectors[0], word_vectors=word_vectors,
                                  missing_names=len(missing), pool=pool, index=self.index, chunk_similarity=similarity)
        featured = time.perf_counter()
        return Candidates(query=query, k=k, pool=pool, features=features, missing_names=missing,
                          chunk_similarity=similarity, sources=prepared.sources,
                          timings_ms={"embed": embed_ms, "retrieve": 1000 * (retrieved - embedded),
                                      "features": 1000 * (featured - retrieved)})

    def ask(self, question: str, history: Sequence[str] = (), k: int | None = None,
            retriever: str | None = None, resolve_follow_ups: bool | None = None,
            sources: Sequence[str] | None = None) -> Answer:
        """Answer from the corpus, or abstain. `history` holds the earlier user turns, oldest first;
        `sources` restricts the answer to those documents (their `source`, as citations name them).
        Raises QuestionInvalid for an empty or over-long question, before any model work."""
        started = time.perf_counter()
        found = self.candidates(question, history, k, retriever, resolve_follow_ups, sources)
        answering = time.perf_counter()
        return self.decide(found, started=started, answering=answering)

    @property
    def abstain_threshold(self) -> float:
        """The threshold in force: QA_ABSTAIN_THRESHOLD when set, else the one the model was tuned with."""
        return self.model.abstain_threshold if self.settings.abstain_threshold is None else self.settings.abstain_threshold

    def decide(self, found: Candidates, model: AnswerModel | None = None, threshold: float | None = None,
               started: float | None = None, answering: float | None = None) -> Answer:
        """The answer the model (the engine's, unless another is given) makes of the candidates,
        abstaining below `threshold` (default: the one in force; 0 never abstains for confidence)."""
        model = model or self.model
        if threshold is None:
            threshold = model.abstain_threshold if model is not self.model else self.abstain_threshold
        answering = answering or time.perf_counter()
        scoring = Scoring(found.pool, found.features, model.sentence_logits(found.features), found.missing_names,
                          found.chunk_similarity)
        passages = rank_passages(scoring, self.index, found.k)
        composed = compose(query=found.query, scoring=scoring, passages=passages, index=self.index, model=model,
                           settings=self.settings, threshold=threshold, sources=found.sources)
        done = time.perf_counter()
        timings = dict(found.timings_ms, answer=1000 * (done - answering))
        timings["total"] = 1000 * (done - started) if started is not None else sum(timings.values())
        return Answer(
            question=found.query.question, searched_for=found.query.searched_for, text=composed.text,
            abstained=composed.abstained, confidence=composed.confidence, citations=composed.citations,
            passages=tuple(passages), reason=composed.reason, timings_ms=timings,
        )


@dataclass(frozen=True)
class Question:
    """One question as `Engine.ask` takes it, for answering many at once (`Engine.ask_many`)."""
    text: str
    history: Sequence[str] = ()
    k: int | None = None
    sources: Sequence[str] | None = None  # restrict the answer to these documents


@dataclass(frozen=True)
class _Prepared:
    """A checked and analysed question, waiting for the vectors of `texts`: the searched-for
    question first, then the names the corpus never uses. Its BM25 legs have run."""
    query: Query
    k: int
    mode: str
    lexical: Lexical
    sources: frozenset[str] | None = None

    @property
    def texts(self) -> list[str]:
        return [self.query.searched_for, *self.query.unknown_names]


@dataclass(frozen=True)
class Candidates:
    query: Query
    k: int
    pool: Pool
    features: np.ndarray  # one row per pool sentence, columns in qa.features.FEATURES order
    missing_names: tuple[str, ...]
    chunk_similarity: dict[int, float]
    timings_ms: dict[str, float]
    sources: frozenset[str] | None = None  # the documents the question is limited to (None: all)


def _word_vectors(query: Query, name_vectors: np.ndarray, index: Index) -> tuple[list[str], np.ndarray]:
    """The question's content words, each with a vector: from the index vocabulary, or the
    embedding of the unknown name it is; zeros for a word the corpus never uses."""
    question_words = list(dict.fromkeys(content_words(query.searched_for)))
    named = {name.lower(): vector for name, vector in zip(query.unknown_names, name_vectors)}
    vectors = np.zeros((len(question_words), index.vocabulary_vectors.shape[1]), dtype=np.float32)
    for row, word in enumerate(question_words):
        if word in index.word_row:
            vectors[row] = index.vocabulary_vectors[index.word_row[word]]
        elif word in named:
            vectors[row] = named[word]
    return question_words, vectors


def _clean_history(history: Sequence[str], settings: Settings) -> tuple[str, ...]:
    """Earlier turns as usable text: non-text and empty turns dropped, control characters and
    lone surrogates blanked as in a question, each cut to the question limit."""
    if isinstance(history, str):
        history = [history]
    turns = [" ".join(printable(str(h)[: settings.max_question_chars]).split())
             for h in (history or ()) if isinstance(h, str)]
    turns = [t for t in turns if t]
    return tuple(turns[-settings.max_history_turns:]) if settings.max_history_turns else ()


def _apply_search_settings(index: Index, settings: Settings) -> None:
    """efSearch is a search-time knob of HNSW indexes: set it from the settings in force."""
    for vectors in (index.chunk_vectors, index.sentence_index):
        hnsw = getattr(vectors, "hnsw", None)
        if hnsw is not None:
            hnsw.efSearch = settings.hnsw_ef_search


def _torch_embedder(given: Encoder | None, settings: Settings) -> Embedder:
    """The torch model that builds the index and is the fallback, not loaded until used. A
    given encoder of the configured model is reused: a torch one as it is, an ONNX one through
    the torch embedder of the engine it came from."""
    candidate = given if isinstance(given, Embedder) else getattr(given, "torch_embedder", None)
    if isinstance(candidate, Embedder) and candidate.path == resolve_model_path(settings.model_path):
        return candidate
    return Embedder(settings.model_path, settings.torch_threads, settings.embed_batch_size)


def _query_encoder(index: Index, builder: Embedder, settings: Settings, say: Callable[[str], None]) -> Encoder | None:
    """What embeds questions: the index's checked ONNX model, so that asking never imports
    torch; else the torch model. None when its vectors do not fit the index (it must be rebuilt)."""
    encoder: Encoder = builder
    if settings.onnx:
        try:
            onnx = _onnx_encoder(index, settings)
            onnx.torch_embedder = builder
            encoder = onnx
        except QueryModelUnavailable as exc:
            say(f"Embedding questions with torch, which loads slowly: no usable ONNX model ({exc})")
    if encoder.dim != index.manifest.get("dim"):
        say(f"Rebuilding the index: it holds {index.manifest.get('dim')}-d vectors, the model makes {encoder.dim}-d")
        return None
    return encoder


def _onnx_encoder(index: Index, settings: Settings) -> "OnnxEncoder":
    from qa.onnx_model import OnnxEncoder

    spec = index.manifest.get("onnx")
    if not isinstance(spec, dict) or not spec.get("available"):
        raise QueryModelUnavailable((spec.get("reason") if isinstance(spec, dict) else None) or "the index holds none")
    threads, batch = settings.torch_threads, settings.embed_batch_size
    if index.location is None:  # a build held in memory: its folder could not be written
        return OnnxEncoder.from_files(index.onnx_files, spec, threads, batch)
    return OnnxEncoder.from_build(index.location, spec, threads, batch)


def _try_load(settings: Settings, expected: dict, say: Callable[[str], None]) -> Index | None:
    try:
        return load_index(settings.index_dir, expected)
    except IndexMissing:
        say(f"No index in {settings.index_dir} yet: building it")
    except (IndexStale, IndexCorrupt) as exc:
        say(f"Rebuilding the index: {exc.reason}")
    return None


def _build(documents: list, embedder: Embedder, settings: Settings, expected: dict,
           say: Callable[[str], None], force: bool) -> Index:
    """Build under the cross-process lock. A process that waited for another's build reuses
    it. When the index folder cannot be written, the engine answers from memory and says so."""
    from filelock import Timeout

    try:
        lock = build_lock(settings.index_dir)
        lock.acquire()
    except Timeout:  # a TimeoutError, so an OSError too: catch it first, it is not a permissions problem
        say(f"Another build of {settings.index_dir} is still running after {lock.timeout:.0f} s; "
            "answering from an in-memory index")
        return build_index(documents, embedder, settings, progress=say)
    except OSError as exc:
        say(f"Cannot write to {settings.index_dir} ({exc.strerror or exc}); answering from an in-memory index")
        return build_index(documents, embedder, settings, progress=say)
    try:
        previous = None
        if not force:
            try:
                index = load_index(settings.index_dir, expected, embedder.dim)
                say("Another process built the index meanwhile: using it")
                return index
            except IndexStale:  # sound but out of date: its vectors are reused where its texts recur
                previous = _previous_build(settings, say)
            except (IndexMissing, IndexCorrupt):
                pass
        started = time.perf_counter()
        index = build_index(documents, embedder, settings, progress=say, previous=previous)
        try:
            where = save_index(index, settings.index_dir)
            say(f"Built the index in {time.perf_counter() - started:.1f} s: {where}")
        except OSError as exc:
            say(f"Cannot write the index to {settings.index_dir} ({exc.strerror or exc}); answering from an in-memory index")
        return index
    finally:
        lock.release()


def _previous_build(settings: Settings, say: Callable[[str], None]) -> Index | None:
    """The out-of-date current build, for a rebuild to reuse its vectors; None, with one line
    when it is damaged (the rebuild then embeds everything)."""
    try:
        return load_current_build(settings.index_dir)
    except (IndexStale, IndexMissing):  # another index format (the rebuild said so), or swept away: nothing to reuse
        return None
    except IndexCorrupt as exc:
        say(f"Embedding everything afresh: the previous build cannot be reused ({exc.reason})")
        return None


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The one engine of this process, loaded on first use and shared by app, CLI and tests."""
    return Engine.load(Settings.from_env())


def documents_named(documents: Sequence[Document], name: object) -> list[Document]:
    """The indexed documents a user may mean by `name`, for `sources` and `qa source`: the one
    cited as `name`, or the same file by another spelling (./corpus/x.md, an absolute path);
    failing that, every document whose path ends with `name` (uploads/notes.txt, or a bare file
    name). One match is the document; more than one, the caller asks which."""
    if not isinstance(name, str) or not name.strip():
        return []
    try:
        spellings = {name, display_path(Path(name))}
    except (OSError, ValueError):  # a null byte or a path the system cannot resolve: no other spelling
        spellings = {name}
    exact = [d for d in documents if d.source in spellings]
    parts = Path(name).parts
    return exact or [d for d in documents if Path(d.source).parts[-len(parts):] == parts]
