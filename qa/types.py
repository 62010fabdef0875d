"""Plain data passed between the stages. Every text span carries its source file and
character offsets, so any quote can be checked against the file it came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph or list item of a corpus file, under its heading path."""

    source: str  # corpus file path, relative to the project root when possible
    headings: tuple[str, ...]  # heading path, outermost first (the title included)
    text: str
    start: int
    end: int
    page: int | None = None  # 1-based page of a PDF block; None for formats without pages


@dataclass(frozen=True, slots=True)
class Document:
    source: str
    title: str
    # What offsets index into: the file's exact text for .md/.txt, the text extracted from it
    # for .pdf/.html/.docx (`qa source` prints it).
    text: str
    sha256: str  # of the file's bytes, so changing a PDF makes the index stale
    blocks: tuple[Block, ...]
    # Offset in `text` where each page starts (page n at page_starts[n - 1]); empty without pages.
    page_starts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Sentence:
    id: int  # position in the index's sentence table
    source: str
    section: str
    text: str
    start: int
    end: int
    paragraph: int = 0  # running number of its paragraph in the corpus: its neighbours share it
    page: int | None = None  # the page of its block (PDF only)


@dataclass(frozen=True, slots=True)
class Chunk:
    id: str  # "battery-race/china-2": stable across rebuilds, so eval labels survive
    source: str
    section: str
    text: str  # exact file text from start to end
    start: int
    end: int
    sentence_ids: tuple[int, ...]
    embed_text: str  # what the model reads: section heading + text, within its token limit
    page: int | None = None  # the page of its first sentence (PDF only; chunks avoid crossing pages)


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with the evidence for its rank."""

    chunk: Chunk
    rank: int  # 1-based
    score: float  # what it is ranked by: the answer model's probability for its best sentence
    fused_score: float | None  # reciprocal-rank-fusion score of the three legs, None outside the fused list
    dense_score: float | None  # best cosine of its dense keys, None when not computed
    bm25_score: float | None  # BM25 score, None when the lexical leg did not return it

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "chunk_id": self.chunk.id,
            "source": self.chunk.source,
            "section": self.chunk.section,
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "page": self.chunk.page,
            "score": round(self.score, 6),
            "fused_score": None if self.fused_score is None else round(self.fused_score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "bm25_score": None if self.bm25_score is None else round(self.bm25_score, 6),
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """One quoted sentence of an answer and the passage that holds it."""

    n: int  # the marker number, [n] in the answer text
    chunk_id: str
    source: str
    section: str
    quote: str  # exact file text from start to end
    start: int
    end: int
    passage: str  # the whole chunk text, for context
    passage_start: int  # offset of the passage in the file: quote sits at start - passage_start
    score: float  # the sentence's relevance score
    page: int | None = None  # 1-based page of the quoted sentence in a PDF; None for other formats

    def matches(self, text: str) -> bool:
        """Whether this citation is grounded in `text`, its source document's text: the quote is
        the text at its offsets, and the passage is the text at its own offset and holds the quote."""
        passage_end = self.passage_start + len(self.passage)
        return (text[self.start:self.end] == self.quote
                and text[self.passage_start:passage_end] == self.passage
                and self.passage_start <= self.start and self.end <= passage_end)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = round(self.score, 6)
        return data


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    searched_for: str  # the question as resolved against the history; the question itself if no history was needed
    text: str  # quotes and [n] markers only, or the abstention message
    abstained: bool
    confidence: float
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]  # the retrieved passages; when abstaining, the closest ones (not citations)
    reason: str = ""  # why the engine abstained or how sure it is, in words
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "searched_for": self.searched_for,
            "answer": self.text,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "reason": self.reason,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
