"""Documents -> sentences and chunks.

Chunks are short on purpose: a citation is only useful if a reader can check it at a
glance. A section whose heading is a question (an FAQ entry) becomes one chunk with its
answer; other sections are cut into windows of a few sentences that overlap by one and
never cross a section, nor a PDF page (so a chunk has one page). Every embedded text stays
under the model's word-piece limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from qa.types import Block, Chunk, Document, Sentence

# Words that end with a period without ending the sentence. Initialisms such as "U.S." or
# "e.g." are caught by the pattern below; these are the single-word ones.
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc inc ltd co corp no vol fig approx dept est govt".split()
)
_INITIALISM = re.compile(r"(?:\b[A-Za-z]\.){2,}$")
# A sentence ends at . ! ? (or …), maybe followed by closing quotes or brackets, then space.
# After an initialism, these capitalised words still start a new sentence ("... in the U.S. The ...").
_SENTENCE_STARTERS = frozenset(
    "the this that these those it its they their there we our i he she a an in on at but and however "
    "as if when while what how why".split()
)
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+)")


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    start: int
    end: int


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentences of a block with their offsets. Does not split after abbreviations and
    initialisms ("U.S. companies"), inside decimals ("2.5"), or before a lowercase word."""
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if not _is_sentence_end(text, start, match.start(), end):
            continue
        _append(spans, text, start, end, offset)
        start = end
    _append(spans, text, start, len(text), offset)
    return spans


def cut_long(spans: list[Span], max_chars: int, fits: Callable[[str], bool]) -> list[Span]:
    """Each span, or, when it is longer than `max_chars` or does not `fit`, its parts: a
    transcript without full stops, a legal clause of a page, or text in a script written
    without spaces would otherwise be one "sentence", cited whole and embedded cut short
    (all-MiniLM-L6-v2 drops what follows its 256th word piece). A part ends at the last
    clause mark (; : , or a dash) in its second half, else at the last space there, else
    at the limit itself."""
    parts: list[Span] = []
    for span in spans:
        rest = span
        while len(rest.text) > max_chars or not fits(rest.text):
            limit = min(max_chars, len(rest.text) - 1)
            cut = _cut_point(rest.text, limit)
            while cut > 1 and not fits(rest.text[:cut]):
                cut = _cut_point(rest.text, cut // 2)
            head, tail = _split_span(rest, cut)
            if head is None or tail is None:  # nothing left to cut off: keep what there is
                break
            parts.append(head)
            rest = tail
        parts.append(rest)
    return parts


_CLAUSE_END = re.compile(r"[;:,]\s|\s[—–-]\s")


def _cut_point(text: str, limit: int) -> int:
    """Where to end a part of `text` no longer than `limit` characters."""
    floor = limit // 2
    clause_ends = [m.end() for m in _CLAUSE_END.finditer(text, floor, limit + 1) if m.end() <= limit]
    if clause_ends:
        return clause_ends[-1]
    space = text.rfind(" ", floor, limit + 1)
    return space if space > 0 else max(1, limit)


def _split_span(span: Span, cut: int) -> tuple[Span | None, Span | None]:
    """The span's text before and after `cut`, trimmed of spaces, with their offsets."""
    pieces: list[Span] = []
    _append(pieces, span.text[:cut], 0, cut, span.start)
    head = pieces[0] if pieces else None
    pieces = []
    _append(pieces, span.text, cut, len(span.text), span.start)
    tail = pieces[0] if pieces else None
    return head, tail


def _is_sentence_end(text: str, sent_start: int, punct_start: int, end: int) -> bool:
    following = text[end:].lstrip()
    if following and following[0].islower():
        return False
    if text[punct_start] == ".":
        word = text[sent_start:punct_start + 1].split()[-1] if text[sent_start:punct_start + 1].split() else ""
        next_word = following.split(maxsplit=1)[0].lower() if following else ""
        if _INITIALISM.search(word) and next_word not in _SENTENCE_STARTERS:
            return False
        if word[:-1].lower().strip("(\"'“‘") in ABBREVIATIONS:
            return False
    return True


def _append(spans: list[Span], text: str, start: int, end: int, offset: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append(Span(text[start:end], offset + start, offset + end))


def is_question_heading(heading: str) -> bool:
    return heading.rstrip().endswith("?")


def section_name(headings: tuple[str, ...]) -> str:
    """The heading path below the title ("Frequently Asked Questions > How do ...?"), or the title."""
    return " > ".join(headings[1:]) if len(headings) > 1 else headings[0]


def slugify(text: str, max_words: int = 6) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())[:max_words]
    return "-".join(words) or "section"


def chunk_documents(
    documents: Iterable[Document],
    window: int,
    overlap: int,
    fits: Callable[[str], bool] = lambda _text: True,
    max_chars: int = 10_000,
    max_sentence_chars: int = 10_000,
) -> tuple[list[Sentence], list[Chunk]]:
    """All sentences and chunks of the corpus. Windows of up to `window` sentences and
    `max_chars` characters (a longer sentence stands alone) never cross a paragraph, so a
    passage reads as one piece; a run of one-sentence blocks (a list) counts as one paragraph.
    `fits` tells whether an embedded text is within the model's limit; windows that do not
    fit are cut further, down to one sentence. A sentence longer than `max_sentence_chars`,
    or that does not fit alone under its heading, is cut into parts that do (`cut_long`)."""
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    paragraph = 0
    for doc in documents:
        prefixes: set[str] = set()
        for headings, blocks in _sections(doc.blocks):
            section = section_name(headings)
            heading = headings[-1]
            fits_under = _fits_under(heading, fits)
            groups: list[list[Sentence]] = []
            for unit in _paragraphs(blocks):
                members = []
                for block in unit:
                    for span in cut_long(split_sentences(block.text, block.start), max_sentence_chars, fits_under):
                        members.append(Sentence(len(sentences), doc.source, section, span.text, span.start, span.end,
                                                paragraph=paragraph, page=block.page))
                        sentences.append(members[-1])
                paragraph += 1
                # a window never spans two pages, so its citation names one page
                groups.extend(g for run in _page_runs(members) for g in _windows(run, window, overlap, max_chars))
            fitted = [g for group in groups for g in _fit(doc, heading, group, fits)]
            prefix = _unique(_slug_prefix(doc, headings), prefixes)
            for n, group in enumerate(fitted, 1):
                chunk_id = prefix if len(fitted) == 1 else f"{prefix}-{n}"
                chunks.append(_make_chunk(doc, chunk_id, section, heading, group))
    return sentences, chunks


def _fits_under(heading: str, fits: Callable[[str], bool]) -> Callable[[str], bool]:
    """Whether a sentence fits the model alone and, when the heading leaves room for it (takes
    at most half the limit), under its heading too, as its chunk embeds it. A heading that
    fills the limit by itself must not cut its section's sentences to nothing."""
    if fits(_embed_text(heading, heading)):
        return lambda text: fits(_embed_text(heading, text))
    return fits


def _paragraphs(blocks: list[Block]) -> list[list[Block]]:
    """Blocks grouped into paragraphs: each block of several sentences alone, and each run of
    one-sentence blocks (list items, short lines) together."""
    units: list[list[Block]] = []
    for block in blocks:
        if _one_sentence(block) and units and all(_one_sentence(b) for b in units[-1]):
            units[-1].append(block)
        else:
            units.append([block])
    return units


def _one_sentence(block: Block) -> bool:
    return len(split_sentences(block.text)) <= 1


def _page_runs(members: list[Sentence]) -> list[list[Sentence]]:
    """Consecutive sentences on the same page (one run for formats without pages)."""
    runs: list[list[Sentence]] = []
    for sentence in members:
        if runs and runs[-1][-1].page == sentence.page:
            runs[-1].append(sentence)
        else:
            runs.append([sentence])
    return runs


def _unique(prefix: str, taken: set[str]) -> str:
    """A chunk-id prefix no earlier section of the document has: two sections both headed
    "Overview" give "report/overview" and "report/overview-part2"."""
    candidate, n = prefix, 1
    while candidate in taken:
        n += 1
        candidate = f"{prefix}-part{n}"
    taken.add(candidate)
    return candidate


def _sections(blocks: Iterable[Block]) -> list[tuple[tuple[str, ...], list[Block]]]:
    sections: list[tuple[tuple[str, ...], list[Block]]] = []
    for block in blocks:
        if sections and sections[-1][0] == block.headings:
            sections[-1][1].append(block)
        else:
            sections.append((block.headings, [block]))
    return sections


def _slug_prefix(doc: Document, headings: tuple[str, ...]) -> str:
    """"battery-race/china": the file's stem and the section's heading; "intro" for text under
    the title alone. A top-level section that is not the title (a Word "Heading 1" under a
    "Title", a second h1) is named after its own heading, so ids stay distinct."""
    stem = doc.source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    name = "intro" if headings == (doc.title,) else slugify(headings[-1])
    return f"{slugify(stem)}/{name}"


def _windows(members: list[Sentence], size: int, overlap: int, max_chars: int) -> list[list[Sentence]]:
    """Consecutive windows of up to `size` sentences and `max_chars` characters, each sharing
    `overlap` sentences with the one before (when that still moves the window on)."""
    groups: list[list[Sentence]] = []
    start = 0
    while start < len(members):
        end = start + 1
        while end < len(members) and end - start < size and members[end].end - members[start].start <= max_chars:
            end += 1
        groups.append(members[start:end])
        if end >= len(members):
            break
        start = end - overlap if end - overlap > start else end
    return groups


def _fit(doc: Document, heading: str, group: list[Sentence], fits: Callable[[str], bool]) -> list[list[Sentence]]:
    """Halve a window until each part's embedded text fits the model (one sentence always stays)."""
    if len(group) == 1 or fits(_embed_text(heading, doc.text[group[0].start:group[-1].end])):
        return [group]
    middle = len(group) // 2
    return _fit(doc, heading, group[:middle], fits) + _fit(doc, heading, group[middle:], fits)


def _embed_text(heading: str, text: str) -> str:
    return f"{heading}\n{text}"


def _make_chunk(doc: Document, chunk_id: str, section: str, heading: str, group: list[Sentence]) -> Chunk:
    start, end = group[0].start, group[-1].end
    text = doc.text[start:end]
    return Chunk(
        id=chunk_id, source=doc.source, section=section, text=text, start=start, end=end,
        sentence_ids=tuple(s.id for s in group), embed_text=_embed_text(heading, text), page=group[0].page,
    )

